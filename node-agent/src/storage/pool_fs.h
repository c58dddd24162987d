#ifndef BERTH_AGENT_STORAGE_POOL_FS_H_
#define BERTH_AGENT_STORAGE_POOL_FS_H_

// Helpers shared by every pool layout: id validation, temporary names, tree removal and the
// snapshot metadata file. All functions are thread-safe.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::agent {

inline constexpr char kImageName[] = "disk.img";
inline constexpr char kSnapshotMetadataName[] = "snapshot.json";
inline constexpr char kTempPrefix[] = ".tmp-";

// Returns InvalidArgument unless `id` matches [a-z0-9][a-z0-9-]{0,127}. `what` is "volume id"
// or "snapshot id".
absl::Status ValidateId(const std::string& id, const std::string& what);

// Returns "<dir>/.tmp-<id>-<random hex>": a fresh name no other call will produce.
std::string TempPath(const std::string& dir, const std::string& id);
bool IsTempName(const std::string& name);

// Removes `path` and everything below it; btrfs subvolumes are deleted with the subvolume
// ioctl. A missing `path` is not an error.
absl::Status RemoveTree(const std::string& path);

// Removes every temporary entry (see TempPath) directly inside `dir`.
absl::Status RemoveTemporaries(const std::string& dir);

// Removes a temporary tree on scope exit unless Commit() was called. Not thread-safe.
class TempTree {
 public:
  explicit TempTree(std::string path) : path_(std::move(path)) {}
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;
  ~TempTree() {
    if (!committed_) RemoveTree(path_).IgnoreError();
  }
  const std::string& path() const { return path_; }
  void Commit() { committed_ = true; }

 private:
  std::string path_;
  bool committed_ = false;
};

struct SnapshotMetadata {
  std::string volume_id;
  uint64_t size_bytes = 0;
  int64_t created_unix_nanos = 0;  // 0 when unknown (snapshots from before it was recorded)
};

// Records `metadata` as `dir`/snapshot.json: a symbolic link whose target is the JSON text.
// A symlink is pure metadata on every filesystem (inline in the inode or journaled), so it is
// durable whenever the directory is, without an fsync of its own; read it with readlink(1).
absl::Status WriteSnapshotMetadata(const std::string& dir, const SnapshotMetadata& metadata);
// Reads `dir`/snapshot.json; NotFound if absent, DataLoss if unreadable.
absl::StatusOr<SnapshotMetadata> ReadSnapshotMetadata(const std::string& dir);

}  // namespace berth::agent

#endif  // BERTH_AGENT_STORAGE_POOL_FS_H_
