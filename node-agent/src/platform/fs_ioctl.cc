#include "platform/fs_ioctl.h"

#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "platform/files.h"
#include "platform/unique_fd.h"

namespace berth::agent::platform {
namespace {

// Inode number of every btrfs subvolume's root directory (BTRFS_FIRST_FREE_OBJECTID).
constexpr ino_t kBtrfsSubvolumeRootIno = 256;
constexpr uint64_t kXfsMagic = 0x58465342;

std::string FilesystemName(uint64_t magic) {
  switch (magic) {
    case kXfsMagic:
      return "xfs";
    case BTRFS_SUPER_MAGIC:
      return "btrfs";
    case EXT4_SUPER_MAGIC:
      return "ext4";
    case TMPFS_MAGIC:
      return "tmpfs";
    case OVERLAYFS_SUPER_MAGIC:
      return "overlayfs";
    default:
      return absl::StrCat("0x", absl::Hex(magic));
  }
}

// Fills a btrfs name field, rejecting names the kernel would truncate.
absl::Status CopyName(const std::string& name, char* dst, size_t capacity) {
  if (name.empty() || name.size() >= capacity || name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("bad subvolume name '", name, "'"));
  }
  std::memcpy(dst, name.c_str(), name.size() + 1);
  return absl::OkStatus();
}

absl::Status ClearReadOnly(int parent_fd, const std::string& name, const std::string& what) {
  absl::StatusOr<UniqueFd> fd = OpenAt(parent_fd, name, O_RDONLY | O_DIRECTORY, 0, what);
  if (!fd.ok()) return fd.status();
  uint64_t flags = 0;
  if (::ioctl(fd->get(), BTRFS_IOC_SUBVOL_GETFLAGS, &flags) != 0) {
    return OsError(errno, absl::StrCat("get subvolume flags of ", what));
  }
  flags &= ~static_cast<uint64_t>(BTRFS_SUBVOL_RDONLY);
  if (::ioctl(fd->get(), BTRFS_IOC_SUBVOL_SETFLAGS, &flags) != 0) {
    return OsError(errno, absl::StrCat("clear read-only flag of subvolume ", what));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FilesystemInfo> GetFilesystemInfo(const std::string& path) {
  struct statfs fs;
  if (::statfs(path.c_str(), &fs) != 0) return OsError(errno, absl::StrCat("statfs ", path));
  struct statvfs vfs;
  if (::statvfs(path.c_str(), &vfs) != 0) return OsError(errno, absl::StrCat("statvfs ", path));
  FilesystemInfo info;
  info.magic = static_cast<uint64_t>(fs.f_type);
  info.name = FilesystemName(info.magic);
  info.capacity_bytes = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  info.available_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  return info;
}

bool IsBtrfs(const FilesystemInfo& info) { return info.magic == BTRFS_SUPER_MAGIC; }

bool IsOnXfs(int fd) {
  struct statfs fs;
  return ::fstatfs(fd, &fs) == 0 && static_cast<uint64_t>(fs.f_type) == kXfsMagic;
}

absl::Status CloneFile(int src_fd, int dst_fd, const std::string& what) {
  if (::ioctl(dst_fd, FICLONE, src_fd) != 0) {
    int err = errno;
    if (err == EINVAL || err == EOPNOTSUPP || err == ENOTTY || err == EXDEV) {
      return absl::FailedPreconditionError(
          absl::StrCat("reflink (FICLONE) ", what, ": ", std::strerror(err)));
    }
    return OsError(err, absl::StrCat("reflink (FICLONE) ", what));
  }
  return absl::OkStatus();
}

absl::Status CreateSubvolume(int parent_fd, const std::string& name, const std::string& what) {
  struct btrfs_ioctl_vol_args args;
  std::memset(&args, 0, sizeof(args));
  absl::Status status = CopyName(name, args.name, sizeof(args.name));
  if (!status.ok()) return status;
  if (::ioctl(parent_fd, BTRFS_IOC_SUBVOL_CREATE, &args) != 0) {
    return OsError(errno, absl::StrCat("create btrfs subvolume ", what));
  }
  return absl::OkStatus();
}

absl::Status SnapshotSubvolume(int src_fd, int parent_fd, const std::string& name, bool read_only,
                               const std::string& what) {
  struct btrfs_ioctl_vol_args_v2 args;
  std::memset(&args, 0, sizeof(args));
  absl::Status status = CopyName(name, args.name, sizeof(args.name));
  if (!status.ok()) return status;
  args.fd = src_fd;
  args.flags = read_only ? BTRFS_SUBVOL_RDONLY : 0;
  if (::ioctl(parent_fd, BTRFS_IOC_SNAP_CREATE_V2, &args) != 0) {
    return OsError(errno, absl::StrCat("snapshot btrfs subvolume ", what));
  }
  return absl::OkStatus();
}

absl::Status DestroySubvolume(int parent_fd, const std::string& name, const std::string& what) {
  struct btrfs_ioctl_vol_args args;
  std::memset(&args, 0, sizeof(args));
  absl::Status status = CopyName(name, args.name, sizeof(args.name));
  if (!status.ok()) return status;
  if (::ioctl(parent_fd, BTRFS_IOC_SNAP_DESTROY, &args) == 0) return absl::OkStatus();
  int err = errno;
  if (err != EPERM && err != EACCES && err != EROFS) {
    return OsError(err, absl::StrCat("delete btrfs subvolume ", what));
  }
  status = ClearReadOnly(parent_fd, name, what);
  if (!status.ok()) return status;
  if (::ioctl(parent_fd, BTRFS_IOC_SNAP_DESTROY, &args) != 0) {
    return OsError(errno, absl::StrCat("delete btrfs subvolume ", what));
  }
  return absl::OkStatus();
}

bool IsSubvolumeRoot(const std::string& path, const struct stat& st) {
  if (!S_ISDIR(st.st_mode) || st.st_ino != kBtrfsSubvolumeRootIno) return false;
  struct statfs fs;
  return ::statfs(path.c_str(), &fs) == 0 && static_cast<uint64_t>(fs.f_type) == BTRFS_SUPER_MAGIC;
}

absl::StatusOr<ExtentSummary> SummarizeExtents(int fd, const std::string& what) {
  absl::StatusOr<std::vector<MappedExtent>> map = MapExtents(fd, what);
  if (!map.ok()) return map.status();
  ExtentSummary summary;
  for (const MappedExtent& extent : *map) {
    ++summary.extents;
    summary.bytes += extent.length;
    if (extent.flags & FIEMAP_EXTENT_SHARED) {
      ++summary.shared_extents;
      summary.shared_bytes += extent.length;
    }
  }
  return summary;
}

absl::StatusOr<std::vector<MappedExtent>> MapExtents(int fd, const std::string& what) {
  constexpr size_t kBatch = 256;
  std::vector<char> buffer(sizeof(struct fiemap) + kBatch * sizeof(struct fiemap_extent));
  auto* map = reinterpret_cast<struct fiemap*>(buffer.data());
  std::vector<MappedExtent> out;
  uint64_t start = 0;
  for (;;) {
    std::memset(buffer.data(), 0, buffer.size());
    map->fm_start = start;
    map->fm_length = FIEMAP_MAX_OFFSET - start;
    map->fm_flags = FIEMAP_FLAG_SYNC;
    map->fm_extent_count = kBatch;
    if (::ioctl(fd, FS_IOC_FIEMAP, map) != 0) {
      return OsError(errno, absl::StrCat("FIEMAP ", what));
    }
    if (map->fm_mapped_extents == 0) break;
    bool last = false;
    for (uint32_t i = 0; i < map->fm_mapped_extents; ++i) {
      const struct fiemap_extent& extent = map->fm_extents[i];
      out.push_back({extent.fe_logical, extent.fe_physical, extent.fe_length, extent.fe_flags});
      last = last || (extent.fe_flags & FIEMAP_EXTENT_LAST);
      start = extent.fe_logical + extent.fe_length;
    }
    if (last) break;
  }
  return out;
}

}  // namespace berth::agent::platform
