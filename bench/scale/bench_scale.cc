// berth-bench-scale: the controller at scale. Against a running cluster (see run-scale.sh, which
// starts a fresh controller and 4 agents per run), creates disks on the copy-on-write storage
// classes, then applies N VirtualDiskSnapshots at once from several threads and watches them:
//   - time from the first apply until every snapshot is Ready,
//   - apply throughput,
//   - p50/p99/max of apply->Ready per snapshot,
//   - the controller's peak RSS during the run (VmHWM, reset before the run via clear_refs).
// Prints one "RESULT key=value ..." line that run-scale.sh tabulates.
//
// Usage: berth-bench-scale --server=127.0.0.1:7643 --controller_pid=PID --snapshots=10000
//          [--disks=16] [--classes=local-reflink,local-btrfs] [--apply_threads=32]
//          [--timeout_s=600] [--namespace=scale] [--tls_dir=DIR]
// Dials with mutual TLS from --tls_dir, or else from $BERTH_TLS_DIR (as the CLI does, and as
// scripts/local-cluster sets up); plaintext only when neither is set.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api.grpc.pb.h"
#include "berth/tls.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, server, "127.0.0.1:7443", "controller gRPC address");
ABSL_FLAG(int, controller_pid, 0, "controller pid, to read its peak RSS (0: not measured)");
ABSL_FLAG(int, snapshots, 1000, "VirtualDiskSnapshots to apply at once");
ABSL_FLAG(int, disks, 16, "source disks, spread over the classes (and so over the agents)");
ABSL_FLAG(std::vector<std::string>, classes,
          std::vector<std::string>({"local-reflink", "local-btrfs"}),
          "copy-on-write storage classes the disks use, round-robin");
ABSL_FLAG(int, apply_threads, 32,
          "concurrent Apply callers (each waits for its write's commit, so fewer callers "
          "measure the callers' round trips rather than the controller)");
ABSL_FLAG(int, timeout_s, 600, "give up after this long");
ABSL_FLAG(std::string, ns, "scale", "namespace for the run's objects");
ABSL_FLAG(std::string, tls_dir, "",
          "directory with ca.crt, tls.crt, tls.key for mutual TLS (default: $BERTH_TLS_DIR; "
          "plaintext when neither is set)");

namespace {

namespace v1 = ::berth::api::v1;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "berth-bench-scale: %s\n", what.c_str());
  std::exit(1);
}

// Reads a "Key:   123 kB" line of /proc/PID/status, in bytes (0 if absent).
double ProcStatusBytes(int pid, const std::string& key) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) {
      double kb = 0;
      std::sscanf(line.c_str() + key.size() + 1, "%lf", &kb);
      return kb * 1024;
    }
  }
  return 0;
}

// User plus system CPU seconds the process has used so far (0 if unreadable).
double ProcCpuSeconds(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the parenthesised command name (which may hold spaces): state is field 3,
  // utime and stime are fields 14 and 15.
  size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::atof(field.c_str());
    if (i == 15) stime = std::atof(field.c_str());
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Resets VmHWM to the current RSS (Linux >= 4.0), so the peak is this run's.
void ResetPeakRss(int pid) {
  std::ofstream out(absl::StrCat("/proc/", pid, "/clear_refs"));
  out << "5";
}

void Apply(v1::Resources::Stub& stub, const Json& obj) {
  for (int attempt = 0;; ++attempt) {
    v1::ApplyRequest req;
    req.set_object_json(obj.dump());
    v1::ObjectResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    grpc::Status s = stub.Apply(&ctx, req, &resp);
    if (s.ok()) return;
    if (attempt >= 5 || s.error_code() != grpc::StatusCode::UNAVAILABLE) {
      Die(absl::StrCat("apply ", obj["metadata"]["name"].get<std::string>(), ": ",
                       s.error_message()));
    }
  }
}

std::string Phase(const Json& obj) {
  auto status = obj.find("status");
  if (status == obj.end() || !status->is_object()) return "";
  return status->value("phase", "");
}

// Records when each object of one kind in the namespace first reached Ready or Failed.
class PhaseWatcher {
 public:
  PhaseWatcher(v1::Resources::Stub& stub, const std::string& kind, const std::string& ns)
      : stub_(stub), kind_(kind), ns_(ns) {
    thread_ = std::thread([this] { Run(); });
  }
  ~PhaseWatcher() {
    ctx_.TryCancel();
    thread_.join();
  }
  // Returns (ready, failed) counts.
  std::pair<size_t, size_t> Counts() {
    std::lock_guard<std::mutex> l(mu_);
    return {ready_.size(), failed_.size()};
  }
  std::map<std::string, Clock::time_point> Ready() {
    std::lock_guard<std::mutex> l(mu_);
    return ready_;
  }
  std::vector<std::string> Failed() {
    std::lock_guard<std::mutex> l(mu_);
    return failed_;
  }

 private:
  void Run() {
    v1::WatchRequest req;
    req.set_kind(kind_);
    req.set_namespace_(ns_);
    auto reader = stub_.Watch(&ctx_, req);
    v1::WatchEvent ev;
    while (reader->Read(&ev)) {
      Json obj = Json::parse(ev.object_json(), nullptr, false);
      if (obj.is_discarded()) continue;
      std::string name = obj["metadata"].value("name", "");
      std::string phase = Phase(obj);
      Clock::time_point now = Clock::now();
      std::lock_guard<std::mutex> l(mu_);
      if (phase == "Ready") ready_.emplace(name, now);
      if (phase == "Failed" && seen_failed_.insert({name, true}).second) failed_.push_back(name);
    }
    reader->Finish();
  }

  v1::Resources::Stub& stub_;
  const std::string kind_;
  const std::string ns_;
  grpc::ClientContext ctx_;
  std::mutex mu_;
  std::map<std::string, Clock::time_point> ready_;
  std::map<std::string, bool> seen_failed_;
  std::vector<std::string> failed_;
  std::thread thread_;
};

Json Disk(const std::string& ns, const std::string& name, const std::string& cls) {
  return Json{{"apiVersion", "virtualization.deckhouse.io/v1alpha2"},
              {"kind", "VirtualDisk"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec", {{"persistentVolumeClaim", {{"size", "64Mi"}, {"storageClassName", cls}}}}}};
}

Json Snapshot(const std::string& ns, const std::string& name, const std::string& disk) {
  return Json{{"apiVersion", "virtualization.deckhouse.io/v1alpha2"},
              {"kind", "VirtualDiskSnapshot"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec", {{"virtualDiskName", disk}, {"requiredConsistency", true}}}};
}

// Waits until `want` objects are Ready; dies on a Failed one or at the deadline.
void WaitReady(PhaseWatcher& w, size_t want, Clock::time_point deadline, const char* what) {
  while (true) {
    auto [ready, failed] = w.Counts();
    if (failed > 0) Die(absl::StrCat(what, ": ", failed, " Failed, e.g. ", w.Failed()[0]));
    if (ready >= want) return;
    if (Clock::now() > deadline) {
      Die(absl::StrCat(what, ": only ", ready, " of ", want, " Ready before the timeout"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int n = absl::GetFlag(FLAGS_snapshots);
  const int ndisks = absl::GetFlag(FLAGS_disks);
  const int threads = std::max(1, absl::GetFlag(FLAGS_apply_threads));
  const int pid = absl::GetFlag(FLAGS_controller_pid);
  const std::string ns = absl::GetFlag(FLAGS_ns);
  const auto classes = absl::GetFlag(FLAGS_classes);
  if (n <= 0 || ndisks <= 0 || classes.empty()) Die("--snapshots, --disks, --classes");
  const Clock::time_point deadline =
      Clock::now() + std::chrono::seconds(absl::GetFlag(FLAGS_timeout_s));

  std::string tls_dir = absl::GetFlag(FLAGS_tls_dir);
  if (const char* env = std::getenv("BERTH_TLS_DIR"); tls_dir.empty() && env != nullptr) {
    tls_dir = env;
  }
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!tls_dir.empty()) {
    berth::TlsFiles files = berth::TlsFiles::FromDir(tls_dir);
    if (absl::Status st = files.Check(); !st.ok()) Die(absl::StrCat("TLS: ", st.ToString()));
    creds = berth::MutualTlsChannelCredentials(files);
  }
  std::fprintf(stderr, "berth-bench-scale: dialling %s (%s)\n", absl::GetFlag(FLAGS_server).c_str(),
               tls_dir.empty() ? "plaintext" : absl::StrCat("mTLS from ", tls_dir).c_str());
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  auto channel = grpc::CreateCustomChannel(absl::GetFlag(FLAGS_server), creds, args);
  auto stub = v1::Resources::NewStub(channel);

  // Source disks (not timed).
  {
    PhaseWatcher disks(*stub, "VirtualDisk", ns);
    for (int i = 0; i < ndisks; ++i) {
      Apply(*stub, Disk(ns, absl::StrCat("src-", i), classes[i % classes.size()]));
    }
    WaitReady(disks, ndisks, deadline, "source disks");
  }
  std::fprintf(stderr, "berth-bench-scale: %d disks Ready; applying %d snapshots\n", ndisks, n);

  if (pid > 0) ResetPeakRss(pid);
  const double rss_before = pid > 0 ? ProcStatusBytes(pid, "VmRSS") : 0;
  const double cpu_before = pid > 0 ? ProcCpuSeconds(pid) : 0;
  PhaseWatcher watcher(*stub, "VirtualDiskSnapshot", ns);
  std::vector<Clock::time_point> applied(n);
  std::atomic<int> next{0};
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> appliers;
  for (int t = 0; t < threads; ++t) {
    appliers.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < n;) {
        applied[i] = Clock::now();
        Apply(*stub, Snapshot(ns, absl::StrCat("snap-", i), absl::StrCat("src-", i % ndisks)));
      }
    });
  }
  for (auto& t : appliers) t.join();
  const Clock::time_point all_applied = Clock::now();
  WaitReady(watcher, n, deadline, "snapshots");
  auto ready = watcher.Ready();
  Clock::time_point last = start;
  std::vector<double> latency;
  for (int i = 0; i < n; ++i) {
    auto it = ready.find(absl::StrCat("snap-", i));
    if (it == ready.end()) Die("watcher lost snap-" + std::to_string(i));
    last = std::max(last, it->second);
    latency.push_back(Seconds(it->second - applied[i]));
  }
  const double peak = pid > 0 ? ProcStatusBytes(pid, "VmHWM") : 0;
  const double rss_after = pid > 0 ? ProcStatusBytes(pid, "VmRSS") : 0;
  const double cpu_s = pid > 0 ? ProcCpuSeconds(pid) - cpu_before : 0;
  const double total = Seconds(last - start);
  const double apply_s = Seconds(all_applied - start);
  std::printf(
      "RESULT snapshots=%d disks=%d all_ready_s=%.2f apply_s=%.2f applies_per_s=%.0f "
      "ready_per_s=%.0f p50_s=%.2f p99_s=%.2f max_s=%.2f rss_before_mb=%.1f peak_rss_mb=%.1f "
      "rss_after_mb=%.1f controller_cpu_s=%.2f controller_cpu_ms_per_snapshot=%.2f\n",
      n, ndisks, total, apply_s, n / apply_s, n / total, Percentile(latency, 0.5),
      Percentile(latency, 0.99), Percentile(latency, 1.0), rss_before / 1048576, peak / 1048576,
      rss_after / 1048576, cpu_s, 1000 * cpu_s / n);
  return 0;
}
