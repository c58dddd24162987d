#ifndef BERTH_AGENT_STORAGE_DATA_LAYOUT_H_
#define BERTH_AGENT_STORAGE_DATA_LAYOUT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"

namespace berth::agent {

// How one pool type stores image data: what a volume directory is (a plain directory or a
// btrfs subvolume) and how snapshot and restore produce their copies (reflink, subvolume
// snapshot or byte copy). Paths are absolute. Implementations are stateless and thread-safe;
// PoolBackend owns naming, locking, metadata and the final rename.
class DataLayout {
 public:
  virtual ~DataLayout() = default;

  virtual std::string Type() const = 0;
  // Checks that the filesystem holding `root` (an existing directory) supports this layout;
  // FailedPrecondition with an explanation otherwise.
  virtual absl::Status Probe(const std::string& root) const = 0;
  // Creates the empty volume directory `dir` (which must not exist).
  virtual absl::Status MakeVolumeDir(const std::string& dir) const = 0;
  // Fills the empty plain directory `snapshot_dir` with a durable, read-only point-in-time copy
  // of the image in `volume_dir`.
  virtual absl::Status Snapshot(const std::string& volume_dir,
                                const std::string& snapshot_dir) const = 0;
  // Creates the volume directory `volume_dir` (which must not exist) holding a writable,
  // durable copy of the snapshot's image.
  virtual absl::Status Restore(const std::string& snapshot_dir,
                               const std::string& volume_dir) const = 0;
  // Returns whether Restore() is itself atomic and durable (nothing or the whole volume after a
  // crash), so it may create the final volume directory directly when no resize follows.
  virtual bool RestoreIsAtomic() const { return false; }
  // Returns the path of the image inside a snapshot directory.
  virtual std::string SnapshotImage(const std::string& snapshot_dir) const = 0;
};

// Raw image files; snapshot and restore are FICLONE clones (XFS reflink=1, btrfs).
std::unique_ptr<DataLayout> NewReflinkLayout();
// Raw image files; snapshot and restore are sparse byte copies that share no extents.
std::unique_ptr<DataLayout> NewCopyLayout();
// Each volume is a btrfs subvolume; snapshots are read-only subvolume snapshots.
std::unique_ptr<DataLayout> NewBtrfsLayout();

}  // namespace berth::agent

#endif  // BERTH_AGENT_STORAGE_DATA_LAYOUT_H_
