// The "reflink" and "copy" layouts: volumes/<id>/ and snapshots/<id>/ are plain directories
// holding disk.img; they differ only in how an image is duplicated.

#include <fcntl.h>
#include <unistd.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "platform/files.h"
#include "platform/fs_ioctl.h"
#include "storage/data_layout.h"
#include "storage/pool_fs.h"
#include "storage/sparse_copy.h"

namespace berth::agent {
namespace {

constexpr mode_t kVolumeImageMode = 0644;
constexpr mode_t kSnapshotImageMode = 0444;

std::string Image(const std::string& dir) { return absl::StrCat(dir, "/", kImageName); }

class FileLayout final : public DataLayout {
 public:
  explicit FileLayout(bool reflink) : reflink_(reflink) {}

  std::string Type() const override { return reflink_ ? "reflink" : "copy"; }

  absl::Status Probe(const std::string& root) const override {
    if (!reflink_) return absl::OkStatus();
    return ProbeReflink(root);
  }

  absl::Status MakeVolumeDir(const std::string& dir) const override {
    return platform::MakeDir(dir, 0755, /*exist_ok=*/false);
  }

  absl::Status Snapshot(const std::string& volume_dir,
                        const std::string& snapshot_dir) const override {
    return Duplicate(Image(volume_dir), Image(snapshot_dir), kSnapshotImageMode);
  }

  absl::Status Restore(const std::string& snapshot_dir,
                       const std::string& volume_dir) const override {
    absl::Status status = MakeVolumeDir(volume_dir);
    if (!status.ok()) return status;
    return Duplicate(Image(snapshot_dir), Image(volume_dir), kVolumeImageMode);
  }

  std::string SnapshotImage(const std::string& snapshot_dir) const override {
    return Image(snapshot_dir);
  }

 private:
  // Copies or clones `src` to the new file `dst` with permissions `mode`, durably.
  absl::Status Duplicate(const std::string& src, const std::string& dst, mode_t mode) const {
    absl::StatusOr<platform::UniqueFd> in = platform::OpenPath(src, O_RDONLY);
    if (!in.ok()) return in.status();
    absl::StatusOr<struct stat> st = platform::StatFd(in->get(), src);
    if (!st.ok()) return st.status();
    absl::StatusOr<platform::UniqueFd> out =
        platform::OpenPath(dst, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (!out.ok()) return out.status();
    std::string what = absl::StrCat(src, " to ", dst);
    uint64_t size = static_cast<uint64_t>(st->st_size);
    if (!reflink_) return SparseCopy(in->get(), size, out->get(), size, what);
    absl::Status status = platform::CloneFile(in->get(), out->get(), what);
    if (!status.ok()) return status;
    // XFS logs the clone as a transaction in its one ordered log, and PoolBackend always ends
    // with an fsync that forces the log past it (metadata file, then the directory), so a
    // separate log force here would only add latency. Elsewhere (btrfs) fsync the clone.
    if (platform::IsOnXfs(out->get())) return absl::OkStatus();
    return platform::SyncFd(out->get(), dst);
  }

  // Clones a one-block temporary file to prove FICLONE works on this filesystem.
  static absl::Status ProbeReflink(const std::string& root) {
    std::string src = TempPath(root, "probe");
    std::string dst = TempPath(root, "probe");
    TempTree src_guard(src);
    TempTree dst_guard(dst);
    absl::StatusOr<platform::UniqueFd> in =
        platform::OpenPath(src, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (!in.ok()) return in.status();
    std::string block(4096, 'b');
    if (::pwrite(in->get(), block.data(), block.size(), 0) != static_cast<ssize_t>(block.size())) {
      return platform::OsError(errno, absl::StrCat("write ", src));
    }
    absl::StatusOr<platform::UniqueFd> out =
        platform::OpenPath(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (!out.ok()) return out.status();
    absl::Status status = platform::CloneFile(in->get(), out->get(), "probe file");
    if (status.ok()) return status;
    absl::StatusOr<platform::FilesystemInfo> fs = platform::GetFilesystemInfo(root);
    std::string fs_name = fs.ok() ? fs->name : "unknown";
    return absl::FailedPreconditionError(absl::StrCat(
        "reflink pool at ", root, ": the ", fs_name, " filesystem cannot clone files (",
        status.message(), "); use XFS formatted with -m reflink=1 or btrfs, or the copy backend"));
  }

  const bool reflink_;
};

}  // namespace

std::unique_ptr<DataLayout> NewReflinkLayout() { return std::make_unique<FileLayout>(true); }
std::unique_ptr<DataLayout> NewCopyLayout() { return std::make_unique<FileLayout>(false); }

}  // namespace berth::agent
