#ifndef BERTH_AGENT_PLATFORM_FS_IOCTL_H_
#define BERTH_AGENT_PLATFORM_FS_IOCTL_H_

// Filesystem-specific operations: FICLONE, btrfs subvolumes, FIEMAP, statfs/statvfs. The only
// place in the storage code that issues ioctls. All functions are thread-safe.

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::agent::platform {

struct FilesystemInfo {
  uint64_t magic = 0;  // statfs f_type
  std::string name;    // "xfs", "btrfs", "ext4", ... or the magic in hex
  uint64_t capacity_bytes = 0;
  uint64_t available_bytes = 0;  // for unprivileged users (f_bavail)
};

absl::StatusOr<FilesystemInfo> GetFilesystemInfo(const std::string& path);
bool IsBtrfs(const FilesystemInfo& info);
// Returns whether the open file `fd` lives on XFS (false if fstatfs fails).
bool IsOnXfs(int fd);

// Makes `dst_fd` (an empty file open for writing) share all extents of `src_fd` (FICLONE).
// FailedPrecondition when the filesystem cannot reflink. `what` names the files in messages.
absl::Status CloneFile(int src_fd, int dst_fd, const std::string& what);

// Creates an empty btrfs subvolume `name` in the directory `parent_fd`.
absl::Status CreateSubvolume(int parent_fd, const std::string& name, const std::string& what);
// Snapshots the subvolume open as `src_fd` to `name` in directory `parent_fd`.
absl::Status SnapshotSubvolume(int src_fd, int parent_fd, const std::string& name, bool read_only,
                               const std::string& what);
// Deletes the subvolume `name` in directory `parent_fd`, clearing its read-only flag first if
// the kernel refuses to delete a read-only subvolume.
absl::Status DestroySubvolume(int parent_fd, const std::string& name, const std::string& what);
// Returns whether `path` (already lstat'ed as `st`) is the root of a btrfs subvolume.
bool IsSubvolumeRoot(const std::string& path, const struct stat& st);

// Extent statistics of one file as reported by FIEMAP.
struct ExtentSummary {
  uint64_t extents = 0;
  uint64_t shared_extents = 0;
  uint64_t bytes = 0;
  uint64_t shared_bytes = 0;
};
absl::StatusOr<ExtentSummary> SummarizeExtents(int fd, const std::string& what);

// One FIEMAP extent: `length` bytes at file offset `logical` stored at `physical` on the device.
struct MappedExtent {
  uint64_t logical = 0;
  uint64_t physical = 0;
  uint64_t length = 0;
  uint32_t flags = 0;  // FIEMAP_EXTENT_*
};
// Returns the file's extents in logical order (FIEMAP with FIEMAP_FLAG_SYNC, so delayed
// allocations are flushed first).
absl::StatusOr<std::vector<MappedExtent>> MapExtents(int fd, const std::string& what);

}  // namespace berth::agent::platform

#endif  // BERTH_AGENT_PLATFORM_FS_IOCTL_H_
