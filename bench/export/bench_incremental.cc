// berth-bench-incremental: incremental export against a full export of the same snapshot.
//
// In one process, on an XFS (reflink=1) loop filesystem it makes: a disk of --gib GiB of data,
// snapshot A, a full download of A (the client's base, with its leaf tree), --percent % of the
// disk's 64 KiB blocks rewritten at scattered offsets, snapshot B. Then, alternating, --runs
// times each after an untimed warm-up:
//   full         a full export of B (the agent's export server + the CLI's transfer engine)
//   incremental  B since A with --base a.img (extent maps; the result a reflink copy of a.img)
// and the same on a `copy` pool (byte-copied snapshots, so the digest method), where the base's
// leaf digests are hashed and sent. Prints each run's wall and CPU seconds (this process and its
// children), the bytes on the wire against the changed bytes, and the ratios. Every result is
// checked against B's digest by the engine itself. Flags: --gib N (default 8), --percent P
// (default 1), --runs N (default 3), --dir DIR (default /var/tmp/berth-bench-incremental).
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench_util.h"
#include "berth/agent/export_server.h"
#include "berth/agent/storage_backend.h"
#include "berth/exportwire/export_wire.h"
#include "cmd_data_incremental.h"
#include "cmd_data_transfer.h"

namespace ba = berth::agent;
namespace bc = berth::cli;
namespace ew = berth::exportwire;

namespace {

using berth::bench::CpuSeconds;
using berth::bench::MakeImage;
using berth::bench::Sh;

struct Run {
  double seconds = 0, cpu = 0;
  uint64_t wire = 0;
  std::string method;
};

std::string g_mount;  // unmounted at exit, also when a step fails

void Unmount() {
  if (!g_mount.empty()) std::system(("umount -q -l " + g_mount + " 2>/dev/null").c_str());
}

template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) {
    std::cout << "bench: " << what << ": " << v.status() << std::endl;
    std::exit(1);
  }
  return *std::move(v);
}

int g_seq = 0;

ba::ExportState Start(ba::ExportServer& server, const std::string& pool, const std::string& snap,
                      const std::string& since) {
  ba::ExportSource s;
  s.pool = pool;
  s.snapshot_id = snap;
  s.since_snapshot_id = since;
  s.ttl = absl::Minutes(30);
  return Must(server.StartExport(absl::StrCat("bench-", ++g_seq), s), "StartExport");
}

Run Full(ba::ExportServer& server, const std::string& pool, const std::string& snap,
         const std::string& out) {
  ba::ExportState st = Start(server, pool, snap, "");
  double cpu0 = CpuSeconds();
  auto t0 = std::chrono::steady_clock::now();
  bc::TransferOptions o{out, 2, nullptr, false, "bench"};
  auto stats = Must(bc::DownloadExport({st.url, st.token, st.ca_cert, ""}, o, {"bench"}), "full");
  Run r{std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
        CpuSeconds() - cpu0, stats.transferred, "full"};
  server.StopExport(st.id);
  return r;
}

Run Incremental(ba::ExportServer& server, const std::string& pool, const std::string& snap,
                const std::string& since, const std::string& base, const std::string& out) {
  ba::ExportState st = Start(server, pool, snap, since);
  double cpu0 = CpuSeconds();
  auto t0 = std::chrono::steady_clock::now();
  bc::IncrementalOptions o{out, base, 2, nullptr, nullptr, false, "bench"};
  auto stats =
      Must(bc::IncrementalDownload({st.url, st.token, st.ca_cert, ""}, o, "bench"), "incremental");
  Run r{std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
        CpuSeconds() - cpu0, stats.transfer.transferred, stats.method};
  server.StopExport(st.id);
  return r;
}

void Remove(const std::string& file) {
  Sh(absl::StrCat("rm -f ", file, " ", file, ".berth-tree ", file, ".berth-progress*"));
}

void Report(const std::string& label, const std::vector<Run>& full, const std::vector<Run>& inc,
            uint64_t changed, double wall_target) {
  std::cout << "\n" << label << "\n";
  std::cout << absl::StrFormat("%-5s %-28s %-36s %-8s %-10s\n", "run", "full export of B",
                               "incremental B since A", "wall", "wire/changed");
  for (size_t i = 0; i < full.size(); ++i) {
    std::cout << absl::StrFormat(
        "%-5d %6.2f s, CPU %6.2f s       %6.2f s, CPU %6.2f s (%s)%*s %6.1f%%  %6.2fx\n", i + 1,
        full[i].seconds, full[i].cpu, inc[i].seconds, inc[i].cpu, inc[i].method,
        static_cast<int>(12 - inc[i].method.size()), "", 100 * inc[i].seconds / full[i].seconds,
        static_cast<double>(inc[i].wire) / changed);
  }
  double worst = 0;
  for (size_t i = 0; i < full.size(); ++i)
    worst = std::max(worst, inc[i].seconds / full[i].seconds);
  std::cout << absl::StrFormat("worst incremental/full wall: %.1f%% (target <= %.0f%%): %s\n",
                               100 * worst, 100 * wall_target,
                               worst <= wall_target ? "met" : "NOT met");
}

}  // namespace

int main(int argc, char** argv) {
  int gib = 8, runs = 3;
  double percent = 1;
  std::string dir = "/var/tmp/berth-bench-incremental";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string f = argv[i], v = argv[i + 1];
    if (f == "--gib") gib = std::atoi(v.c_str());
    if (f == "--runs") runs = std::atoi(v.c_str());
    if (f == "--percent") percent = std::atof(v.c_str());
    if (f == "--dir") dir = v;
  }
  if (geteuid() != 0) {
    std::cout << "bench: needs root (loop-mounts XFS)" << std::endl;
    return 1;
  }
  std::string mnt = dir + "/mnt";
  Sh(absl::StrCat("umount -q ", mnt, " 2>/dev/null; rm -rf ", dir, " && mkdir -p ", mnt));
  g_mount = mnt;
  std::atexit([] {
    Unmount();
    std::system(("rm -rf " + g_mount.substr(0, g_mount.size() - 4)).c_str());
  });
  Sh(absl::StrCat("truncate -s ", 6 * gib + 8, "G ", dir, "/xfs.img && mkfs.xfs -q -m reflink=1 ",
                  dir, "/xfs.img && mount -o loop ", dir, "/xfs.img ", mnt, " && mkdir -p ", mnt,
                  "/client"));
  ba::ExportPools pools;
  pools["reflink"] = Must(ba::OpenStorageBackend("reflink", mnt + "/reflink"), "reflink pool");
  pools["copy"] = Must(ba::OpenStorageBackend("copy", mnt + "/copy"), "copy pool");
  uint64_t size = uint64_t(gib) << 30;
  std::string vol = Must(pools["reflink"]->CreateVolume("v", size), "volume").path;
  MakeImage(vol, gib, gib);  // dense: a 64 MiB random block over the whole disk
  Must(pools["reflink"]->CreateSnapshot("v", "a"), "snapshot A");
  berth::RealClock clock;
  auto server = Must(ba::NewExportServer(ba::ExportServerConfig{}, pools, clock), "server");
  std::string client = mnt + "/client";
  std::string base = client + "/a.img";
  Full(*server, "reflink", "a", base);  // the client's copy of A, with its leaf tree

  // Scattered 64 KiB rewrites of `percent` % of the disk's 64 KiB blocks.
  uint64_t blocks = size / ew::kDigestLeaf;
  uint64_t writes = static_cast<uint64_t>(blocks * percent / 100);
  std::mt19937_64 rng(42);
  std::set<uint64_t> at;
  while (at.size() < writes) at.insert(rng() % blocks);
  {
    int fd = open(vol.c_str(), O_WRONLY | O_CLOEXEC);
    std::vector<char> buf(ew::kDigestLeaf);
    for (uint64_t b : at) {
      for (char& c : buf) c = static_cast<char>(rng());
      if (pwrite(fd, buf.data(), buf.size(), b * ew::kDigestLeaf) != ew::kDigestLeaf) return 1;
    }
    fsync(fd);
    close(fd);
  }
  uint64_t changed = writes * ew::kDigestLeaf;
  Must(pools["reflink"]->CreateSnapshot("v", "b"), "snapshot B");
  std::cout << absl::StrFormat(
      "berth-bench-incremental: %d GiB disk, %llu scattered 64 KiB writes (%.2f%%, %llu bytes) "
      "between A and B; %d alternating runs each after a warm-up\n",
      gib, static_cast<unsigned long long>(writes), percent,
      static_cast<unsigned long long>(changed), runs);

  // The copy pool: byte copies of A and B (different volumes: the digest method).
  std::string snap_a = Must(pools["reflink"]->GetSnapshot("a"), "A").path;
  std::string snap_b = Must(pools["reflink"]->GetSnapshot("b"), "B").path;
  for (const char* s : {"a", "b"}) {  // one byte copy at a time: the disk is sized for that
    std::string v = absl::StrCat("v", s);
    Must(pools["copy"]->ImportVolume(v, s[0] == 'a' ? snap_a : snap_b, size), "copy volume");
    Must(pools["copy"]->CreateSnapshot(v, s), "copy snapshot");
    Must(pools["copy"]->DeleteVolume(v), "delete copy volume");
  }

  // The same base without its leaf tree (as after copying it elsewhere): hashed before the
  // digest method can send its leaves.
  std::string bare = client + "/a-bare.img";
  Sh(absl::StrCat("cp --reflink=always ", base, " ", bare));
  for (std::string pool : {"reflink", "copy", "copy-bare"}) {
    std::string full_out = client + "/full.img", inc_out = client + "/b.img";
    std::string from = pool == "copy-bare" ? bare : base;
    if (pool == "copy-bare") pool = "copy";
    // Warm-up: page cache, the agent's leaf trees of A and B.
    Full(*server, pool, "b", full_out);
    Remove(full_out);
    Incremental(*server, pool, "b", "a", from, inc_out);
    Remove(inc_out);
    std::vector<Run> full, inc;
    for (int r = 0; r < runs; ++r) {
      full.push_back(Full(*server, pool, "b", full_out));
      Remove(full_out);
      inc.push_back(Incremental(*server, pool, "b", "a", from, inc_out));
      Remove(inc_out);
    }
    Report(pool == "reflink" ? "reflink pool (XFS): extent maps, nothing read to find the changes"
           : from == base
               ? "copy pool: the base's stored leaf digests sent, the differing leaves back"
               : "copy pool, base without its .berth-tree: hashed locally first, then as above",
           full, inc, changed, pool == "reflink" ? 0.05 : 0.30);
  }
  server.reset();
  pools.clear();
  return 0;  // atexit unmounts and removes DIR
}
