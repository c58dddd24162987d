// berth-bench-export: Berth's export path against nginx + curl over HTTPS and `cat`.
//
// Runs, in one process run and on the same files:
//   1. dense image (default 4 GiB): Berth (the agent's export server + the CLI's transfer
//      engine: extents, parallel ranged GETs, the SHA-256 tree digest checked by the client
//      against the snapshot's stored one, sparse write) exporting a snapshot to a file; nginx
//      (Debian package, self-signed cert, loopback) -> `curl -o`; `cat > /dev/null`.
//   2. sparse 64 GiB image with 1 GiB of data: Berth to a file, beside `cat` of 1 GiB and
//      beside Berth exporting the same 1 GiB as a dense image.
//   3. the digest's multi-lane SHA-256 beside OpenSSL's SHA-256 over the same 64 MiB.
// Every source is read once first so all runs see a warm page cache. Dense: after one untimed
// warm-up run each, Berth and nginx + curl run --rounds times each (default 5), alternating, and
// every run is printed with its wall time, its CPU seconds per GiB (user + system of this
// process, its waited-for children and nginx's master and worker) and both ratios. Sparse: the
// two Berth runs three times each, alternating, fastest of each kept. Flags: --gib N, --dir DIR
// (images), --out-dir DIR (outputs; default --dir), --connections N, --rounds N, --cold (drop
// the page cache before each timed run, so sources are read from the disk under --dir),
// --only-berth (dense Berth runs only, e.g. under perf).
// While the runs go, the export server's access log goes to DIR/agent.log.
#include <fcntl.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench_util.h"
#include "berth/agent/export_server.h"
#include "berth/exportwire/export_wire.h"
#include "berth/exportwire/sha256_lanes.h"
#include "cmd_data_transfer.h"

namespace ba = berth::agent;
namespace bc = berth::cli;

namespace {

using berth::bench::CpuSeconds;
using berth::bench::MakeImage;
using berth::bench::Seconds;
using berth::bench::Sh;

// One timed run: wall and CPU seconds. Keep() holds the fastest of several.
struct Run {
  double seconds = 0, cpu = 0;
  void Keep(const Run& r) {
    if (seconds == 0 || r.seconds < seconds) *this = r;
  }
};

// CPU seconds (user + system) used so far by process `pid` and by its live children (nginx's
// master and worker: neither is waited for while the runs go, so getrusage does not see them).
double ProcessTreeCpuSeconds(pid_t pid) {
  auto stat_of = [](const std::string& path, pid_t* ppid) -> double {
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t paren = text.rfind(')');
    if (paren == std::string::npos) return 0;
    std::istringstream fields(text.substr(paren + 2));
    std::string
        f[13];  // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    for (std::string& x : f) fields >> x;
    *ppid = std::atoi(f[1].c_str());
    return (std::atof(f[11].c_str()) + std::atof(f[12].c_str())) / sysconf(_SC_CLK_TCK);
  };
  double total = 0;
  for (const auto& d : std::filesystem::directory_iterator("/proc")) {
    std::string name = d.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t ppid = 0;
    double cpu = stat_of(d.path().string() + "/stat", &ppid);
    if (std::atoi(name.c_str()) == pid || ppid == pid) total += cpu;
  }
  return total;
}

// `also`: a process tree whose CPU counts too (nginx), or 0.
Run Measure(const std::function<void()>& f, pid_t also = 0) {
  double cpu0 = CpuSeconds() + (also > 0 ? ProcessTreeCpuSeconds(also) : 0);
  double t = Seconds(f);
  return {t, CpuSeconds() + (also > 0 ? ProcessTreeCpuSeconds(also) : 0) - cpu0};
}

// Returns MB/s of the export digest (multi-lane, the kernel picked at run time) and of
// OpenSSL's SHA-256, on one core, and every kernel's MB/s (best of three passes each).
struct DigestRates {
  double lanes = 0, openssl = 0;
  std::string kernels;
};
DigestRates MeasureDigestRates() {
  namespace ew = berth::exportwire;
  std::vector<uint8_t> buf(16 * ew::kChunkSize);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 2654435761u >> 13);
  auto lanes_rate = [&] {
    double best = 0;
    for (int pass = 0; pass < 3; ++pass) {
      double t = Seconds([&] {
        for (size_t off = 0; off < buf.size(); off += ew::kChunkSize) {
          ew::ChunkDigest(buf.data() + off, ew::kChunkSize);
        }
      });
      best = std::max(best, buf.size() / t / 1e6);
    }
    return best;
  };
  DigestRates r;
  r.lanes = lanes_rate();
  std::string picked = ew::Sha256LanesKernel();
  for (const char* k : {"shani", "avx512", "avx2"}) {
    if (ew::ForceSha256LanesKernel(k))
      absl::StrAppendFormat(&r.kernels, " %s %.0f", k, lanes_rate());
  }
  ew::ForceSha256LanesKernel(picked.c_str());
  unsigned char out[32];
  double openssl = Seconds([&] { SHA256(buf.data(), buf.size(), out); });
  r.openssl = buf.size() / openssl / 1e6;
  return r;
}

int g_connections = 2;  // --connections, as `berth data export download --connections`

void BerthDownload(ba::ExportServer& server, const std::string& id, const std::string& out) {
  ba::ExportSource source;
  source.pool = "bench";
  source.snapshot_id = id;
  source.ttl = absl::Minutes(10);
  auto st = server.StartExport(id, source);
  if (!st.ok()) {
    std::cout << "bench: " << st.status() << std::endl;
    std::exit(1);
  }
  bc::TransferOptions o{out, g_connections, nullptr, false, "bench"};
  auto stats = bc::DownloadExport({st->url, st->token, st->ca_cert, ""}, o, {"bench"});
  if (!stats.ok()) {
    std::cout << "bench: " << stats.status() << std::endl;
    std::exit(1);
  }
  server.StopExport(id);
}

// Starts nginx serving `dir` over HTTPS on `port`; returns its pid.
pid_t StartNginx(const std::string& dir, int port) {
  Sh(absl::StrCat("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 ",
                  "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout ", dir,
                  "/key.pem -out ", dir, "/cert.pem 2>/dev/null"));
  std::ofstream conf(dir + "/nginx.conf");
  conf << "worker_processes 1; pid " << dir << "/nginx.pid; error_log " << dir
       << "/error.log; daemon off;\nevents {}\nhttp { access_log off; sendfile on;\n"
       << " client_body_temp_path " << dir << "; proxy_temp_path " << dir << ";\n"
       << " fastcgi_temp_path " << dir << "; uwsgi_temp_path " << dir << "; scgi_temp_path " << dir
       << ";\n server { listen 127.0.0.1:" << port << " ssl; root " << dir << "/www;\n"
       << "  ssl_certificate " << dir << "/cert.pem; ssl_certificate_key " << dir
       << "/key.pem; ssl_protocols TLSv1.2 TLSv1.3; } }\n";
  conf.close();
  pid_t pid = fork();
  if (pid == 0) {
    execlp("nginx", "nginx", "-c", (dir + "/nginx.conf").c_str(), "-p", dir.c_str(), nullptr);
    _exit(127);
  }
  Sh(absl::StrCat("for i in $(seq 100); do curl -s -o /dev/null --cacert ", dir,
                  "/cert.pem https://127.0.0.1:", port, "/ && exit 0; sleep 0.05; done; exit 1"));
  return pid;
}

}  // namespace

int main(int argc, char** argv) {
  // tmpfs by default: the runs measure transport and CPU, not the disk's writeback rate.
  std::string dir = "/dev/shm/berth-bench-export";
  std::string out_dir;
  int gib = 4;
  bool cold = false, only_berth = false;
  int rounds = 5;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--cold" || arg == "--only-berth") {
      (arg == "--cold" ? cold : only_berth) = true;
      continue;
    }
    if (i + 1 == argc) break;
    if (arg == "--dir") dir = argv[++i];
    if (arg == "--out-dir") out_dir = argv[++i];
    if (arg == "--gib") gib = std::atoi(argv[++i]);
    if (arg == "--connections") g_connections = std::atoi(argv[++i]);
    if (arg == "--rounds") rounds = std::max(1, std::atoi(argv[++i]));
  }
  if (out_dir.empty()) out_dir = dir;
  // --cold: every timed run (Berth, nginx + curl, cat) starts with the page cache dropped, so
  // each reads its source from the disk under --dir (which must then not be a tmpfs).
  auto drop_caches = [cold] {
    if (cold) Sh("sync && echo 3 > /proc/sys/vm/drop_caches");
  };
  Sh(absl::StrCat("rm -rf ", dir, " && mkdir -p ", dir, "/www"));
  int log = open((dir + "/agent.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int saved_stderr = dup(2);
  if (log < 0 || saved_stderr < 0) return 1;
  auto backend = ba::OpenStorageBackend("copy", dir + "/pool");
  if (!backend.ok()) return 1;
  ba::ExportPools pools;
  pools["bench"] = *std::move(backend);
  for (auto [id, size] : {std::pair<std::string, int>{"dense", gib}, {"sparse", 64}, {"one", 1}}) {
    pools["bench"]->CreateVolume(id, uint64_t(size) << 30).status().IgnoreError();
  }
  std::string dense = pools["bench"]->GetVolume("dense")->path;
  std::string sparse = pools["bench"]->GetVolume("sparse")->path;
  std::string one = pools["bench"]->GetVolume("one")->path;  // the sparse image's 1 GiB, dense
  std::cout << "preparing: " << gib << " GiB dense image, 64 GiB sparse image with 1 GiB data\n";
  MakeImage(dense, gib, gib);
  if (!only_berth) MakeImage(sparse, 64, 1);
  Sh(absl::StrCat("head -c 1G ", dense, " > ", one, " && cat ", one, " > /dev/null && ln ", dense,
                  " ", dir, "/www/disk.img"));
  // Berth exports snapshots, as `berth data export download vds/NAME` does: the warm-up run
  // stores each snapshot's leaf tree, so the timed runs see the steady state where the agent
  // hashes nothing and only the client verifies. The volumes go (nginx keeps its hard link).
  for (const char* id : {"dense", "sparse", "one"}) {
    if (!pools["bench"]->CreateSnapshot(id, id).ok()) return 1;
    pools["bench"]->DeleteVolume(id).status().IgnoreError();
  }
  dense = pools["bench"]->GetSnapshot("dense")->path;
  sparse = pools["bench"]->GetSnapshot("sparse")->path;
  one = pools["bench"]->GetSnapshot("one")->path;
  berth::RealClock clock;
  auto server = ba::NewExportServer(ba::ExportServerConfig{}, pools, clock);
  if (!server.ok()) return 1;

  Sh(absl::StrCat("mkdir -p ", out_dir));
  std::string out = out_dir + "/out.img";
  DigestRates rates = MeasureDigestRates();
  dup2(log, 2);  // the export server's access log
  pid_t nginx = only_berth ? 0 : StartNginx(dir, 18443);
  // Berth and nginx + curl run `rounds` times each, alternating, after one untimed warm-up run
  // of each. On the development VM freed memory goes back to the host at once (free page
  // reporting), so writing the output faults pages in from the host at a cost that depends on
  // timing: whoever wrote first used to pay most.
  // One timed run, from a dropped cache with --cold; its output is removed after. `also`: a
  // process tree whose CPU counts too (nginx).
  auto timed = [&](const std::function<void()>& f, pid_t also = 0) {
    drop_caches();
    Run r = Measure(f, also);
    Sh("rm -f " + out);
    return r;
  };
  auto berth_dense = [&] { BerthDownload(**server, "dense", out); };
  auto nginx_curl = [&] {
    Sh(absl::StrCat("curl -s --cacert ", dir, "/cert.pem -o ", out,
                    " https://127.0.0.1:18443/disk.img"));
  };
  std::vector<Run> berth, ng;
  Run berth_warm = timed(berth_dense), ng_warm;
  if (!only_berth) ng_warm = timed(nginx_curl, nginx);
  for (int round = 0; round < rounds; ++round) {
    berth.push_back(timed(berth_dense));
    if (!only_berth) ng.push_back(timed(nginx_curl, nginx));
  }
  double cat = 0, cat1 = 0;
  std::vector<Run> dense1, sp;
  if (!only_berth) {
    kill(nginx, SIGTERM);
    waitpid(nginx, nullptr, 0);
    drop_caches();
    cat = Seconds([&] { Sh(absl::StrCat("cat ", dense, " > /dev/null")); });
    drop_caches();
    cat1 = Seconds([&] { Sh(absl::StrCat("cat ", one, " > /dev/null")); });
    for (int round = 0; round < 3; ++round) {
      dense1.push_back(timed([&] { BerthDownload(**server, "one", out); }));
      sp.push_back(timed([&] { BerthDownload(**server, "sparse", out); }));
    }
  }
  dup2(saved_stderr, 2);
  Sh(absl::StrCat("rm -rf ", dir, " ", out_dir));

  double bytes = double(gib) * (1 << 30);
  auto per_gib = [&](const Run& r) { return r.cpu / gib; };
  auto line = [&](const std::string& what, const Run& b, const Run& n) {
    std::string s = absl::StrFormat("  %-8s berth %6.2f s %5.2f GB/s %5.2f CPU-s/GiB", what,
                                    b.seconds, bytes / b.seconds / 1e9, per_gib(b));
    if (n.seconds > 0) {
      absl::StrAppendFormat(&s, " | nginx+curl %6.2f s %5.2f CPU-s/GiB | wall %.2fx CPU %.2fx",
                            n.seconds, per_gib(n), b.seconds / n.seconds, b.cpu / n.cpu);
    }
    return s + "\n";
  };
  std::cout << (cold ? "sources read cold (page cache dropped before each run)\n"
                     : "sources in the page cache\n")
            << absl::StrFormat(
                   "dense %d GiB, %d alternating runs each (CPU = user + system of this process, "
                   "its children and nginx's processes):\n",
                   gib, rounds)
            << line("warm-up", berth_warm, ng_warm);
  double worst_wall = 0, worst_cpu = 0;
  for (int round = 0; round < rounds; ++round) {
    Run n = only_berth ? Run{} : ng[round];
    std::cout << line(absl::StrCat("run ", round + 1), berth[round], n);
    if (n.seconds > 0) {
      worst_wall = std::max(worst_wall, berth[round].seconds / n.seconds);
      worst_cpu = std::max(worst_cpu, berth[round].cpu / n.cpu);
    }
  }
  if (only_berth) return 0;
  Run d1, s1;
  for (const Run& r : dense1) d1.Keep(r);
  for (const Run& r : sp) s1.Keep(r);
  std::cout << absl::StrFormat(
                   "  worst berth / nginx+curl: wall %.2fx (target <= 1.00: %s), CPU %.2fx "
                   "(target <= 1.00: %s)\n",
                   worst_wall, worst_wall <= 1 ? "met" : "NOT met", worst_cpu,
                   worst_cpu <= 1 ? "met" : "NOT met")
            << absl::StrFormat("  cat > /dev/null        %6.2f s  %6.2f GB/s\n", cat,
                               bytes / cat / 1e9)
            << "sparse 64 GiB with 1 GiB data, against the same 1 GiB as a dense image (3 runs "
               "each, alternating):\n";
  for (size_t k = 0; k < sp.size(); ++k) {
    std::cout << absl::StrFormat(
        "  run %d    sparse %5.2f s (CPU %.2f s) | 1 GiB dense %5.2f s (CPU %.2f s) | %.2fx\n",
        k + 1, sp[k].seconds, sp[k].cpu, dense1[k].seconds, dense1[k].cpu,
        sp[k].seconds / dense1[k].seconds);
  }
  std::cout << absl::StrFormat(
                   "  fastest: sparse %.2f s / dense %.2f s = %.2fx (target <= 1.05: %s); cat of "
                   "1 GiB %.2f s\n",
                   s1.seconds, d1.seconds, s1.seconds / d1.seconds,
                   s1.seconds <= 1.05 * d1.seconds ? "met" : "NOT met", cat1)
            << absl::StrFormat(
                   "digest, one core: %s multi-lane %.0f MB/s, OpenSSL SHA-256 %.0f "
                   "MB/s (%.1fx); MB/s by kernel:%s\n",
                   berth::exportwire::Sha256LanesKernel(), rates.lanes, rates.openssl,
                   rates.lanes / rates.openssl, rates.kernels);
  return 0;
}
