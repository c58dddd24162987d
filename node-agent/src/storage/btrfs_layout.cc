// The "btrfs" layout: volumes/<id> is a subvolume holding disk.img; a snapshot directory holds
// a read-only snapshot subvolume "data" (with disk.img) next to the metadata file, so the
// metadata can be written although the snapshot itself is read-only.

#include <fcntl.h>

#include "absl/strings/str_cat.h"
#include "platform/files.h"
#include "platform/fs_ioctl.h"
#include "storage/data_layout.h"
#include "storage/pool_fs.h"

namespace berth::agent {
namespace {

constexpr char kSnapshotSubvolume[] = "data";

absl::StatusOr<platform::UniqueFd> OpenDir(const std::string& path) {
  return platform::OpenPath(path, O_RDONLY | O_DIRECTORY);
}

// Snapshots the subvolume `src` to the new path `dst`.
absl::Status SnapshotTo(const std::string& src, const std::string& dst, bool read_only) {
  absl::StatusOr<platform::UniqueFd> src_fd = OpenDir(src);
  if (!src_fd.ok()) return src_fd.status();
  absl::StatusOr<platform::UniqueFd> parent = OpenDir(platform::DirName(dst));
  if (!parent.ok()) return parent.status();
  return platform::SnapshotSubvolume(src_fd->get(), parent->get(), platform::BaseName(dst),
                                     read_only, absl::StrCat(src, " to ", dst));
}

class BtrfsLayout final : public DataLayout {
 public:
  std::string Type() const override { return "btrfs"; }

  absl::Status Probe(const std::string& root) const override {
    absl::StatusOr<platform::FilesystemInfo> fs = platform::GetFilesystemInfo(root);
    if (!fs.ok()) return fs.status();
    if (!platform::IsBtrfs(*fs)) {
      return absl::FailedPreconditionError(
          absl::StrCat("btrfs pool at ", root, ": the filesystem is ", fs->name,
                       ", not btrfs; use the reflink backend on XFS or the copy backend"));
    }
    // Creating and deleting a subvolume proves we have the rights the pool needs.
    TempTree probe(TempPath(root, "probe"));
    absl::Status status = MakeVolumeDir(probe.path());
    if (!status.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("btrfs pool at ", root, ": ", status.message()));
    }
    return RemoveTree(probe.path());
  }

  absl::Status MakeVolumeDir(const std::string& dir) const override {
    absl::StatusOr<platform::UniqueFd> parent = OpenDir(platform::DirName(dir));
    if (!parent.ok()) return parent.status();
    return platform::CreateSubvolume(parent->get(), platform::BaseName(dir), dir);
  }

  absl::Status Snapshot(const std::string& volume_dir,
                        const std::string& snapshot_dir) const override {
    // Snapshot creation commits a btrfs transaction, so the result is already durable.
    return SnapshotTo(volume_dir, absl::StrCat(snapshot_dir, "/", kSnapshotSubvolume),
                      /*read_only=*/true);
  }

  absl::Status Restore(const std::string& snapshot_dir,
                       const std::string& volume_dir) const override {
    return SnapshotTo(absl::StrCat(snapshot_dir, "/", kSnapshotSubvolume), volume_dir,
                      /*read_only=*/false);
  }

  // A snapshot subvolume appears in the transaction commit that the ioctl waits for.
  bool RestoreIsAtomic() const override { return true; }

  std::string SnapshotImage(const std::string& snapshot_dir) const override {
    return absl::StrCat(snapshot_dir, "/", kSnapshotSubvolume, "/", kImageName);
  }
};

}  // namespace

std::unique_ptr<DataLayout> NewBtrfsLayout() { return std::make_unique<BtrfsLayout>(); }

}  // namespace berth::agent
