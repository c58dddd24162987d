#include "storage/sparse_copy.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "platform/files.h"

namespace berth::agent {
namespace {

constexpr size_t kChunkBytes = 1 << 20;
// Zero detection granularity: the filesystem block size on every pool we support.
constexpr size_t kBlockBytes = 4096;

bool IsZero(const char* data, size_t size) {
  return size == 0 || (data[0] == 0 && std::memcmp(data, data + 1, size - 1) == 0);
}

absl::Status WriteAll(int fd, const char* data, size_t size, off_t offset,
                      const std::string& what) {
  while (size > 0) {
    ssize_t n = ::pwrite(fd, data, size, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return platform::OsError(errno, absl::StrCat("write ", what, " at offset ", offset));
    }
    data += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return absl::OkStatus();
}

// Writes the non-zero blocks of `buf[0, size)` to `fd` at `offset`.
absl::Status WriteNonZero(int fd, const char* buf, size_t size, off_t offset,
                          const std::string& what) {
  size_t pos = 0;
  while (pos < size) {
    size_t run_start = pos;
    while (run_start < size && IsZero(buf + run_start, std::min(kBlockBytes, size - run_start))) {
      run_start += kBlockBytes;
    }
    if (run_start >= size) break;
    size_t run_end = run_start;
    while (run_end < size && !IsZero(buf + run_end, std::min(kBlockBytes, size - run_end))) {
      run_end += kBlockBytes;
    }
    run_end = std::min(run_end, size);
    absl::Status status =
        WriteAll(fd, buf + run_start, run_end - run_start, offset + run_start, what);
    if (!status.ok()) return status;
    pos = run_end;
  }
  return absl::OkStatus();
}

absl::Status CopyRange(int src_fd, int dst_fd, off_t begin, off_t end, char* buf,
                       const std::string& what) {
  off_t offset = begin;
  while (offset < end) {
    size_t want = static_cast<size_t>(std::min<off_t>(end - offset, kChunkBytes));
    ssize_t n = ::pread(src_fd, buf, want, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return platform::OsError(errno, absl::StrCat("read ", what, " at offset ", offset));
    }
    if (n == 0) {
      return absl::AbortedError(
          absl::StrCat("copy ", what, ": source shrank to ", offset, " bytes during the copy"));
    }
    absl::Status status = WriteNonZero(dst_fd, buf, static_cast<size_t>(n), offset, what);
    if (!status.ok()) return status;
    offset += n;
  }
  return absl::OkStatus();
}

// Returns the next data offset at or after `offset`, or `size` when only a hole remains.
absl::StatusOr<off_t> NextData(int fd, off_t offset, off_t size, const std::string& what) {
  off_t data = ::lseek(fd, offset, SEEK_DATA);
  if (data >= 0) return std::min(data, size);
  if (errno == ENXIO) return size;
  if (errno == EINVAL) return offset;  // no SEEK_DATA support: treat everything as data
  return platform::OsError(errno, absl::StrCat("seek data in ", what));
}

absl::StatusOr<off_t> NextHole(int fd, off_t offset, off_t size, const std::string& what) {
  off_t hole = ::lseek(fd, offset, SEEK_HOLE);
  if (hole >= 0) return std::min(hole, size);
  if (errno == ENXIO || errno == EINVAL) return size;
  return platform::OsError(errno, absl::StrCat("seek hole in ", what));
}

}  // namespace

absl::Status SparseCopy(int src_fd, uint64_t src_size, int dst_fd, uint64_t dst_size,
                        const std::string& what) {
  if (dst_size < src_size) {
    return absl::InvalidArgumentError(absl::StrCat("copy ", what, ": destination size ", dst_size,
                                                   " is smaller than the source's ", src_size));
  }
  absl::Status status = platform::Truncate(dst_fd, dst_size, what);
  if (!status.ok()) return status;
  ::posix_fadvise(src_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::unique_ptr<char[]> buf(new char[kChunkBytes]);
  const off_t size = static_cast<off_t>(src_size);
  off_t offset = 0;
  while (offset < size) {
    absl::StatusOr<off_t> data = NextData(src_fd, offset, size, what);
    if (!data.ok()) return data.status();
    if (*data >= size) break;
    absl::StatusOr<off_t> hole = NextHole(src_fd, *data, size, what);
    if (!hole.ok()) return hole.status();
    status = CopyRange(src_fd, dst_fd, *data, *hole, buf.get(), what);
    if (!status.ok()) return status;
    offset = *hole;
  }
  return platform::SyncFd(dst_fd, what);
}

}  // namespace berth::agent
