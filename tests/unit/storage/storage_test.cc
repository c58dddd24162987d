// The copy backend on a temporary directory under /tmp, plus the pieces every backend shares.

#include <fcntl.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "berth/agent/storage_backend.h"
#include "platform/files.h"
#include "platform/fs_ioctl.h"
#include "scenarios.h"
#include "storage/keyed_mutex.h"
#include "storage/pool_fs.h"
#include "storage/sparse_copy.h"

namespace berth::agent::testing {
namespace {

// A fresh directory under /tmp, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/berth-storage-test-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST_CASE("copy backend passes every scenario on a plain directory", "[storage]") {
  TempDir dir;
  RunAllScenarios("copy", dir.path() + "/pool/nested", dir.path());
}

TEST_CASE("unknown backend type is InvalidArgument", "[storage]") {
  TempDir dir;
  absl::Status status = OpenStorageBackend("zfs", dir.path()).status();
  CHECK(absl::IsInvalidArgument(status));
  CHECK(absl::StrContains(status.message(), "zfs"));
}

TEST_CASE("reflink and btrfs refuse a filesystem that lacks the feature", "[storage]") {
  TempDir dir;
  absl::StatusOr<platform::FilesystemInfo> fs = platform::GetFilesystemInfo(dir.path());
  REQUIRE(fs.ok());
  if (fs->name == "xfs" || fs->name == "btrfs") {
    WARN("/tmp is " << fs->name << ": the refusal is checked by storage_fs_test instead");
    return;
  }
  absl::Status reflink = OpenStorageBackend("reflink", dir.path() + "/r").status();
  INFO(reflink.ToString());
  CHECK(absl::IsFailedPrecondition(reflink));
  CHECK(absl::StrContains(reflink.message(), "cannot clone files"));
  CHECK(absl::StrContains(reflink.message(), fs->name));
  absl::Status btrfs = OpenStorageBackend("btrfs", dir.path() + "/b").status();
  INFO(btrfs.ToString());
  CHECK(absl::IsFailedPrecondition(btrfs));
  CHECK(absl::StrContains(btrfs.message(), "not btrfs"));
  // The failed probe leaves no temporaries behind.
  for (const auto& entry : std::filesystem::directory_iterator(dir.path() + "/r")) {
    CHECK_FALSE(absl::StartsWith(entry.path().filename().string(), ".tmp-"));
  }
}

TEST_CASE("sparse copy keeps data, holes and an unaligned tail", "[storage]") {
  TempDir dir;
  std::string src = dir.path() + "/src";
  std::string dst = dir.path() + "/dst";
  int fd = ::open(src.c_str(), O_WRONLY | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  const uint64_t size = 64 * kMiB + 123;
  REQUIRE(::ftruncate(fd, static_cast<off_t>(size)) == 0);
  ::close(fd);
  std::string middle = WriteRandom(src, 10 * kMiB + 4096, 3 * kMiB, 7);
  std::string end = WriteRandom(src, size - 5000, 5000, 8);

  platform::UniqueFd in(::open(src.c_str(), O_RDONLY));
  platform::UniqueFd out(::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644));
  REQUIRE(in.valid());
  REQUIRE(out.valid());
  REQUIRE(SparseCopy(in.get(), size, out.get(), size + kMiB, "test").ok());
  CHECK(std::filesystem::file_size(dst) == size + kMiB);
  CHECK(Same(ReadBytes(dst, 10 * kMiB + 4096, 3 * kMiB), middle));
  CHECK(Same(ReadBytes(dst, size - 5000, 5000), end));
  CHECK(Same(ReadBytes(dst, 0, 10 * kMiB + 4096), std::string(10 * kMiB + 4096, '\0')));
  CHECK(Same(ReadBytes(dst, size, kMiB), std::string(kMiB, '\0')));
  CHECK(AllocatedBytes(dst) <= AllocatedBytes(src));
  CHECK(AllocatedBytes(dst) < 8 * kMiB);

  platform::UniqueFd small(::open((dir.path() + "/small").c_str(), O_WRONLY | O_CREAT, 0644));
  CHECK(absl::IsInvalidArgument(SparseCopy(in.get(), size, small.get(), size - 1, "t")));
}

TEST_CASE("id validation accepts exactly [a-z0-9][a-z0-9-]{0,127}", "[storage]") {
  CHECK(ValidateId("a", "volume id").ok());
  CHECK(ValidateId("0a-b-", "volume id").ok());
  CHECK(ValidateId(std::string(128, 'z'), "volume id").ok());
  CHECK_FALSE(ValidateId(std::string(129, 'z'), "volume id").ok());
  CHECK_FALSE(ValidateId("-a", "volume id").ok());
  CHECK_FALSE(ValidateId("a\n", "volume id").ok());
  absl::Status status = ValidateId("A", "snapshot id");
  CHECK(absl::StrContains(status.message(), "snapshot id 'A'"));
}

TEST_CASE("keyed mutex serializes one key and not different keys", "[storage]") {
  KeyedMutex locks;
  std::atomic<bool> other_key_ran{false};
  std::atomic<bool> same_key_ran{false};
  std::thread same;
  {
    KeyedMutex::Lock held = locks.Exclusive("a");
    std::thread other([&] {
      KeyedMutex::Lock lock = locks.Exclusive("b");
      other_key_ran = true;
    });
    same = std::thread([&] {
      KeyedMutex::Lock lock = locks.Exclusive("a");
      same_key_ran = true;
    });
    other.join();
    CHECK(other_key_ran);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK_FALSE(same_key_ran);
    KeyedMutex::Lock reader = locks.Shared("c");
    std::atomic<bool> second_reader_ran{false};
    std::thread([&] {
      KeyedMutex::Lock lock = locks.Shared("c");  // readers share
      second_reader_ran = true;
    }).join();
    CHECK(second_reader_ran);
  }
  same.join();
  CHECK(same_key_ran);
}

}  // namespace
}  // namespace berth::agent::testing
