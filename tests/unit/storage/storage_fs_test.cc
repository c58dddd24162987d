// Every backend against real loop-mounted XFS (reflink=1) and btrfs filesystems. Needs root
// (mount); without root it warns and passes. Images live under /var/tmp and are unmounted and
// removed when each test case ends, pass or fail.

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "berth/agent/storage_backend.h"
#include "platform/fs_ioctl.h"
#include "platform/unique_fd.h"
#include "scenarios.h"

namespace berth::agent::testing {
namespace {

constexpr char kScratchPattern[] = "/var/tmp/berth-fs-test-XXXXXX";

bool Run(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// Unmounts and removes what a killed earlier run left: directories whose owner.pid names a
// process that no longer exists.
void SweepLeftovers() {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/var/tmp", error)) {
    std::string dir = entry.path().string();
    if (!absl::StartsWith(dir, "/var/tmp/berth-fs-test-")) continue;
    std::ifstream pid_file(dir + "/owner.pid");
    pid_t pid = 0;
    if (!(pid_file >> pid) || pid <= 0 || (::kill(pid, 0) == 0 || errno != ESRCH)) continue;
    if (!Run("umount " + dir + "/mnt")) Run("umount -l " + dir + "/mnt");
    Run("rm -rf " + dir);
  }
}

// A filesystem of `kind` ("xfs" or "btrfs") in a sparse image, loop-mounted. Construction never
// throws; check ok(). The destructor unmounts (which detaches the loop device) and deletes.
class LoopFs {
 public:
  LoopFs(const std::string& kind, uint64_t size_mib) {
    SweepLeftovers();
    char pattern[sizeof(kScratchPattern)];
    std::memcpy(pattern, kScratchPattern, sizeof(pattern));
    if (::mkdtemp(pattern) == nullptr) return;
    dir_ = pattern;
    std::ofstream(dir_ + "/owner.pid") << ::getpid() << "\n";
    image_ = dir_ + "/fs.img";
    mount_point_ = dir_ + "/mnt";
    std::string mkfs = kind == "xfs" ? "mkfs.xfs -q -m reflink=1" : "mkfs.btrfs -q";
    ok_ = ::mkdir(mount_point_.c_str(), 0755) == 0 &&
          Run(absl::StrCat("truncate -s ", size_mib, "M ", image_)) &&
          Run(absl::StrCat(mkfs, " ", image_)) &&
          Run(absl::StrCat("mount -o loop ", image_, " ", mount_point_));
    mounted_ = ok_;
  }
  ~LoopFs() {
    if (mounted_ && !Run("umount " + mount_point_)) Run("umount -l " + mount_point_);
    if (!dir_.empty()) Run("rm -rf " + dir_);
  }
  bool ok() const { return ok_; }
  const std::string& mount_point() const { return mount_point_; }

 private:
  std::string dir_, image_, mount_point_;
  bool ok_ = false;
  bool mounted_ = false;
};

bool IsRoot() {
  if (::geteuid() == 0) return true;
  WARN("storage_fs_test needs root to mount loop filesystems; skipping");
  return false;
}

platform::ExtentSummary Extents(const std::string& path) {
  platform::UniqueFd fd(::open(path.c_str(), O_RDONLY));
  REQUIRE(fd.valid());
  absl::StatusOr<platform::ExtentSummary> summary = platform::SummarizeExtents(fd.get(), path);
  INFO(summary.status().ToString());
  REQUIRE(summary.ok());
  return *summary;
}

std::string FsName(const std::string& path) {
  absl::StatusOr<platform::FilesystemInfo> fs = platform::GetFilesystemInfo(path);
  return fs.ok() ? fs->name : "?";
}

uint64_t Available(StorageBackend& backend) {
  ::sync();
  absl::StatusOr<PoolUsage> usage = backend.Usage();
  REQUIRE(usage.ok());
  return usage->available_bytes;
}

// Snapshots and restores a 256 MiB volume of random data; checks whether the copies share
// extents with the volume (FIEMAP) and how much free space they consume.
void CheckExtentSharing(StorageBackend& backend, bool expect_shared) {
  constexpr uint64_t kSize = 256 * kMiB;
  absl::StatusOr<VolumeInfo> volume = backend.CreateVolume("share-vol", kSize);
  REQUIRE(volume.ok());
  WriteRandom(volume->path, 0, kSize, 99);
  uint64_t before = Available(backend);
  absl::StatusOr<SnapshotInfo> snapshot = backend.CreateSnapshot("share-vol", "share-snap");
  REQUIRE(snapshot.ok());
  absl::StatusOr<VolumeInfo> restored =
      backend.CreateVolumeFromSnapshot("share-restored", "share-snap", 0);
  REQUIRE(restored.ok());
  uint64_t after = Available(backend);
  uint64_t consumed = before > after ? before - after : 0;
  platform::ExtentSummary snap_extents = Extents(snapshot->path);
  platform::ExtentSummary restored_extents = Extents(restored->path);
  std::printf(
      "%s on %s: snapshot+restore of 256 MiB consumed %.1f MiB; shared bytes: "
      "snapshot %.1f MiB, restore %.1f MiB\n",
      backend.Type().c_str(), FsName(backend.Root()).c_str(), consumed / 1048576.0,
      snap_extents.shared_bytes / 1048576.0, restored_extents.shared_bytes / 1048576.0);
  CHECK(Same(ReadBytes(restored->path, 0, kSize), ReadBytes(volume->path, 0, kSize)));
  if (expect_shared) {
    CHECK(snap_extents.shared_bytes >= kSize - kMiB);
    CHECK(restored_extents.shared_bytes >= kSize - kMiB);
    CHECK(consumed < 32 * kMiB);
  } else {
    CHECK(snap_extents.shared_extents == 0);
    CHECK(restored_extents.shared_extents == 0);
    CHECK(Extents(volume->path).shared_extents == 0);
    CHECK(consumed >= 2 * kSize - 16 * kMiB);
  }
}

TEST_CASE("reflink backend on XFS with reflink=1", "[storage][fs]") {
  if (!IsRoot()) return;
  LoopFs fs("xfs", 2048);
  REQUIRE(fs.ok());
  RunAllScenarios("reflink", fs.mount_point() + "/pool", fs.mount_point());
  std::unique_ptr<StorageBackend> backend = OpenOrDie("reflink", fs.mount_point() + "/share");
  CheckExtentSharing(*backend, /*expect_shared=*/true);
}

TEST_CASE("copy backend on XFS shares no extents", "[storage][fs]") {
  if (!IsRoot()) return;
  LoopFs fs("xfs", 2048);
  REQUIRE(fs.ok());
  RunAllScenarios("copy", fs.mount_point() + "/pool", fs.mount_point());
  std::unique_ptr<StorageBackend> backend = OpenOrDie("copy", fs.mount_point() + "/share");
  CheckExtentSharing(*backend, /*expect_shared=*/false);
}

TEST_CASE("btrfs backend refuses XFS", "[storage][fs]") {
  if (!IsRoot()) return;
  LoopFs fs("xfs", 512);
  REQUIRE(fs.ok());
  absl::Status status = OpenStorageBackend("btrfs", fs.mount_point() + "/pool").status();
  CHECK(absl::IsFailedPrecondition(status));
  CHECK(absl::StrContains(status.message(), "filesystem is xfs, not btrfs"));
}

TEST_CASE("reflink backend refuses XFS formatted without reflink", "[storage][fs]") {
  if (!IsRoot()) return;
  char pattern[sizeof(kScratchPattern)];
  std::memcpy(pattern, kScratchPattern, sizeof(pattern));
  REQUIRE(::mkdtemp(pattern) != nullptr);
  std::string dir = pattern;
  std::ofstream(dir + "/owner.pid") << ::getpid() << "\n";
  bool mounted = Run("truncate -s 512M " + dir + "/fs.img") &&
                 Run("mkfs.xfs -q -m reflink=0 " + dir + "/fs.img") &&
                 Run("mkdir " + dir + "/mnt") &&
                 Run("mount -o loop " + dir + "/fs.img " + dir + "/mnt");
  absl::Status status =
      mounted ? OpenStorageBackend("reflink", dir + "/mnt/pool").status() : absl::OkStatus();
  if (mounted) Run("umount " + dir + "/mnt");
  Run("rm -rf " + dir);
  REQUIRE(mounted);
  INFO(status.ToString());
  CHECK(absl::IsFailedPrecondition(status));
  CHECK(absl::StrContains(status.message(), "the xfs filesystem cannot clone files"));
}

TEST_CASE("btrfs backend on btrfs", "[storage][fs]") {
  if (!IsRoot()) return;
  LoopFs fs("btrfs", 2048);
  REQUIRE(fs.ok());
  RunAllScenarios("btrfs", fs.mount_point() + "/pool", fs.mount_point());
  std::unique_ptr<StorageBackend> backend = OpenOrDie("btrfs", fs.mount_point() + "/share");
  CheckExtentSharing(*backend, /*expect_shared=*/true);
  // Volumes are subvolumes and snapshots read-only subvolumes.
  absl::StatusOr<SnapshotInfo> snapshot = backend->GetSnapshot("share-snap");
  REQUIRE(snapshot.ok());
  CHECK(absl::EndsWith(snapshot->path, "/data/disk.img"));
  platform::UniqueFd fd(::open(snapshot->path.c_str(), O_WRONLY));
  CHECK_FALSE(fd.valid());
  CHECK(errno == EROFS);
  struct stat st;
  REQUIRE(::stat((backend->Root() + "/volumes/share-vol").c_str(), &st) == 0);
  CHECK(st.st_ino == 256);
}

TEST_CASE("reflink backend on btrfs", "[storage][fs]") {
  if (!IsRoot()) return;
  LoopFs fs("btrfs", 2048);
  REQUIRE(fs.ok());
  RunAllScenarios("reflink", fs.mount_point() + "/pool", fs.mount_point());
  std::unique_ptr<StorageBackend> backend = OpenOrDie("reflink", fs.mount_point() + "/share");
  CheckExtentSharing(*backend, /*expect_shared=*/true);
}

}  // namespace
}  // namespace berth::agent::testing
