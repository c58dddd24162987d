#include "storage/pool_backend.h"

#include <fcntl.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "berth/status_macros.h"
#include "platform/files.h"
#include "platform/fs_ioctl.h"
#include "storage/pool_fs.h"
#include "storage/sparse_copy.h"

namespace berth::agent {
namespace {

constexpr char kLockName[] = ".pool.lock";

absl::Status Annotate(const absl::Status& status, const std::string& context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

std::string VolumeKey(const std::string& id) { return "v/" + id; }
std::string SnapshotKey(const std::string& id) { return "s/" + id; }

absl::Status TooSmall(const std::string& context, uint64_t requested, uint64_t actual,
                      const std::string& source) {
  return absl::InvalidArgumentError(absl::StrCat(context, ": requested size ", requested,
                                                 " bytes is smaller than the ", source, "'s ",
                                                 actual, " bytes"));
}

// Creates the pool directories and returns the canonical root.
absl::StatusOr<std::string> PrepareRoot(const std::string& root) {
  if (root.empty()) return absl::InvalidArgumentError("pool root is empty");
  BERTH_RETURN_IF_ERROR(platform::MakeDirs(root, 0755));
  BERTH_ASSIGN_OR_RETURN(std::string real, platform::RealPath(root));
  BERTH_RETURN_IF_ERROR(platform::MakeDir(real + "/volumes", 0755, /*exist_ok=*/true));
  BERTH_RETURN_IF_ERROR(platform::MakeDir(real + "/snapshots", 0755, /*exist_ok=*/true));
  return real;
}

}  // namespace

PoolBackend::PoolBackend(std::unique_ptr<DataLayout> layout, std::string root,
                         platform::UniqueFd lock_fd)
    : layout_(std::move(layout)),
      root_(std::move(root)),
      volumes_(root_ + "/volumes"),
      snapshots_(root_ + "/snapshots"),
      lock_fd_(std::move(lock_fd)) {}

absl::StatusOr<std::unique_ptr<PoolBackend>> PoolBackend::Open(std::unique_ptr<DataLayout> layout,
                                                               const std::string& root) {
  std::string context = absl::StrCat("open ", layout->Type(), " pool at ", root);
  absl::StatusOr<std::string> real = PrepareRoot(root);
  if (!real.ok()) return Annotate(real.status(), context);
  std::string lock_path = absl::StrCat(*real, "/", kLockName);
  absl::StatusOr<platform::UniqueFd> lock_fd =
      platform::OpenPath(lock_path, O_RDWR | O_CREAT, 0600);
  if (!lock_fd.ok()) return Annotate(lock_fd.status(), context);
  absl::Status status = platform::LockExclusive(lock_fd->get(), lock_path);
  for (const char* dir : {"", "/volumes", "/snapshots"}) {
    if (status.ok()) status = RemoveTemporaries(*real + dir);
  }
  if (status.ok()) status = layout->Probe(*real);
  if (!status.ok()) return Annotate(status, context);
  return std::unique_ptr<PoolBackend>(
      new PoolBackend(std::move(layout), *std::move(real), *std::move(lock_fd)));
}

std::string PoolBackend::VolumeDir(const std::string& id) const {
  return absl::StrCat(volumes_, "/", id);
}

std::string PoolBackend::SnapshotDir(const std::string& id) const {
  return absl::StrCat(snapshots_, "/", id);
}

absl::StatusOr<VolumeInfo> PoolBackend::ReadVolume(const std::string& id) const {
  std::string path = absl::StrCat(VolumeDir(id), "/", kImageName);
  absl::StatusOr<struct stat> st = platform::StatPath(path);
  if (absl::IsNotFound(st.status())) {
    return absl::NotFoundError(absl::StrCat("volume '", id, "' not found (no ", path, ")"));
  }
  if (!st.ok()) return Annotate(st.status(), absl::StrCat("volume '", id, "'"));
  return VolumeInfo{id, static_cast<uint64_t>(st->st_size), path};
}

absl::StatusOr<SnapshotInfo> PoolBackend::ReadSnapshot(const std::string& id) const {
  std::string dir = SnapshotDir(id);
  std::string context = absl::StrCat("snapshot '", id, "'");
  absl::StatusOr<struct stat> st = platform::StatPath(dir);
  if (absl::IsNotFound(st.status())) {
    return absl::NotFoundError(absl::StrCat(context, " not found (no ", dir, ")"));
  }
  if (!st.ok()) return Annotate(st.status(), context);
  absl::StatusOr<SnapshotMetadata> metadata = ReadSnapshotMetadata(dir);
  if (!metadata.ok()) {
    // A committed snapshot always has its metadata: anything else is damage, not absence.
    return absl::DataLossError(absl::StrCat(context, ": ", metadata.status().message()));
  }
  std::string image = layout_->SnapshotImage(dir);
  st = platform::StatPath(image);
  if (!st.ok()) return absl::DataLossError(absl::StrCat(context, ": ", st.status().message()));
  return SnapshotInfo{id,  metadata->volume_id,         metadata->size_bytes, image,
                      dir, metadata->created_unix_nanos};
}

absl::StatusOr<VolumeInfo> PoolBackend::ExistingVolume(const std::string& id,
                                                       uint64_t size_bytes) const {
  absl::StatusOr<VolumeInfo> volume = ReadVolume(id);
  if (!volume.ok()) return volume.status();
  if (size_bytes != 0 && volume->size_bytes != size_bytes) {
    return absl::AlreadyExistsError(absl::StrCat("volume '", id, "' already exists with size ",
                                                 volume->size_bytes, " bytes, not ", size_bytes));
  }
  return volume;
}

absl::StatusOr<VolumeInfo> PoolBackend::CommitVolume(const std::string& tmp, const std::string& id,
                                                     uint64_t size_bytes) {
  std::string image = absl::StrCat(tmp, "/", kImageName);
  BERTH_ASSIGN_OR_RETURN(platform::UniqueFd fd, platform::OpenPath(image, O_WRONLY));
  BERTH_ASSIGN_OR_RETURN(struct stat st, platform::StatFd(fd.get(), image));
  if (static_cast<uint64_t>(st.st_size) < size_bytes) {
    BERTH_RETURN_IF_ERROR(platform::Truncate(fd.get(), size_bytes, image));
    BERTH_RETURN_IF_ERROR(platform::SyncFd(fd.get(), image));
  }
  fd.reset();
  BERTH_RETURN_IF_ERROR(platform::RenameNoReplace(tmp, VolumeDir(id)));
  BERTH_RETURN_IF_ERROR(platform::SyncDir(volumes_));
  return ReadVolume(id);
}

absl::StatusOr<VolumeInfo> PoolBackend::CreateVolume(const std::string& id, uint64_t size_bytes) {
  BERTH_RETURN_IF_ERROR(ValidateId(id, "volume id"));
  std::string context = absl::StrCat("create volume '", id, "'");
  if (size_bytes == 0) return absl::InvalidArgumentError(context + ": size must be positive");
  KeyedMutex::Lock lock = locks_.Exclusive(VolumeKey(id));
  absl::StatusOr<VolumeInfo> existing = ExistingVolume(id, size_bytes);
  if (!absl::IsNotFound(existing.status())) return existing;
  TempTree tmp(TempPath(volumes_, id));
  absl::Status status = layout_->MakeVolumeDir(tmp.path());
  if (status.ok()) {
    std::string image = absl::StrCat(tmp.path(), "/", kImageName);
    status = platform::OpenPath(image, O_WRONLY | O_CREAT | O_EXCL, 0644).status();
  }
  if (!status.ok()) return Annotate(status, context);
  absl::StatusOr<VolumeInfo> volume = CommitVolume(tmp.path(), id, size_bytes);
  if (!volume.ok()) return Annotate(volume.status(), context);
  tmp.Commit();
  return volume;
}

absl::StatusOr<VolumeInfo> PoolBackend::CreateVolumeFromSnapshot(const std::string& id,
                                                                 const std::string& snapshot_id,
                                                                 uint64_t size_bytes) {
  BERTH_RETURN_IF_ERROR(ValidateId(id, "volume id"));
  BERTH_RETURN_IF_ERROR(ValidateId(snapshot_id, "snapshot id"));
  std::string context = absl::StrCat("create volume '", id, "' from snapshot '", snapshot_id, "'");
  KeyedMutex::Lock volume_lock = locks_.Exclusive(VolumeKey(id));
  KeyedMutex::Lock snapshot_lock = locks_.Shared(SnapshotKey(snapshot_id));
  absl::StatusOr<VolumeInfo> existing = ExistingVolume(id, size_bytes);
  if (!absl::IsNotFound(existing.status())) return existing;
  absl::StatusOr<SnapshotInfo> snapshot = ReadSnapshot(snapshot_id);
  if (!snapshot.ok()) return Annotate(snapshot.status(), context);
  if (size_bytes != 0 && size_bytes < snapshot->size_bytes) {
    return TooSmall(context, size_bytes, snapshot->size_bytes, "snapshot");
  }
  if (layout_->RestoreIsAtomic() && size_bytes <= snapshot->size_bytes) {
    absl::Status status = layout_->Restore(SnapshotDir(snapshot_id), VolumeDir(id));
    if (!status.ok()) return Annotate(status, context);
    return ReadVolume(id);
  }
  TempTree tmp(TempPath(volumes_, id));
  absl::Status status = layout_->Restore(SnapshotDir(snapshot_id), tmp.path());
  if (!status.ok()) return Annotate(status, context);
  absl::StatusOr<VolumeInfo> volume =
      CommitVolume(tmp.path(), id, std::max(size_bytes, snapshot->size_bytes));
  if (!volume.ok()) return Annotate(volume.status(), context);
  tmp.Commit();
  return volume;
}

absl::StatusOr<VolumeInfo> PoolBackend::ImportVolume(const std::string& id,
                                                     const std::string& source_path,
                                                     uint64_t size_bytes) {
  BERTH_RETURN_IF_ERROR(ValidateId(id, "volume id"));
  std::string context = absl::StrCat("import volume '", id, "' from ", source_path);
  KeyedMutex::Lock lock = locks_.Exclusive(VolumeKey(id));
  absl::StatusOr<VolumeInfo> existing = ExistingVolume(id, size_bytes);
  if (!absl::IsNotFound(existing.status())) return existing;
  absl::StatusOr<VolumeInfo> volume = CopyIntoNewVolume(id, source_path, size_bytes);
  if (!volume.ok()) return Annotate(volume.status(), context);
  return volume;
}

absl::StatusOr<VolumeInfo> PoolBackend::CopyIntoNewVolume(const std::string& id,
                                                          const std::string& source_path,
                                                          uint64_t size_bytes) {
  BERTH_ASSIGN_OR_RETURN(platform::UniqueFd src, platform::OpenPath(source_path, O_RDONLY));
  BERTH_ASSIGN_OR_RETURN(struct stat st, platform::StatFd(src.get(), source_path));
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError("source is not a regular file");
  uint64_t source_size = static_cast<uint64_t>(st.st_size);
  if (size_bytes != 0 && size_bytes < source_size) {
    return TooSmall("import", size_bytes, source_size, "source image");
  }
  uint64_t target = std::max(size_bytes, source_size);
  TempTree tmp(TempPath(volumes_, id));
  BERTH_RETURN_IF_ERROR(layout_->MakeVolumeDir(tmp.path()));
  std::string image = absl::StrCat(tmp.path(), "/", kImageName);
  BERTH_ASSIGN_OR_RETURN(platform::UniqueFd dst,
                         platform::OpenPath(image, O_WRONLY | O_CREAT | O_EXCL, 0644));
  BERTH_RETURN_IF_ERROR(SparseCopy(src.get(), source_size, dst.get(), target,
                                   absl::StrCat(source_path, " to ", image)));
  BERTH_ASSIGN_OR_RETURN(VolumeInfo volume, CommitVolume(tmp.path(), id, target));
  tmp.Commit();
  return volume;
}

absl::StatusOr<VolumeInfo> PoolBackend::GetVolume(const std::string& id) {
  BERTH_RETURN_IF_ERROR(ValidateId(id, "volume id"));
  return ReadVolume(id);
}

absl::StatusOr<bool> PoolBackend::DeleteVolume(const std::string& id) {
  BERTH_RETURN_IF_ERROR(ValidateId(id, "volume id"));
  KeyedMutex::Lock lock = locks_.Exclusive(VolumeKey(id));
  absl::StatusOr<bool> existed = RemoveObject(volumes_, id);
  if (!existed.ok()) return Annotate(existed.status(), absl::StrCat("delete volume '", id, "'"));
  return existed;
}

absl::StatusOr<SnapshotInfo> PoolBackend::CreateSnapshot(const std::string& volume_id,
                                                         const std::string& snapshot_id) {
  BERTH_RETURN_IF_ERROR(ValidateId(volume_id, "volume id"));
  BERTH_RETURN_IF_ERROR(ValidateId(snapshot_id, "snapshot id"));
  std::string context =
      absl::StrCat("create snapshot '", snapshot_id, "' of volume '", volume_id, "'");
  KeyedMutex::Lock volume_lock = locks_.Shared(VolumeKey(volume_id));
  KeyedMutex::Lock snapshot_lock = locks_.Exclusive(SnapshotKey(snapshot_id));
  absl::StatusOr<SnapshotInfo> existing = ReadSnapshot(snapshot_id);
  if (existing.ok() && existing->volume_id != volume_id) {
    return absl::FailedPreconditionError(
        absl::StrCat(context, ": the snapshot already exists and belongs to volume '",
                     existing->volume_id, "'"));
  }
  if (!absl::IsNotFound(existing.status())) return existing;
  absl::StatusOr<VolumeInfo> volume = ReadVolume(volume_id);
  if (!volume.ok()) return Annotate(volume.status(), context);
  // Metadata goes in first: on btrfs the snapshot ioctl's transaction commit then persists it
  // too, and elsewhere the final directory fsync does.
  TempTree tmp(TempPath(snapshots_, snapshot_id));
  absl::Status status = platform::MakeDir(tmp.path(), 0755, /*exist_ok=*/false);
  if (status.ok())
    status = WriteSnapshotMetadata(tmp.path(),
                                   {volume_id, volume->size_bytes, absl::ToUnixNanos(absl::Now())});
  if (status.ok()) status = layout_->Snapshot(VolumeDir(volume_id), tmp.path());
  if (status.ok()) status = platform::RenameNoReplace(tmp.path(), SnapshotDir(snapshot_id));
  if (status.ok()) status = platform::SyncDir(snapshots_);
  if (!status.ok()) return Annotate(status, context);
  tmp.Commit();
  return ReadSnapshot(snapshot_id);
}

absl::StatusOr<SnapshotInfo> PoolBackend::GetSnapshot(const std::string& id) {
  BERTH_RETURN_IF_ERROR(ValidateId(id, "snapshot id"));
  return ReadSnapshot(id);
}

absl::StatusOr<bool> PoolBackend::DeleteSnapshot(const std::string& id) {
  BERTH_RETURN_IF_ERROR(ValidateId(id, "snapshot id"));
  KeyedMutex::Lock lock = locks_.Exclusive(SnapshotKey(id));
  absl::StatusOr<bool> existed = RemoveObject(snapshots_, id);
  if (!existed.ok()) {
    return Annotate(existed.status(), absl::StrCat("delete snapshot '", id, "'"));
  }
  return existed;
}

absl::StatusOr<std::vector<SnapshotInfo>> PoolBackend::ListSnapshots() {
  BERTH_ASSIGN_OR_RETURN(std::vector<std::string> names, platform::ListDir(snapshots_));
  std::sort(names.begin(), names.end());
  std::vector<SnapshotInfo> snapshots;
  for (const std::string& name : names) {
    if (!ValidateId(name, "snapshot id").ok()) continue;  // temporaries and strangers
    absl::StatusOr<SnapshotInfo> snapshot = ReadSnapshot(name);
    if (absl::IsNotFound(snapshot.status())) continue;  // deleted while listing
    if (!snapshot.ok()) return snapshot.status();
    snapshots.push_back(*std::move(snapshot));
  }
  return snapshots;
}

absl::StatusOr<PoolUsage> PoolBackend::Usage() {
  BERTH_ASSIGN_OR_RETURN(platform::FilesystemInfo fs, platform::GetFilesystemInfo(root_));
  return PoolUsage{fs.capacity_bytes, fs.available_bytes};
}

absl::StatusOr<bool> PoolBackend::RemoveObject(const std::string& dir, const std::string& id) {
  std::string tmp = TempPath(dir, id);
  absl::Status status = platform::RenameNoReplace(absl::StrCat(dir, "/", id), tmp);
  if (absl::IsNotFound(status)) return false;
  BERTH_RETURN_IF_ERROR(status);
  BERTH_RETURN_IF_ERROR(platform::SyncDir(dir));
  // The object is gone once renamed; a failed removal leaves a temporary that the next Open
  // sweeps, so it is not reported to the caller.
  RemoveTree(tmp).IgnoreError();
  return true;
}

}  // namespace berth::agent
