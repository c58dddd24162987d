#include "etcd_server.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "berth/time_util.h"
#include "store/etcd_store.h"

namespace berth::controller::testing {
namespace {

// Returns a loopback port that was free a moment ago (0 on failure).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace

EtcdServer& EtcdServer::Shared() {
  static EtcdServer server;  // tests only: one plaintext etcd per test binary
  return server;
}

EtcdServer::EtcdServer(const std::string& tls_dir) : tls_dir_(tls_dir) {
  std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  std::string tmpl = base + "/berth-etcd-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  std::string scheme = tls_dir.empty() ? "http" : "https";
  int client = FreePort(), peer = FreePort();
  endpoint_ = absl::StrCat(scheme, "://127.0.0.1:", client);
  peer_url_ = absl::StrCat("http://127.0.0.1:", peer);
  Start();
}

void EtcdServer::KillAndRestart() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  error_.clear();
  Start();
}

void EtcdServer::Start() {
  const char* bin = std::getenv("BERTH_ETCD");
  std::string etcd = bin != nullptr && *bin != '\0' ? bin : "etcd";
  const std::string& peer_url = peer_url_;
  std::vector<std::string> args = {etcd,
                                   "--name=berth-test",
                                   "--data-dir=" + dir_ + "/data",
                                   "--listen-client-urls=" + endpoint_,
                                   "--advertise-client-urls=" + endpoint_,
                                   "--listen-peer-urls=" + peer_url,
                                   "--initial-advertise-peer-urls=" + peer_url,
                                   "--initial-cluster=berth-test=" + peer_url};
  if (!tls_dir_.empty()) {
    args.push_back("--cert-file=" + tls_dir_ + "/tls.crt");
    args.push_back("--key-file=" + tls_dir_ + "/tls.key");
    args.push_back("--trusted-ca-file=" + tls_dir_ + "/ca.crt");
    args.push_back("--client-cert-auth");
  }
  std::string log = dir_ + "/etcd.log";  // appended to across restarts
  pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // no orphan etcd when the test binary dies
    if (getppid() != parent) _exit(1);
    FILE* out = freopen(log.c_str(), "a", stdout);
    if (out != nullptr) dup2(fileno(out), STDERR_FILENO);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  if (pid_ < 0) {
    error_ = "fork failed";
    return;
  }
  WaitReady(log);
}

EtcdServer::~EtcdServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

void EtcdServer::WaitReady(const std::string& log) {
  RealClock clock;
  EtcdStoreOptions options;
  options.endpoints = {endpoint_};
  if (!tls_dir_.empty()) options.tls = TlsFiles::FromDir(tls_dir_);
  options.call_timeout = absl::Seconds(1);
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  absl::Status last;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = absl::StrCat("etcd exited (status ", status, "); see ", log);
      return;
    }
    absl::StatusOr<std::unique_ptr<ObjectStore>> store = OpenEtcdStore(options, clock);
    if (store.ok()) return;
    last = store.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  error_ = absl::StrCat("etcd at ", endpoint_, " not ready after 30 s (", last.ToString(),
                        "); see ", log);
}

}  // namespace berth::controller::testing
