#include "platform/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace berth::agent::platform {
namespace {

struct DirCloser {
  void operator()(DIR* dir) const { closedir(dir); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

}  // namespace

absl::Status OsError(int err, const std::string& context) {
  std::string message = absl::StrCat(context, ": ", std::strerror(err));
  switch (err) {
    case EOPNOTSUPP:
    case ENOTTY:
    case EXDEV:
    case EROFS:
      return absl::FailedPreconditionError(message);
    default:
      return absl::Status(absl::ErrnoToStatusCode(err), message);
  }
}

absl::StatusOr<UniqueFd> OpenPath(const std::string& path, int flags, mode_t mode) {
  return OpenAt(AT_FDCWD, path, flags, mode, path);
}

absl::StatusOr<UniqueFd> OpenAt(int dir_fd, const std::string& name, int flags, mode_t mode,
                                const std::string& what) {
  int fd;
  do {
    fd = ::openat(dir_fd, name.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return OsError(errno, absl::StrCat("open ", what));
  return UniqueFd(fd);
}

absl::StatusOr<struct stat> StatFd(int fd, const std::string& what) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return OsError(errno, absl::StrCat("stat ", what));
  return st;
}

absl::StatusOr<struct stat> StatPath(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return OsError(errno, absl::StrCat("stat ", path));
  return st;
}

absl::Status SyncFd(int fd, const std::string& what) {
  if (::fsync(fd) != 0) return OsError(errno, absl::StrCat("fsync ", what));
  return absl::OkStatus();
}

absl::Status SyncDir(const std::string& dir) {
  absl::StatusOr<UniqueFd> fd = OpenPath(dir, O_RDONLY | O_DIRECTORY);
  if (!fd.ok()) return fd.status();
  return SyncFd(fd->get(), dir);
}

absl::Status Truncate(int fd, uint64_t size, const std::string& what) {
  if (size > static_cast<uint64_t>(LLONG_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat("size ", size, " of ", what, " is too large"));
  }
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    return OsError(errno, absl::StrCat("truncate ", what, " to ", size, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status ChangeMode(int fd, mode_t mode, const std::string& what) {
  if (::fchmod(fd, mode) != 0) return OsError(errno, absl::StrCat("chmod ", what));
  return absl::OkStatus();
}

absl::Status MakeDir(const std::string& path, mode_t mode, bool exist_ok) {
  if (::mkdir(path.c_str(), mode) == 0) return absl::OkStatus();
  int err = errno;
  if (err == EEXIST && exist_ok) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return absl::OkStatus();
  }
  return OsError(err, absl::StrCat("mkdir ", path));
}

absl::Status MakeDirs(const std::string& path, mode_t mode) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    absl::Status status = MakeDir(path.substr(0, pos), mode, /*exist_ok=*/true);
    if (!status.ok()) return status;
  }
  return MakeDir(path, mode, /*exist_ok=*/true);
}

absl::Status RenameNoReplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    return OsError(errno, absl::StrCat("rename ", from, " to ", to));
  }
  return absl::OkStatus();
}

absl::Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return OsError(errno, absl::StrCat("unlink ", path));
  return absl::OkStatus();
}

absl::Status RemoveDir(const std::string& path) {
  if (::rmdir(path.c_str()) != 0) return OsError(errno, absl::StrCat("rmdir ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  UniqueDir handle(::opendir(dir.c_str()));
  if (handle == nullptr) return OsError(errno, absl::StrCat("opendir ", dir));
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* entry = ::readdir(handle.get())) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
    errno = 0;
  }
  if (errno != 0) return OsError(errno, absl::StrCat("readdir ", dir));
  return names;
}

absl::StatusOr<std::string> RealPath(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(path.c_str(), nullptr),
                                                       &std::free);
  if (resolved == nullptr) return OsError(errno, absl::StrCat("realpath ", path));
  return std::string(resolved.get());
}

absl::Status MakeSymlink(const std::string& target, const std::string& path) {
  if (::symlink(target.c_str(), path.c_str()) != 0) {
    return OsError(errno, absl::StrCat("symlink ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadSymlink(const std::string& path) {
  std::string target(PATH_MAX, '\0');
  ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
  if (n < 0) return OsError(errno, absl::StrCat("readlink ", path));
  target.resize(static_cast<size_t>(n));
  return target;
}

absl::Status LockExclusive(int fd, const std::string& what) {
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return absl::OkStatus();
  int err = errno;
  if (err == EWOULDBLOCK) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " is locked by another open pool (one owner per pool)"));
  }
  return OsError(err, absl::StrCat("flock ", what));
}

std::string DirName(const std::string& path) {
  size_t pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

std::string BaseName(const std::string& path) {
  size_t pos = path.find_last_of('/');
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

}  // namespace berth::agent::platform
