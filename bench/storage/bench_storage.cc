// berth-bench-storage: times the storage backends' CreateSnapshot and CreateVolumeFromSnapshot
// against the reference tools run as child processes in the same run, on the same files:
//   reflink backend on XFS (reflink=1)  vs  cp --reflink=always SRC DST
//   btrfs backend on btrfs              vs  btrfs subvolume snapshot [-r] SRC DST
// Each figure is the median of --runs runs, each on a fresh id. Needs root (loop mounts).
//
// Usage: berth-bench-storage [--scratch=/var/tmp/berth-bench] [--sizes=1,8] [--runs=5]
//                            [--verbose]

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "berth/agent/storage_backend.h"

extern char** environ;

namespace berth::agent {
namespace {

constexpr uint64_t kGiB = 1ULL << 30;

struct Options {
  std::string scratch = "/var/tmp/berth-bench";
  std::vector<int> sizes_gib = {1, 8};
  int runs = 5;
  bool verbose = false;  // print every run, not just the medians
};

bool Shell(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// Runs argv as a child process and waits; returns whether it exited 0.
bool Spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return false;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Returns the milliseconds `fn` took; exits the program if it failed.
double TimeMs(const std::string& what, const std::function<bool()>& fn) {
  ::sync();  // each run starts with nothing dirty, for ours and the reference alike
  auto start = std::chrono::steady_clock::now();
  bool ok = fn();
  auto end = std::chrono::steady_clock::now();
  if (!ok) {
    std::fprintf(stderr, "failed: %s\n", what.c_str());
    std::exit(1);
  }
  return std::chrono::duration<double, std::milli>(end - start).count();
}

// Times `ours` and `reference` once each; `ours_first` alternates the order between runs so
// neither side always meets a freshly synced filesystem.
void TimePair(bool ours_first, const std::function<bool()>& ours,
              const std::function<bool()>& reference, std::vector<double>* ours_ms,
              std::vector<double>* reference_ms) {
  if (ours_first) ours_ms->push_back(TimeMs("ours", ours));
  reference_ms->push_back(TimeMs("reference", reference));
  if (!ours_first) ours_ms->push_back(TimeMs("ours", ours));
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// A loop-mounted filesystem in a sparse image under `dir`; unmounted and deleted on scope exit.
class LoopFs {
 public:
  LoopFs(const std::string& dir, const std::string& kind, uint64_t size_gib)
      : dir_(dir), mount_point_(dir + "/mnt") {
    std::string image = dir + "/fs.img";
    std::string mkfs = kind == "xfs" ? "mkfs.xfs -q -m reflink=1" : "mkfs.btrfs -q";
    ok_ = Shell("mkdir -p " + mount_point_) &&
          Shell(absl::StrCat("truncate -s ", size_gib, "G ", image)) &&
          Shell(absl::StrCat(mkfs, " ", image)) &&
          Shell(absl::StrCat("mount -o loop ", image, " ", mount_point_));
    mounted_ = ok_;
  }
  ~LoopFs() {
    if (mounted_ && !Shell("umount " + mount_point_)) Shell("umount -l " + mount_point_);
    Shell("rm -rf " + dir_);
  }
  bool ok() const { return ok_; }
  const std::string& mount_point() const { return mount_point_; }

 private:
  std::string dir_, mount_point_;
  bool ok_ = false;
  bool mounted_ = false;
};

// Fills `path` with `size` bytes of incompressible pseudo-random data (splitmix64).
bool FillRandom(const std::string& path, uint64_t size) {
  int fd = ::open(path.c_str(), O_WRONLY);
  if (fd < 0) return false;
  constexpr size_t kChunk = 4 << 20;
  std::vector<uint64_t> buf(kChunk / 8);
  uint64_t state = 0x9E3779B97F4A7C15ULL;
  bool ok = true;
  for (uint64_t offset = 0; ok && offset < size; offset += kChunk) {
    for (uint64_t& word : buf) {
      uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      word = z ^ (z >> 31);
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, size - offset));
    ok = ::pwrite(fd, buf.data(), n, static_cast<off_t>(offset)) == static_cast<ssize_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

struct Row {
  std::string backend, fs, op;
  int size_gib;
  double ours_ms, reference_ms;
  std::string reference;
};

void PrintTable(const std::vector<Row>& rows) {
  std::printf("\n%-8s %-6s %-8s %5s %10s %10s %7s  %-6s %s\n", "backend", "fs", "op", "size",
              "ours ms", "ref ms", "ratio", "target", "reference");
  for (const Row& r : rows) {
    bool met = r.ours_ms <= 1.2 * r.reference_ms + 5.0;
    std::printf("%-8s %-6s %-8s %3dG %10.2f %10.2f %7.2f  %-6s %s\n", r.backend.c_str(),
                r.fs.c_str(), r.op.c_str(), r.size_gib, r.ours_ms, r.reference_ms,
                r.ours_ms / r.reference_ms, met ? "met" : "MISSED", r.reference.c_str());
  }
  std::printf("target: ours <= 1.2 x reference + 5 ms (medians)\n");
}

// Reference commands: snapshot/restore of `src` to `dst` as a child process.
std::vector<std::string> ReferenceCommand(const std::string& type, const std::string& src,
                                          const std::string& dst, bool read_only) {
  if (type == "reflink") return {"cp", "--reflink=always", src, dst};
  if (read_only) return {"btrfs", "-q", "subvolume", "snapshot", "-r", src, dst};
  return {"btrfs", "-q", "subvolume", "snapshot", src, dst};
}

std::string Dir(const std::string& path) { return path.substr(0, path.find_last_of('/')); }

// Benchmarks one backend at one data size; appends two rows (snapshot, restore).
bool BenchSize(StorageBackend& backend, const std::string& fs, const std::string& ref_dir,
               int size_gib, int runs, bool verbose, std::vector<Row>* rows) {
  const std::string type = backend.Type();
  const std::string vol = absl::StrCat("vol-", size_gib, "g");
  absl::StatusOr<VolumeInfo> volume = backend.CreateVolume(vol, size_gib * kGiB);
  if (!volume.ok()) return std::fprintf(stderr, "%s\n", volume.status().ToString().c_str()), false;
  std::printf("%s on %s: writing %d GiB of random data...\n", type.c_str(), fs.c_str(), size_gib);
  std::fflush(stdout);
  if (!FillRandom(volume->path, size_gib * kGiB)) return false;
  // For btrfs the reference snapshots the volume's subvolume; for reflink, the image file.
  std::string ref_src = type == "btrfs" ? Dir(volume->path) : volume->path;
  std::vector<double> ours_snap, ref_snap, ours_restore, ref_restore;
  for (int i = 0; i < runs; ++i) {
    std::string snap = absl::StrCat("snap-", size_gib, "g-", i);
    std::string ref_snap_path = absl::StrCat(ref_dir, "/", snap);
    absl::StatusOr<SnapshotInfo> info = absl::UnknownError("unset");
    TimePair(
        i % 2 == 0,
        [&] {
          info = backend.CreateSnapshot(vol, snap);
          return info.ok();
        },
        [&] { return Spawn(ReferenceCommand(type, ref_src, ref_snap_path, true)); }, &ours_snap,
        &ref_snap);
    std::string res = absl::StrCat("res-", size_gib, "g-", i);
    std::string snap_src = type == "btrfs" ? Dir(info->path) : info->path;
    TimePair(
        i % 2 == 0, [&] { return backend.CreateVolumeFromSnapshot(res, snap, 0).ok(); },
        [&] {
          return Spawn(ReferenceCommand(type, snap_src, absl::StrCat(ref_dir, "/", res), false));
        },
        &ours_restore, &ref_restore);
  }
  if (verbose) {
    for (const auto& [name, values] : {std::pair{"ours snapshot", ours_snap},
                                       {"ref snapshot", ref_snap},
                                       {"ours restore", ours_restore},
                                       {"ref restore", ref_restore}}) {
      std::printf("  %s %dG %-14s", type.c_str(), size_gib, name);
      for (double v : values) std::printf(" %7.2f", v);
      std::printf(" ms\n");
    }
  }
  std::string ref_name = type == "reflink" ? "cp --reflink=always" : "btrfs subvolume snapshot";
  rows->push_back({type, fs, "snapshot", size_gib, Median(ours_snap), Median(ref_snap),
                   ref_name + (type == "btrfs" ? " -r" : "")});
  rows->push_back(
      {type, fs, "restore", size_gib, Median(ours_restore), Median(ref_restore), ref_name});
  return true;
}

bool ParseOptions(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (absl::StartsWith(arg, "--scratch=")) {
      options->scratch = arg.substr(10);
    } else if (absl::StartsWith(arg, "--sizes=")) {
      options->sizes_gib.clear();
      std::vector<std::string> parts = absl::StrSplit(arg.substr(8), ',');
      for (const std::string& part : parts) {
        int size = 0;
        if (!absl::SimpleAtoi(part, &size) || size <= 0) return false;
        options->sizes_gib.push_back(size);
      }
    } else if (arg == "--verbose") {
      options->verbose = true;
    } else if (absl::StartsWith(arg, "--runs=")) {
      if (!absl::SimpleAtoi(arg.substr(7), &options->runs) || options->runs <= 0) return false;
    } else {
      return false;
    }
  }
  return !options->sizes_gib.empty();
}

// Runs every size for one (backend type, filesystem) pair on a fresh loop filesystem.
bool BenchFilesystem(const Options& options, const std::string& type, const std::string& fs,
                     std::vector<Row>* rows) {
  int total_gib = 0;
  for (int size : options.sizes_gib) total_gib += size;
  LoopFs loop(options.scratch + "/" + fs, fs, static_cast<uint64_t>(total_gib) + 4);
  if (!loop.ok()) return std::fprintf(stderr, "cannot create %s filesystem\n", fs.c_str()), false;
  std::string ref_dir = loop.mount_point() + "/reference";
  if (!Shell("mkdir -p " + ref_dir)) return false;
  bool ok = true;
  {
    absl::StatusOr<std::unique_ptr<StorageBackend>> backend =
        OpenStorageBackend(type, loop.mount_point() + "/pool");
    if (!backend.ok()) {
      std::fprintf(stderr, "%s\n", backend.status().ToString().c_str());
      return false;
    }
    for (int size : options.sizes_gib) {
      ok = ok && BenchSize(**backend, fs, ref_dir, size, options.runs, options.verbose, rows);
    }
  }
  return ok;
}

int Main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, &options)) {
    std::fprintf(stderr, "usage: %s [--scratch=DIR] [--sizes=1,8] [--runs=5] [--verbose]\n",
                 argv[0]);
    return 2;
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "berth-bench-storage needs root (it loop-mounts XFS and btrfs)\n");
    return 1;
  }
  // A run killed earlier may have left mounts behind.
  for (const char* fs : {"xfs", "btrfs"}) {
    std::string dir = options.scratch + "/" + fs;
    if (Shell("mountpoint -q " + dir + "/mnt") && !Shell("umount " + dir + "/mnt")) {
      Shell("umount -l " + dir + "/mnt");
    }
    Shell("rm -rf " + dir);
  }
  std::vector<Row> rows;
  bool ok = BenchFilesystem(options, "reflink", "xfs", &rows) &&
            BenchFilesystem(options, "btrfs", "btrfs", &rows);
  Shell("rmdir " + options.scratch);
  PrintTable(rows);
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace berth::agent

int main(int argc, char** argv) { return berth::agent::Main(argc, argv); }
