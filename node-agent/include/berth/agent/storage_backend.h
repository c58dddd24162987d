#ifndef BERTH_AGENT_STORAGE_BACKEND_H_
#define BERTH_AGENT_STORAGE_BACKEND_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::agent {

// A volume: one raw disk image of `size_bytes`, stored as a regular (usually sparse) file.
struct VolumeInfo {
  std::string id;
  uint64_t size_bytes = 0;
  std::string path;  // absolute path of the raw image on this node
};

// A point-in-time, read-only copy of a volume's data.
struct SnapshotInfo {
  std::string id;
  std::string volume_id;
  uint64_t size_bytes = 0;
  std::string path;  // absolute path of the raw image on this node
  // A writable directory that lives and dies with the snapshot, for facts derived from its
  // immutable data (the export's leaf tree, docs/export.md).
  std::string cache_dir;
  int64_t created_unix_nanos = 0;  // when it was taken; 0 when unknown
};

struct PoolUsage {
  uint64_t capacity_bytes = 0;
  uint64_t available_bytes = 0;
};

// Stores volumes and snapshots in one pool (a directory on one filesystem).
//
// Every mutating call is idempotent and atomic: it is keyed by a caller-chosen id (the owning
// resource's uid), a repeated call returns the existing object, and a crash mid-call leaves
// either nothing or the whole object (work happens under a temporary name, then rename(2)).
// Ids must match [a-z0-9][a-z0-9-]{0,127}; anything else is InvalidArgument (no path tricks).
// Thread-safe: calls on different ids run concurrently; calls on the same id are serialized.
class StorageBackend {
 public:
  virtual ~StorageBackend() = default;

  // Returns "reflink", "btrfs" or "copy".
  virtual std::string Type() const = 0;
  // Returns the pool's root directory.
  virtual std::string Root() const = 0;

  // Creates an empty (sparse, zero-filled) volume. An existing volume with the same id is
  // returned when its size matches, AlreadyExists otherwise.
  virtual absl::StatusOr<VolumeInfo> CreateVolume(const std::string& id, uint64_t size_bytes) = 0;
  // Creates a volume holding the snapshot's data, grown to `size_bytes`. Copy-on-write where the
  // backend allows it. `size_bytes` smaller than the snapshot: InvalidArgument naming both sizes.
  virtual absl::StatusOr<VolumeInfo> CreateVolumeFromSnapshot(const std::string& id,
                                                              const std::string& snapshot_id,
                                                              uint64_t size_bytes) = 0;
  // Creates a volume holding a sparse copy of `source_path` (an image from another pool on this
  // node), grown to `size_bytes`.
  virtual absl::StatusOr<VolumeInfo> ImportVolume(const std::string& id,
                                                  const std::string& source_path,
                                                  uint64_t size_bytes) = 0;
  virtual absl::StatusOr<VolumeInfo> GetVolume(const std::string& id) = 0;  // NotFound if absent
  // Returns whether the volume existed. Snapshots of it stay valid.
  virtual absl::StatusOr<bool> DeleteVolume(const std::string& id) = 0;

  // Takes a snapshot of the volume. Same id again: returns the existing snapshot (even if the
  // volume changed since), FailedPrecondition if it belongs to another volume.
  virtual absl::StatusOr<SnapshotInfo> CreateSnapshot(const std::string& volume_id,
                                                      const std::string& snapshot_id) = 0;
  virtual absl::StatusOr<SnapshotInfo> GetSnapshot(const std::string& id) = 0;  // NotFound
  virtual absl::StatusOr<bool> DeleteSnapshot(const std::string& id) = 0;
  virtual absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots() = 0;

  virtual absl::StatusOr<PoolUsage> Usage() = 0;
};

// Opens (creating directories as needed) a pool of the given type at `root`. Checks that the
// filesystem supports the type: reflink needs FICLONE (XFS with reflink=1, btrfs), btrfs needs
// a btrfs filesystem; copy works anywhere. Cleans temporaries left by a crash.
absl::StatusOr<std::unique_ptr<StorageBackend>> OpenStorageBackend(const std::string& type,
                                                                   const std::string& root);

// Pools this node serves, by pool name. Fixed after start-up.
using PoolMap = std::map<std::string, std::unique_ptr<StorageBackend>>;

}  // namespace berth::agent

#endif  // BERTH_AGENT_STORAGE_BACKEND_H_
