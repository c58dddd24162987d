#include "scenarios.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace berth::agent::testing {
namespace {

void Touch(const std::string& path, uint64_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, static_cast<off_t>(size)) == 0);
  ::close(fd);
}

std::string StatusText(const absl::Status& status) { return status.ToString(); }

}  // namespace

std::unique_ptr<StorageBackend> OpenOrDie(const std::string& type, const std::string& root) {
  absl::StatusOr<std::unique_ptr<StorageBackend>> backend = OpenStorageBackend(type, root);
  INFO(StatusText(backend.status()));
  REQUIRE(backend.ok());
  return *std::move(backend);
}

std::string WriteRandom(const std::string& path, uint64_t offset, uint64_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string data(size, '\0');
  for (size_t i = 0; i + 8 <= data.size(); i += 8) {
    uint64_t word = rng();
    std::memcpy(&data[i], &word, 8);
  }
  int fd = ::open(path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)) ==
          static_cast<ssize_t>(data.size()));
  REQUIRE(::fsync(fd) == 0);
  ::close(fd);
  return data;
}

std::string ReadBytes(const std::string& path, uint64_t offset, uint64_t size) {
  std::string data(size, '\0');
  int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  ssize_t n = ::pread(fd, data.data(), data.size(), static_cast<off_t>(offset));
  ::close(fd);
  REQUIRE(n >= 0);
  data.resize(static_cast<size_t>(n));
  return data;
}

bool Same(const std::string& a, const std::string& b) {
  if (a == b) return true;
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  UNSCOPED_INFO("contents differ: sizes " << a.size() << " and " << b.size()
                                          << ", first difference at offset " << i);
  return false;
}

uint64_t AllocatedBytes(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

void CheckSnapshotRestoreRoundTrip(StorageBackend& backend) {
  absl::StatusOr<VolumeInfo> volume = backend.CreateVolume("rt-vol", 16 * kMiB);
  INFO(StatusText(volume.status()));
  REQUIRE(volume.ok());
  CHECK(volume->size_bytes == 16 * kMiB);
  CHECK(absl::StartsWith(volume->path, backend.Root() + "/"));
  CHECK(Same(ReadBytes(volume->path, 0, 4096), std::string(4096, '\0')));
  std::string head = WriteRandom(volume->path, 0, 2 * kMiB, 1);
  std::string tail = WriteRandom(volume->path, 14 * kMiB, 2 * kMiB, 2);

  absl::StatusOr<SnapshotInfo> snapshot = backend.CreateSnapshot("rt-vol", "rt-snap");
  INFO(StatusText(snapshot.status()));
  REQUIRE(snapshot.ok());
  CHECK(snapshot->volume_id == "rt-vol");
  CHECK(snapshot->size_bytes == 16 * kMiB);
  std::string at_snapshot = ReadBytes(volume->path, 0, 16 * kMiB);

  WriteRandom(volume->path, 0, 16 * kMiB, 3);  // overwrite everything
  CHECK(Same(ReadBytes(snapshot->path, 0, 16 * kMiB), at_snapshot));

  absl::StatusOr<VolumeInfo> restored =
      backend.CreateVolumeFromSnapshot("rt-restored", "rt-snap", 32 * kMiB);
  INFO(StatusText(restored.status()));
  REQUIRE(restored.ok());
  CHECK(restored->size_bytes == 32 * kMiB);
  CHECK(Same(ReadBytes(restored->path, 0, 16 * kMiB), at_snapshot));
  CHECK(Same(ReadBytes(restored->path, 16 * kMiB, 16 * kMiB), std::string(16 * kMiB, '\0')));
  CHECK(Same(ReadBytes(restored->path, 0, 2 * kMiB), head));
  CHECK(Same(ReadBytes(restored->path, 14 * kMiB, 2 * kMiB), tail));

  // The restored volume is writable and independent of the snapshot.
  WriteRandom(restored->path, 0, kMiB, 4);
  CHECK(Same(ReadBytes(snapshot->path, 0, 16 * kMiB), at_snapshot));

  absl::StatusOr<VolumeInfo> same_size =
      backend.CreateVolumeFromSnapshot("rt-same", "rt-snap", 0);  // 0: the snapshot's size
  REQUIRE(same_size.ok());
  CHECK(same_size->size_bytes == 16 * kMiB);
  CHECK(Same(ReadBytes(same_size->path, 0, 16 * kMiB), at_snapshot));

  absl::StatusOr<std::vector<SnapshotInfo>> list = backend.ListSnapshots();
  REQUIRE(list.ok());
  bool found = false;
  for (const SnapshotInfo& s : *list) {
    if (s.id != "rt-snap") continue;
    found = true;
    CHECK(s.volume_id == "rt-vol");
    CHECK(s.size_bytes == 16 * kMiB);
    CHECK(s.path == snapshot->path);
  }
  CHECK(found);
  struct stat st;
  REQUIRE(::stat(snapshot->path.c_str(), &st) == 0);
  if (backend.Type() != "btrfs") CHECK((st.st_mode & 0777) == 0444);
}

void CheckIdempotency(StorageBackend& backend) {
  absl::StatusOr<VolumeInfo> first = backend.CreateVolume("idem-vol", 4 * kMiB);
  REQUIRE(first.ok());
  std::string data = WriteRandom(first->path, 0, kMiB, 10);
  absl::StatusOr<VolumeInfo> again = backend.CreateVolume("idem-vol", 4 * kMiB);
  REQUIRE(again.ok());
  CHECK(again->path == first->path);
  CHECK(Same(ReadBytes(again->path, 0, kMiB), data));  // not recreated
  CHECK(absl::IsAlreadyExists(backend.CreateVolume("idem-vol", 8 * kMiB).status()));

  absl::StatusOr<SnapshotInfo> snapshot = backend.CreateSnapshot("idem-vol", "idem-snap");
  REQUIRE(snapshot.ok());
  WriteRandom(first->path, 0, kMiB, 11);
  absl::StatusOr<SnapshotInfo> snapshot_again = backend.CreateSnapshot("idem-vol", "idem-snap");
  REQUIRE(snapshot_again.ok());
  CHECK(snapshot_again->path == snapshot->path);
  CHECK(Same(ReadBytes(snapshot_again->path, 0, kMiB), data));  // still the first cut

  REQUIRE(backend.CreateVolume("idem-other", 4 * kMiB).ok());
  absl::Status other = backend.CreateSnapshot("idem-other", "idem-snap").status();
  CHECK(absl::IsFailedPrecondition(other));
  CHECK(absl::StrContains(other.message(), "idem-vol"));

  absl::StatusOr<VolumeInfo> restored =
      backend.CreateVolumeFromSnapshot("idem-restored", "idem-snap", 4 * kMiB);
  REQUIRE(restored.ok());
  WriteRandom(restored->path, 0, kMiB, 12);
  std::string changed = ReadBytes(restored->path, 0, kMiB);
  absl::StatusOr<VolumeInfo> restored_again =
      backend.CreateVolumeFromSnapshot("idem-restored", "idem-snap", 4 * kMiB);
  REQUIRE(restored_again.ok());
  CHECK(Same(ReadBytes(restored_again->path, 0, kMiB), changed));  // existing volume returned
}

void CheckBadIdsAndMissing(StorageBackend& backend) {
  const std::vector<std::string> bad = {"",    "-lead",  "UPPER", "a/b",    "..",
                                        "a.b", ".tmp-x", "a_b",   "sp ace", std::string(129, 'a')};
  for (const std::string& id : bad) {
    INFO("id '" << id << "'");
    CHECK(absl::IsInvalidArgument(backend.CreateVolume(id, kMiB).status()));
    CHECK(absl::IsInvalidArgument(backend.GetVolume(id).status()));
    CHECK(absl::IsInvalidArgument(backend.DeleteVolume(id).status()));
    CHECK(absl::IsInvalidArgument(backend.CreateSnapshot(id, "ok").status()));
    CHECK(absl::IsInvalidArgument(backend.CreateSnapshot("ok", id).status()));
    CHECK(absl::IsInvalidArgument(backend.GetSnapshot(id).status()));
    CHECK(absl::IsInvalidArgument(backend.DeleteSnapshot(id).status()));
    CHECK(absl::IsInvalidArgument(backend.CreateVolumeFromSnapshot(id, "ok", kMiB).status()));
    CHECK(absl::IsInvalidArgument(backend.CreateVolumeFromSnapshot("ok", id, kMiB).status()));
    CHECK(absl::IsInvalidArgument(backend.ImportVolume(id, "/etc/hostname", kMiB).status()));
  }
  CHECK(backend.CreateVolume(std::string(128, 'a'), kMiB).ok());
  CHECK(backend.CreateVolume("0-9", kMiB).ok());
  CHECK(absl::IsInvalidArgument(backend.CreateVolume("zero-size", 0).status()));

  absl::Status missing = backend.GetVolume("no-such-volume").status();
  CHECK(absl::IsNotFound(missing));
  CHECK(absl::StrContains(missing.message(), "no-such-volume"));
  CHECK(absl::IsNotFound(backend.GetSnapshot("no-such-snap").status()));
  CHECK(absl::IsNotFound(backend.CreateSnapshot("no-such-volume", "snap-x").status()));
  absl::Status no_snap = backend.CreateVolumeFromSnapshot("vol-x", "no-such-snap", kMiB).status();
  CHECK(absl::IsNotFound(no_snap));
  CHECK(absl::StrContains(no_snap.message(), "no-such-snap"));
  CHECK(absl::IsNotFound(backend.GetVolume("vol-x").status()));  // nothing half-made
  CHECK(absl::IsNotFound(backend.ImportVolume("vol-y", "/nonexistent/image", kMiB).status()));
}

void CheckSmallerSizeRejected(StorageBackend& backend, const std::string& scratch_dir) {
  REQUIRE(backend.CreateVolume("small-vol", 2 * kMiB).ok());
  REQUIRE(backend.CreateSnapshot("small-vol", "small-snap").ok());
  absl::Status status =
      backend.CreateVolumeFromSnapshot("small-restored", "small-snap", kMiB).status();
  CHECK(absl::IsInvalidArgument(status));
  CHECK(absl::StrContains(status.message(),
                          "requested size 1048576 bytes is smaller than the snapshot's 2097152 "
                          "bytes"));
  CHECK(absl::IsNotFound(backend.GetVolume("small-restored").status()));

  std::string source = scratch_dir + "/small-source.img";
  Touch(source, 2 * kMiB);
  status = backend.ImportVolume("small-import", source, kMiB).status();
  CHECK(absl::IsInvalidArgument(status));
  CHECK(absl::StrContains(status.message(), "1048576"));
  CHECK(absl::StrContains(status.message(), "2097152"));
  CHECK(absl::IsNotFound(backend.GetVolume("small-import").status()));
  std::remove(source.c_str());
}

void CheckDeleteFlags(StorageBackend& backend) {
  absl::StatusOr<VolumeInfo> volume = backend.CreateVolume("del-vol", 4 * kMiB);
  REQUIRE(volume.ok());
  std::string data = WriteRandom(volume->path, 0, kMiB, 20);
  absl::StatusOr<SnapshotInfo> snapshot = backend.CreateSnapshot("del-vol", "del-snap");
  REQUIRE(snapshot.ok());

  absl::StatusOr<bool> deleted = backend.DeleteVolume("del-vol");
  REQUIRE(deleted.ok());
  CHECK(*deleted);
  deleted = backend.DeleteVolume("del-vol");
  REQUIRE(deleted.ok());
  CHECK_FALSE(*deleted);
  CHECK(absl::IsNotFound(backend.GetVolume("del-vol").status()));

  // The snapshot outlives its volume and still restores.
  absl::StatusOr<SnapshotInfo> still = backend.GetSnapshot("del-snap");
  REQUIRE(still.ok());
  CHECK(still->volume_id == "del-vol");
  CHECK(backend.CreateSnapshot("del-vol", "del-snap").ok());  // idempotent without the volume
  absl::StatusOr<VolumeInfo> restored = backend.CreateVolumeFromSnapshot("del-back", "del-snap", 0);
  REQUIRE(restored.ok());
  CHECK(Same(ReadBytes(restored->path, 0, kMiB), data));

  deleted = backend.DeleteSnapshot("del-snap");
  REQUIRE(deleted.ok());
  CHECK(*deleted);
  deleted = backend.DeleteSnapshot("del-snap");
  REQUIRE(deleted.ok());
  CHECK_FALSE(*deleted);
  CHECK(absl::IsNotFound(backend.GetSnapshot("del-snap").status()));
  CHECK(Same(ReadBytes(restored->path, 0, kMiB), data));  // restored volume is independent
}

void CheckSparseness(StorageBackend& backend, const std::string& scratch_dir) {
  absl::StatusOr<VolumeInfo> volume = backend.CreateVolume("sparse-vol", 256 * kMiB);
  REQUIRE(volume.ok());
  CHECK(AllocatedBytes(volume->path) < kMiB);
  std::string a = WriteRandom(volume->path, 8 * kMiB, kMiB, 30);
  std::string b = WriteRandom(volume->path, 200 * kMiB, kMiB, 31);
  uint64_t volume_bytes = AllocatedBytes(volume->path);

  absl::StatusOr<SnapshotInfo> snapshot = backend.CreateSnapshot("sparse-vol", "sparse-snap");
  REQUIRE(snapshot.ok());
  uint64_t snapshot_bytes = AllocatedBytes(snapshot->path);
  INFO("volume allocates " << volume_bytes << ", snapshot " << snapshot_bytes);
  CHECK(snapshot_bytes <= volume_bytes);
  CHECK(snapshot_bytes < 8 * kMiB);

  absl::StatusOr<VolumeInfo> restored =
      backend.CreateVolumeFromSnapshot("sparse-restored", "sparse-snap", 512 * kMiB);
  REQUIRE(restored.ok());
  CHECK(AllocatedBytes(restored->path) < 8 * kMiB);
  CHECK(Same(ReadBytes(restored->path, 200 * kMiB, kMiB), b));

  std::string source = scratch_dir + "/sparse-source.img";
  Touch(source, 128 * kMiB);
  std::string c = WriteRandom(source, 64 * kMiB, kMiB, 32);
  absl::StatusOr<VolumeInfo> imported = backend.ImportVolume("sparse-import", source, 0);
  REQUIRE(imported.ok());
  CHECK(imported->size_bytes == 128 * kMiB);
  CHECK(AllocatedBytes(imported->path) <= AllocatedBytes(source));
  CHECK(Same(ReadBytes(imported->path, 64 * kMiB, kMiB), c));
  CHECK(Same(ReadBytes(imported->path, 0, kMiB), std::string(kMiB, '\0')));
  absl::StatusOr<VolumeInfo> grown = backend.ImportVolume("sparse-import-big", source, 1024 * kMiB);
  REQUIRE(grown.ok());
  CHECK(grown->size_bytes == 1024 * kMiB);
  CHECK(AllocatedBytes(grown->path) < 8 * kMiB);
  std::remove(source.c_str());
}

void CheckConcurrency(StorageBackend& backend) {
  REQUIRE(backend.CreateVolume("conc-src", 8 * kMiB).ok());
  constexpr int kThreads = 8;
  std::vector<absl::Status> distinct(kThreads);
  std::vector<absl::StatusOr<SnapshotInfo>> same(kThreads, absl::UnknownError("unset"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      std::string n = std::to_string(i);
      absl::Status status = backend.CreateVolume("conc-vol-" + n, 4 * kMiB).status();
      if (status.ok()) status = backend.CreateSnapshot("conc-vol-" + n, "conc-snap-" + n).status();
      if (status.ok()) {
        status = backend.CreateVolumeFromSnapshot("conc-res-" + n, "conc-snap-" + n, 0).status();
      }
      distinct[i] = status;
      same[i] = backend.CreateSnapshot("conc-src", "conc-shared");
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int i = 0; i < kThreads; ++i) {
    INFO("thread " << i << ": " << StatusText(distinct[i]) << " / "
                   << StatusText(same[i].status()));
    CHECK(distinct[i].ok());
    REQUIRE(same[i].ok());
    CHECK(same[i]->path == same[0]->path);
  }
  absl::StatusOr<std::vector<SnapshotInfo>> list = backend.ListSnapshots();
  REQUIRE(list.ok());
  int count = 0;
  for (const SnapshotInfo& s : *list) count += absl::StartsWith(s.id, "conc-") ? 1 : 0;
  CHECK(count == kThreads + 1);
}

void CheckStaleTemporariesCleaned(const std::string& type, const std::string& root) {
  std::string real_root;
  {
    std::unique_ptr<StorageBackend> backend = OpenOrDie(type, root);
    REQUIRE(backend->CreateVolume("stale-vol", 4 * kMiB).ok());
    REQUIRE(backend->CreateSnapshot("stale-vol", "stale-snap").ok());
    REQUIRE(backend->CreateSnapshot("stale-vol", "stale-keep").ok());
    real_root = backend->Root();
    // A second owner of the same pool is refused while the first one is open.
    CHECK(absl::IsFailedPrecondition(OpenStorageBackend(type, root).status()));
  }
  // Simulate crashes: a finished snapshot caught before its rename (for btrfs this holds a
  // read-only subvolume), a half-written volume and a probe file.
  std::string lost = real_root + "/snapshots/.tmp-stale-snap-0123456789abcdef";
  REQUIRE(::rename((real_root + "/snapshots/stale-snap").c_str(), lost.c_str()) == 0);
  std::string half = real_root + "/volumes/.tmp-half-vol-00000000deadbeef";
  REQUIRE(::mkdir(half.c_str(), 0755) == 0);
  Touch(half + "/disk.img", 4 * kMiB);
  std::string probe = real_root + "/.tmp-probe-0000000000000001";
  Touch(probe, 4096);

  std::unique_ptr<StorageBackend> backend = OpenOrDie(type, root);
  struct stat st;
  CHECK(::stat(lost.c_str(), &st) != 0);
  CHECK(::stat(half.c_str(), &st) != 0);
  CHECK(::stat(probe.c_str(), &st) != 0);
  CHECK(absl::IsNotFound(backend->GetSnapshot("stale-snap").status()));
  CHECK(backend->GetSnapshot("stale-keep").ok());
  CHECK(backend->GetVolume("stale-vol").ok());
  // The id of the lost snapshot is usable again.
  CHECK(backend->CreateSnapshot("stale-vol", "stale-snap").ok());
}

void RunAllScenarios(const std::string& type, const std::string& root,
                     const std::string& scratch_dir) {
  {
    std::unique_ptr<StorageBackend> backend = OpenOrDie(type, root);
    CHECK(backend->Type() == type);
    absl::StatusOr<PoolUsage> usage = backend->Usage();
    REQUIRE(usage.ok());
    CHECK(usage->capacity_bytes > 0);
    CHECK(usage->available_bytes <= usage->capacity_bytes);
    CheckSnapshotRestoreRoundTrip(*backend);
    CheckIdempotency(*backend);
    CheckBadIdsAndMissing(*backend);
    CheckSmallerSizeRejected(*backend, scratch_dir);
    CheckDeleteFlags(*backend);
    CheckSparseness(*backend, scratch_dir);
    CheckConcurrency(*backend);
  }
  CheckStaleTemporariesCleaned(type, root);
}

}  // namespace berth::agent::testing
