// berth-bench-export: Berth's export path against nginx + curl over HTTPS and `cat`.
//
// Runs, in one process run and on the same files:
//   1. dense image (default 4 GiB): Berth (the agent's export server + the CLI's transfer
//      engine: extents, parallel ranged GETs, chunked SHA-256 on both ends, sparse write) to a
//      file; nginx (Debian package, self-signed cert, loopback) -> `curl -o`; `cat > /dev/null`.
//   2. sparse 64 GiB image with 1 GiB of data: Berth to a file, beside `cat` of 1 GiB.
// Every source is read once first so all runs see a warm page cache. Prints times and ratios.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "berth/agent/export_server.h"
#include "cmd_data_transfer.h"

namespace ba = berth::agent;
namespace bc = berth::cli;

namespace {

double Seconds(const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void Sh(const std::string& cmd) {
  if (std::system(cmd.c_str()) != 0) {
    std::cerr << "bench: command failed: " << cmd << "\n";
    std::exit(1);
  }
}

// Writes an image: `data_gib` GiB of random-looking data (a 64 MiB random block repeated)
// spread over `size_gib` GiB, in 64 MiB runs.
void MakeImage(const std::string& path, int size_gib, int data_gib) {
  Sh(absl::StrCat("rm -f ", path, " && truncate -s ", size_gib, "G ", path));
  Sh(absl::StrCat("head -c 64M /dev/urandom > ", path, ".blk"));
  int runs = data_gib * 16, stride = size_gib * 16 / runs;
  for (int i = 0; i < runs; ++i) {
    Sh(absl::StrCat("dd if=", path, ".blk of=", path, " bs=64M seek=", i * stride,
                    " conv=notrunc status=none"));
  }
  Sh(absl::StrCat("rm -f ", path, ".blk && cat ", path, " > /dev/null"));
}

double BerthDownload(ba::ExportServer& server, const std::string& id, const std::string& out) {
  auto st = server.StartExport(id, {"bench", id, "", false, false, absl::Minutes(10)});
  if (!st.ok()) {
    std::cerr << "bench: " << st.status() << "\n";
    std::exit(1);
  }
  bc::TransferOptions o{out, 2, nullptr, false, "bench"};
  double t = Seconds([&] {
    auto stats = bc::DownloadExport({st->url, st->token, st->ca_cert}, o, {"bench"});
    if (!stats.ok()) {
      std::cerr << "bench: " << stats.status() << "\n";
      std::exit(1);
    }
  });
  server.StopExport(id);
  return t;
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
  int gib = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--dir") dir = argv[i + 1];
    if (std::string(argv[i]) == "--gib") gib = std::atoi(argv[i + 1]);
  }
  Sh(absl::StrCat("rm -rf ", dir, " && mkdir -p ", dir, "/www"));
  auto backend = ba::OpenStorageBackend("copy", dir + "/pool");
  if (!backend.ok()) return 1;
  ba::ExportPools pools;
  pools["bench"] = *std::move(backend);
  for (auto [id, size] : {std::pair<std::string, int>{"dense", gib}, {"sparse", 64}}) {
    pools["bench"]->CreateVolume(id, uint64_t(size) << 30).status().IgnoreError();
  }
  std::string dense = pools["bench"]->GetVolume("dense")->path;
  std::string sparse = pools["bench"]->GetVolume("sparse")->path;
  std::cout << "preparing: " << gib << " GiB dense image, 64 GiB sparse image with 1 GiB data\n";
  MakeImage(dense, gib, gib);
  MakeImage(sparse, 64, 1);
  Sh(absl::StrCat("head -c 1G ", dense, " > ", dir, "/one.img && cat ", dir,
                  "/one.img > /dev/null && ln ", dense, " ", dir, "/www/disk.img"));
  berth::RealClock clock;
  auto server = ba::NewExportServer(ba::ExportServerConfig{}, pools, clock);
  if (!server.ok()) return 1;

  std::string out = dir + "/out.img";
  double cat = Seconds([&] { Sh(absl::StrCat("cat ", dense, " > /dev/null")); });
  double berth = BerthDownload(**server, "dense", out);
  Sh("rm -f " + out);
  pid_t nginx = StartNginx(dir, 18443);
  double ng = Seconds([&] {
    Sh(absl::StrCat("curl -s --cacert ", dir, "/cert.pem -o ", out,
                    " https://127.0.0.1:18443/disk.img"));
  });
  kill(nginx, SIGTERM);
  waitpid(nginx, nullptr, 0);
  Sh("rm -f " + out);
  double cat1 = Seconds([&] { Sh(absl::StrCat("cat ", dir, "/one.img > /dev/null")); });
  double sp = BerthDownload(**server, "sparse", out);
  Sh(absl::StrCat("rm -rf ", dir));

  double bytes = double(gib) * (1 << 30);
  auto rate = [&](double t, double b) { return absl::StrFormat("%6.2f GB/s", b / t / 1e9); };
  std::cout << absl::StrFormat("dense %d GiB:\n", gib)
            << absl::StrFormat("  berth export -> file   %6.2f s  %s\n", berth, rate(berth, bytes))
            << absl::StrFormat("  nginx -> curl -o       %6.2f s  %s\n", ng, rate(ng, bytes))
            << absl::StrFormat("  cat > /dev/null        %6.2f s  %s\n", cat, rate(cat, bytes))
            << absl::StrFormat("  berth / nginx+curl time: %.2fx (target <= 1.00)\n", berth / ng)
            << absl::StrFormat("  berth throughput = %.0f%% of cat\n", 100 * cat / berth)
            << "sparse 64 GiB with 1 GiB data:\n"
            << absl::StrFormat("  berth export -> file   %6.2f s\n", sp)
            << absl::StrFormat("  cat 1 GiB > /dev/null  %6.2f s\n", cat1)
            << absl::StrFormat("  berth / cat time: %.2fx (target <= 1.50)\n", sp / cat1);
  return 0;
}
