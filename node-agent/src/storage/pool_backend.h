#ifndef BERTH_AGENT_STORAGE_POOL_BACKEND_H_
#define BERTH_AGENT_STORAGE_POOL_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "berth/agent/storage_backend.h"
#include "platform/unique_fd.h"
#include "storage/data_layout.h"
#include "storage/keyed_mutex.h"

namespace berth::agent {

// StorageBackend over one directory tree:
//   <root>/.pool.lock          flock'ed for the backend's lifetime (one owner per pool)
//   <root>/volumes/<id>/disk.img
//   <root>/snapshots/<id>/snapshot.json + the layout's image (SnapshotImage)
// Every object is built under <dir>/.tmp-<id>-<random> and renamed into place; deletes rename
// the object to a temporary name first. Temporaries are removed when the pool is opened.
//
// Locking: mutations take "v/<id>" then "s/<id>" (volumes before snapshots, always) from
// `locks_`; the object being created or deleted exclusively, the source shared. Reads take no
// lock: rename(2) makes every object appear and disappear atomically. Thread-safe.
class PoolBackend final : public StorageBackend {
 public:
  // Creates the directories, takes the pool lock, removes temporaries and probes the layout.
  static absl::StatusOr<std::unique_ptr<PoolBackend>> Open(std::unique_ptr<DataLayout> layout,
                                                           const std::string& root);

  std::string Type() const override { return layout_->Type(); }
  std::string Root() const override { return root_; }

  absl::StatusOr<VolumeInfo> CreateVolume(const std::string& id, uint64_t size_bytes) override;
  absl::StatusOr<VolumeInfo> CreateVolumeFromSnapshot(const std::string& id,
                                                      const std::string& snapshot_id,
                                                      uint64_t size_bytes) override;
  absl::StatusOr<VolumeInfo> ImportVolume(const std::string& id, const std::string& source_path,
                                          uint64_t size_bytes) override;
  absl::StatusOr<VolumeInfo> GetVolume(const std::string& id) override;
  absl::StatusOr<bool> DeleteVolume(const std::string& id) override;

  absl::StatusOr<SnapshotInfo> CreateSnapshot(const std::string& volume_id,
                                              const std::string& snapshot_id) override;
  absl::StatusOr<SnapshotInfo> GetSnapshot(const std::string& id) override;
  absl::StatusOr<bool> DeleteSnapshot(const std::string& id) override;
  absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots() override;

  absl::StatusOr<PoolUsage> Usage() override;

 private:
  PoolBackend(std::unique_ptr<DataLayout> layout, std::string root, platform::UniqueFd lock_fd);

  std::string VolumeDir(const std::string& id) const;
  std::string SnapshotDir(const std::string& id) const;
  absl::StatusOr<VolumeInfo> ReadVolume(const std::string& id) const;
  absl::StatusOr<SnapshotInfo> ReadSnapshot(const std::string& id) const;
  // Returns the existing volume `id` if its size is `size_bytes` (0: any size), AlreadyExists
  // if the size differs, NotFound if there is none.
  absl::StatusOr<VolumeInfo> ExistingVolume(const std::string& id, uint64_t size_bytes) const;
  // Grows the image in the temporary volume directory to `size_bytes`, renames the directory
  // to volumes/<id> and makes the rename durable.
  absl::StatusOr<VolumeInfo> CommitVolume(const std::string& tmp, const std::string& id,
                                          uint64_t size_bytes);
  absl::StatusOr<VolumeInfo> CopyIntoNewVolume(const std::string& id,
                                               const std::string& source_path, uint64_t size_bytes);
  // Renames `dir`/`id` away and removes it; returns whether it existed.
  absl::StatusOr<bool> RemoveObject(const std::string& dir, const std::string& id);

  const std::unique_ptr<DataLayout> layout_;
  const std::string root_;
  const std::string volumes_;
  const std::string snapshots_;
  const platform::UniqueFd lock_fd_;
  KeyedMutex locks_;
};

}  // namespace berth::agent

#endif  // BERTH_AGENT_STORAGE_POOL_BACKEND_H_
