// Runs the real berth-controller and berth-agent as child processes, as systemd would (with
// $NOTIFY_SOCKET and $WATCHDOG_USEC), and checks what an operator relies on: READY=1 only once
// the gRPC port accepts connections, WATCHDOG=1 pings, STOPPING=1 on SIGTERM, the gRPC health
// service, /metrics with reconcile and heartbeat figures, and JSON logs that parse line by line.
// Needs no root: the agent serves one copy pool in a temporary directory.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;

// A unix datagram socket standing in for systemd's notify socket. A thread drains it as
// systemd would, so the daemon's queue (net.unix.max_dgram_qlen, often 10) never fills while
// the test is busy elsewhere; Receive takes the messages in order.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    unlink(path.c_str());
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    reader_ = std::thread([this] {
      while (true) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 100) < 0) return;
        absl::MutexLock l(&mu_);
        if (stop_) return;
        if (!(p.revents & POLLIN)) continue;
        char buf[1024] = {};
        ssize_t n = recv(fd_, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (n > 0) messages_.emplace_back(buf, static_cast<size_t>(n));
      }
    });
  }
  ~NotifySocket() {
    {
      absl::MutexLock l(&mu_);
      stop_ = true;
    }
    reader_.join();
    close(fd_);
    unlink(path_.c_str());
  }
  // Returns the next message, or "" after `timeout_ms`.
  std::string Receive(int timeout_ms = 20000) {
    absl::MutexLock l(&mu_);
    auto any = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !messages_.empty(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&any), absl::Milliseconds(timeout_ms))) return "";
    std::string m = std::move(messages_.front());
    messages_.pop_front();
    return m;
  }

 private:
  std::string path_;
  int fd_;
  absl::Mutex mu_;
  std::deque<std::string> messages_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reader_;
};

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

bool Connects(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

// A child process with extra environment variables and stderr to a file.
class Daemon {
 public:
  Daemon(std::vector<std::string> args, std::vector<std::string> env, const std::string& log) {
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (char** e = environ; *e; ++e) {
      if (!absl::StartsWith(*e, "NOTIFY_SOCKET=") && !absl::StartsWith(*e, "WATCHDOG_")) {
        env_.push_back(*e);
      }
    }
    for (auto& e : env) env_.push_back(e);
    for (auto& e : env_) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data()) == 0);
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Daemon() { Stop(); }
  pid_t pid() const { return pid_; }
  int Stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  std::vector<std::string> env_;
};

std::string Curl(const std::string& url) {
  FILE* p = popen(("curl -s --max-time 5 " + url + " 2>/dev/null").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// Calls grpc.health.v1.Health/Check for the whole server (an empty request) and returns the
// serving status (1 = SERVING), or -1. The proto is tiny: field 1, varint.
int HealthStatus(int port) {
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::ByteBuffer request, response;
  grpc::Slice empty("", 0);
  request = grpc::ByteBuffer(&empty, 1);
  grpc::CompletionQueue cq;
  auto call = stub.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check", request, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  cq.Next(&tag, &ok);
  if (!status.ok()) return -1;
  std::vector<grpc::Slice> slices;
  response.Dump(&slices);
  std::string bytes;
  for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return bytes.size() == 2 && bytes[0] == 0x08 ? bytes[1] : (bytes.empty() ? 0 : -1);
}

// Polls `fn` until it returns true or 30 s pass (a deadline for a hung daemon, not a timing
// assertion).
bool Eventually(const std::function<bool()>& fn) {
  for (int i = 0; i < 300; ++i) {
    if (fn()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST_CASE("daemons notify systemd, serve health and metrics, and log JSON") {
  fs::path dir = fs::temp_directory_path() / absl::StrCat("berth-ops-daemon-", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir / "pool");
  const int api = FreePort(), metrics = FreePort(), agent_api = FreePort(),
            agent_metrics = FreePort();

  NotifySocket ctl_notify((dir / "ctl.sock").string());
  Daemon controller({BERTH_CONTROLLER_BINARY, absl::StrCat("--listen=127.0.0.1:", api),
                     "--data_dir=" + (dir / "store").string(), "--insecure",
                     absl::StrCat("--metrics_listen=127.0.0.1:", metrics), "--log_format=json"},
                    {"NOTIFY_SOCKET=" + (dir / "ctl.sock").string(), "WATCHDOG_USEC=400000"},
                    (dir / "controller.log").string());
  std::string ready = ctl_notify.Receive();
  REQUIRE(absl::StartsWith(ready, "READY=1"));
  CHECK(ready.find(absl::StrCat("STATUS=listening on 127.0.0.1:", api)) != std::string::npos);
  // READY comes after the port listens: a connection succeeds right away.
  CHECK(Connects(api));
  CHECK(ctl_notify.Receive() == "WATCHDOG=1");
  CHECK(ctl_notify.Receive() == "WATCHDOG=1");
  CHECK(HealthStatus(api) == 1);
  CHECK(Curl(absl::StrCat("http://127.0.0.1:", metrics, "/healthz")) == "ok\n");

  NotifySocket agent_notify((dir / "agent.sock").string());
  Daemon agent(
      {BERTH_AGENT_BINARY, "--node_name=ops-node", absl::StrCat("--listen=127.0.0.1:", agent_api),
       absl::StrCat("--controller=127.0.0.1:", api), "--pools=copy:copy:" + (dir / "pool").string(),
       "--state_dir=" + (dir / "agent-state").string(), "--libvirt_uri=test:///default",
       "--usb=false", "--insecure", absl::StrCat("--metrics_listen=127.0.0.1:", agent_metrics),
       "--log_format=logfmt"},
      {"NOTIFY_SOCKET=" + (dir / "agent.sock").string()}, (dir / "agent.log").string());
  REQUIRE(absl::StartsWith(agent_notify.Receive(), "READY=1"));
  CHECK(Connects(agent_api));
  CHECK(HealthStatus(agent_api) == 1);

  // The agent registers and beats; the Node reconciler runs: both show on the controller.
  std::string text;
  CHECK(Eventually([&] {
    text = Curl(absl::StrCat("http://127.0.0.1:", metrics, "/metrics"));
    return text.find("berth_agent_heartbeats_total{node=\"ops-node\"} ") != std::string::npos &&
           text.find("berth_reconcile_total{kind=\"Node\",result=\"success\"} ") !=
               std::string::npos;
  }));
  INFO(text);
  CHECK(text.find("# TYPE berth_reconcile_duration_seconds histogram") != std::string::npos);
  CHECK(text.find("berth_workqueue_depth{kind=\"VirtualDiskSnapshot\"} ") != std::string::npos);
  CHECK(text.find("process_resident_memory_bytes ") != std::string::npos);
  std::string agent_text = Curl(absl::StrCat("http://127.0.0.1:", agent_metrics, "/metrics"));
  CHECK(agent_text.find("# TYPE berth_agent_freeze_window_seconds histogram") != std::string::npos);

  CHECK(WIFEXITED(agent.Stop()));
  CHECK(agent_notify.Receive() == "STOPPING=1");
  int status = controller.Stop();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  std::string msg;
  do {
    msg = ctl_notify.Receive(5000);
  } while (msg == "WATCHDOG=1");
  CHECK(msg == "STOPPING=1");

  // Every line the controller wrote is a JSON record with time, level and message.
  std::ifstream log(dir / "controller.log");
  int lines = 0;
  for (std::string line; std::getline(log, line); ++lines) {
    INFO(line);
    auto j = nlohmann::json::parse(line, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    CHECK(j.contains("time"));
    CHECK(j.contains("level"));
    CHECK(j["component"] == "controller");
    CHECK(j.contains("msg"));
  }
  CHECK(lines >= 2);
  std::ifstream alog(dir / "agent.log");
  std::stringstream ss;
  ss << alog.rdbuf();
  CHECK(ss.str().find("level=info component=agent msg=") != std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
