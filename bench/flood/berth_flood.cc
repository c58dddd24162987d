// berth-flood: a standalone load tool for TCP/TLS listeners on loopback. It floods a listener with
// connect/close cycles, idle connections or half-sent TLS handshakes, and measures what
// legitimate calls (HTTP, HTTPS, USB/IP, gRPC health) see meanwhile. Results are `key=value`
// lines on stdout so scripts can grep them.
//
// Safety: the tool only accepts numeric loopback addresses (127.0.0.0/8, ::1) for --target and
// --source, so a typo cannot turn it into a flood against another host. Every mode is bounded:
// counts, per-connect and per-call deadlines, and poll timeouts everywhere.
//
// Build (standalone, no absl):
//   g++ -std=c++17 -O2 -Wall -Wextra -o berth-flood berth_flood.cc
//       $(pkg-config --cflags --libs grpc++ openssl) -lpthread   (one command line)
#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kExitUsage = 2;
// Caps connects in SYN-SENT at once so the flood measures the server, not our own SYN backlog.
constexpr int kMaxConnecting = 500;
// About one second of 1 ms back-offs before port exhaustion counts as a connect error.
constexpr int kMaxAddrRetries = 1000;
// fds kept free for stdio, the TLS context and similar in hold/midtls modes.
constexpr int64_t kReservedFds = 32;
constexpr int64_t kUnlimited = std::numeric_limits<int64_t>::max();
constexpr char kHealthMethod[] = "/grpc.health.v1.Health/Check";

constexpr char kUsage[] =
    "usage: berth-flood --target=HOST:PORT --mode=MODE [options]\n"
    "  --mode=cycle  --count=N [--threads=T] [--source=IP]\n"
    "  --mode=hold   --count=N [--hold=SECONDS] [--source=IP]\n"
    "  --mode=midtls --count=N [--hold=SECONDS] [--source=IP]\n"
    "  --mode=probe  --probe=http|https|usbip|grpc --count=N [--interval-ms=M]\n"
    "  --mode=bench  --probe=KIND --seconds=S [--flood-threads=T] [--source=IP]\n"
    "  common: --timeout-ms=T (per call / per connect, default 10000)\n"
    "          --ca=FILE --cert=FILE --key=FILE --authority=NAME (TLS probes)\n"
    "HOST and --source must be numeric loopback addresses (127.0.0.0/8 or [::1]).\n";

struct Address {
  sockaddr_storage storage{};
  socklen_t len = 0;
  int family() const { return storage.ss_family; }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

struct Options {
  std::string mode, probe, cert, key, ca, authority;
  Address target;
  bool has_source = false;
  Address source;
  int64_t count = 0;
  int threads = 2;
  int flood_threads = 2;
  double hold_seconds = 8;
  double seconds = 0;
  int interval_ms = 100;
  int timeout_ms = 10000;
};

[[noreturn]] void UsageError(const std::string& message) {
  std::fprintf(stderr, "berth-flood: %s\n", message.c_str());
  std::exit(kExitUsage);
}

// ---------------------------------------------------------------------------------------------
// Flag parsing.

int64_t ParseInt(const std::string& name, const std::string& text, int64_t min, int64_t max) {
  errno = 0;
  char* end = nullptr;
  long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || value < min || value > max) {
    UsageError("bad --" + name + "=" + text + " (want an integer in [" + std::to_string(min) +
               ", " + std::to_string(max) + "])");
  }
  return value;
}

double ParseSeconds(const std::string& name, const std::string& text, double min) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value) || value < min || value > 86400) {
    UsageError("bad --" + name + "=" + text + " (want seconds)");
  }
  return value;
}

// Accepts only numeric loopback hosts: the tool must never be pointed at another machine.
bool ParseLoopback(std::string host, uint16_t port, Address* out) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out->storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127) return false;
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out->len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) return false;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    out->len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

Address ParseTarget(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) UsageError("bad --target=" + text);
  auto port = static_cast<uint16_t>(ParseInt("target port", text.substr(colon + 1), 1, 65535));
  Address address;
  if (!ParseLoopback(text.substr(0, colon), port, &address)) {
    UsageError("bad --target=" + text + " (must be a numeric loopback HOST:PORT)");
  }
  return address;
}

const std::set<std::string>& KnownFlags() {
  static const auto* flags =
      new std::set<std::string>{"target", "mode",  "count",       "threads",       "source",
                                "hold",   "probe", "interval-ms", "timeout-ms",    "cert",
                                "key",    "ca",    "authority",   "flood-threads", "seconds"};
  return *flags;
}

std::map<std::string, std::string> SplitFlags(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) {
      UsageError("bad argument '" + arg + "' (flags are --name=value)");
    }
    std::string name = arg.substr(2, eq - 2);
    if (KnownFlags().count(name) == 0) UsageError("unknown flag --" + name);
    flags[name] = arg.substr(eq + 1);
  }
  return flags;
}

// Checks the flags each mode cannot run without; the message names the missing one.
void RequireForMode(const Options& o, const std::map<std::string, std::string>& flags) {
  auto require = [&](const char* name) {
    if (flags.count(name) == 0) UsageError("--mode=" + o.mode + " requires --" + name);
  };
  if (o.mode == "bench") {
    require("probe");
    require("seconds");
  } else {
    require("count");
    if (o.mode == "probe") require("probe");
  }
  if (o.mode == "probe" || o.mode == "bench") {
    if (o.probe != "http" && o.probe != "https" && o.probe != "usbip" && o.probe != "grpc") {
      UsageError("bad --probe=" + o.probe + " (want http, https, usbip or grpc)");
    }
  }
  if (o.cert.empty() != o.key.empty()) UsageError("--cert and --key must be given together");
}

Options ParseFlags(int argc, char** argv) {
  std::map<std::string, std::string> flags = SplitFlags(argc, argv);
  if (flags.count("target") == 0) UsageError("missing required flag --target");
  if (flags.count("mode") == 0) UsageError("missing required flag --mode");
  Options o;
  o.mode = flags["mode"];
  if (o.mode != "cycle" && o.mode != "hold" && o.mode != "midtls" && o.mode != "probe" &&
      o.mode != "bench") {
    UsageError("bad --mode=" + o.mode + " (want cycle, hold, midtls, probe or bench)");
  }
  o.target = ParseTarget(flags["target"]);
  for (const auto& [name, value] : flags) {
    if (name == "count") o.count = ParseInt(name, value, 1, 100000000);
    if (name == "threads") o.threads = static_cast<int>(ParseInt(name, value, 1, 256));
    if (name == "flood-threads") o.flood_threads = static_cast<int>(ParseInt(name, value, 1, 256));
    if (name == "hold") o.hold_seconds = ParseSeconds(name, value, 0);
    if (name == "seconds") o.seconds = ParseSeconds(name, value, 0.001);
    if (name == "interval-ms") o.interval_ms = static_cast<int>(ParseInt(name, value, 0, 3600000));
    if (name == "timeout-ms") o.timeout_ms = static_cast<int>(ParseInt(name, value, 1, 3600000));
    if (name == "probe") o.probe = value;
    if (name == "cert") o.cert = value;
    if (name == "key") o.key = value;
    if (name == "ca") o.ca = value;
    if (name == "authority") o.authority = value;
  }
  if (flags.count("source") != 0) {
    o.has_source = true;
    if (!ParseLoopback(flags["source"], 0, &o.source) || o.source.family() != o.target.family()) {
      UsageError("bad --source=" + flags["source"] +
                 " (must be a numeric loopback IP of the target's family)");
    }
  }
  RequireForMode(o, flags);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Small utilities.

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double MsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Rounds up so a poll never gets a zero timeout while time is left (that would spin).
int RemainingMs(Clock::time_point deadline) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now()).count();
  if (us <= 0) return 0;
  return static_cast<int>(std::min<int64_t>((us + 999) / 1000, 3600000));
}

double CpuSeconds(int who) {
  rusage usage{};
  getrusage(who, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// Nearest-rank percentile: the smallest sample with at least p% of samples at or below it.
double Percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * samples.size()));
  rank = std::clamp<size_t>(rank, 1, samples.size());
  return samples[rank - 1];
}

void PrintInt(const char* key, int64_t value) {
  std::printf("%s=%lld\n", key, static_cast<long long>(value));
}

void PrintFixed(const char* key, double value, int decimals) {
  std::printf("%s=%.*f\n", key, decimals, value);
}

void PrintStr(const char* key, const std::string& value) {
  std::printf("%s=%s\n", key, value.c_str());
}

// Keeps error text on one line so `key=value` output stays greppable.
std::string OneLine(std::string text, size_t max_len = 200) {
  for (char& c : text) {
    if (c == '\n' || c == '\r' || static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (text.size() > max_len) text.resize(max_len);
  return text;
}

std::string ErrnoText(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

// Hold modes keep thousands of sockets open; the default soft limit (often 1024) is too low.
int64_t RaiseFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur == RLIM_INFINITY) return kUnlimited;
  return static_cast<int64_t>(limit.rlim_cur);
}

std::string ReadFileOrDie(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) UsageError("cannot read --" + flag + "=" + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string AddressText(const Address& address) {
  char host[INET6_ADDRSTRLEN] = {};
  uint16_t port;
  if (address.family() == AF_INET) {
    auto* v4 = reinterpret_cast<const sockaddr_in*>(&address.storage);
    inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
    port = ntohs(v4->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
  inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
  port = ntohs(v6->sin6_port);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

// ---------------------------------------------------------------------------------------------
// Sockets.

// Creates a TCP socket, bound to `source` (port 0) when given so flood traffic comes from a
// different loopback address than legitimate clients. Returns -1 with errno set on failure.
int NewSocket(int family, const Address* source, bool nonblocking) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0 || source == nullptr) return fd;
  // Defers the port choice to connect(), so ports are shared across the 4-tuple instead of the
  // bind() port space running out after ~28k sockets.
  int one = 1;
  setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
  if (bind(fd, source->sa(), source->len) != 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

// Waits until `fd` is ready for `events` or `deadline` passes; false with *error on timeout.
bool WaitFd(int fd, short events, Clock::time_point deadline, std::string* error) {
  for (;;) {
    int ms = RemainingMs(deadline);
    if (ms <= 0) {
      *error = "timeout";
      return false;
    }
    pollfd p{fd, events, 0};
    int rc = poll(&p, 1, ms);
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) {
      *error = ErrnoText("poll", errno);
      return false;
    }
  }
}

// Non-blocking connect bounded by `deadline`; returns a connected non-blocking fd or -1.
int ConnectBefore(const Address& target, Clock::time_point deadline, std::string* error) {
  int fd = NewSocket(target.family(), nullptr, /*nonblocking=*/true);
  if (fd < 0) {
    *error = ErrnoText("socket", errno);
    return -1;
  }
  if (connect(fd, target.sa(), target.len) == 0) return fd;
  if (errno != EINPROGRESS) {
    *error = ErrnoText("connect", errno);
    close(fd);
    return -1;
  }
  int so_error = 0;
  socklen_t len = sizeof(so_error);
  if (!WaitFd(fd, POLLOUT, deadline, error)) {
    *error = "connect: " + *error;
    close(fd);
    return -1;
  }
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    *error = ErrnoText("connect", so_error);
    close(fd);
    return -1;
  }
  return fd;
}

// ---------------------------------------------------------------------------------------------
// Mode cycle: connect-then-close as fast as possible.

struct CycleResult {
  int64_t ok = 0;
  int64_t connect_errors = 0;
  int64_t retried = 0;
  double thread_cpu_seconds = 0;

  void Add(const CycleResult& other) {
    ok += other.ok;
    connect_errors += other.connect_errors;
    retried += other.retried;
    thread_cpu_seconds += other.thread_cpu_seconds;
  }
};

// One connect, retrying while the local port space is exhausted. Returns the fd or -1.
int CycleConnect(const Options& o, CycleResult* result) {
  const Address* source = o.has_source ? &o.source : nullptr;
  // SO_SNDTIMEO bounds a blocking connect when an overloaded server drops our SYNs.
  timeval send_timeout{o.timeout_ms / 1000, (o.timeout_ms % 1000) * 1000};
  for (int attempt = 0;; ++attempt) {
    int fd = NewSocket(o.target.family(), source, /*nonblocking=*/false);
    int err = errno;
    if (fd >= 0) {
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
      if (connect(fd, o.target.sa(), o.target.len) == 0) return fd;
      err = errno;
      close(fd);
    }
    // EADDRINUSE comes from bind() when the source address has no free port left.
    bool ports_exhausted = err == EADDRNOTAVAIL || err == EADDRINUSE;
    if (!ports_exhausted || attempt >= kMaxAddrRetries) {
      ++result->connect_errors;
      return -1;
    }
    ++result->retried;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Runs cycles [first, end) until done or *stop is set. Odd cycles close with RST so that only
// half the cycles leave a TIME_WAIT entry behind; 100k cycles would otherwise exhaust ports.
void CycleWorker(const Options& o, int64_t first, int64_t end, const std::atomic<bool>* stop,
                 CycleResult* result) {
  const linger abort_on_close{1, 0};
  for (int64_t i = first; i < end && !stop->load(std::memory_order_relaxed); ++i) {
    int fd = CycleConnect(o, result);
    if (fd < 0) continue;
    ++result->ok;
    if (i % 2 == 1) {
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
    }
    close(fd);
  }
  result->thread_cpu_seconds = CpuSeconds(RUSAGE_THREAD);
}

// Splits `count` cycles over `threads` workers (count == kUnlimited: run until *stop).
CycleResult RunCycles(const Options& o, int threads, int64_t count, const std::atomic<bool>* stop) {
  std::vector<CycleResult> results(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    // Contiguous ranges, the first `count % threads` workers taking one extra cycle.
    int64_t first = 0;
    int64_t end = kUnlimited;
    if (count != kUnlimited) {
      first = count / threads * t + std::min<int64_t>(t, count % threads);
      end = first + count / threads + (t < count % threads ? 1 : 0);
    }
    workers.emplace_back(CycleWorker, std::cref(o), first, end, stop, &results[t]);
  }
  CycleResult total;
  for (int t = 0; t < threads; ++t) {
    workers[t].join();
    total.Add(results[t]);
  }
  return total;
}

int RunCycleMode(const Options& o) {
  std::atomic<bool> never_stop{false};
  auto start = Clock::now();
  CycleResult result = RunCycles(o, o.threads, o.count, &never_stop);
  double seconds = SecondsSince(start);
  PrintStr("mode", "cycle");
  PrintInt("count", o.count);
  PrintInt("ok", result.ok);
  PrintInt("connect_errors", result.connect_errors);
  PrintInt("retried", result.retried);
  PrintFixed("seconds", seconds, 3);
  PrintFixed("per_second", seconds > 0 ? result.ok / seconds : 0, 1);
  PrintFixed("cpu_seconds", CpuSeconds(RUSAGE_SELF), 3);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Modes hold and midtls: many idle (or half-handshaked) connections; who closes them, and when?

// A TLS handshake record header announcing 512 bytes, followed by only the first 100 bytes of a
// plausible ClientHello, so a server waiting for the rest of the handshake keeps waiting.
std::string PartialClientHello(std::mt19937_64& rng) {
  std::string bytes = {0x16, 0x03, 0x01, 0x02, 0x00};  // handshake, TLS 1.0 record, length 512
  std::string body(100, '\0');
  body[0] = 0x01;  // ClientHello
  body[1] = 0x00;  // 3-byte length 508 = 512 - 4-byte handshake header
  body[2] = 0x01;
  body[3] = static_cast<char>(0xfc);
  body[4] = 0x03;  // client_version TLS 1.2
  body[5] = 0x03;
  for (int i = 0; i < 32; ++i) body[6 + i] = static_cast<char>(rng() & 0xff);  // random
  return bytes + body;  // the rest (session id, ciphers...) stays zero and is never completed
}

class HoldRunner {
 public:
  HoldRunner(const Options& o, bool mid_tls)
      : o_(o),
        mid_tls_(mid_tls),
        conns_(o.count),
        pfds_(o.count, pollfd{-1, 0, 0}),
        rng_(std::random_device{}()) {}

  void Run();
  void Print() const;

 private:
  enum class State { kIdle, kConnecting, kOpen, kClosedByServer, kFailed };
  struct Conn {
    State state = State::kIdle;
    Clock::time_point started;
    Clock::time_point connected;
  };

  void StartMore();
  void PollOnce(Clock::time_point limit);
  void OnConnectDone(size_t i);
  void OnConnected(size_t i);
  void OnReadable(size_t i);
  void ExpireConnects();
  void Finish(size_t i, State state);

  const Options& o_;
  const bool mid_tls_;
  std::vector<Conn> conns_;
  std::vector<pollfd> pfds_;  // indexed like conns_; fd -1 makes poll skip the entry
  std::mt19937_64 rng_;
  int64_t next_ = 0;
  int connecting_ = 0;
  int64_t connected_ = 0;
  int64_t connect_errors_ = 0;
  int64_t still_open_ = 0;
  std::vector<double> close_after_ms_;
};

void HoldRunner::Run() {
  // Connect phase: a sliding window of at most kMaxConnecting in progress; connections already
  // open are watched meanwhile, since a server may close early ones before the last connects.
  while (next_ < o_.count || connecting_ > 0) {
    StartMore();
    PollOnce(Clock::now() + std::chrono::milliseconds(50));
    ExpireConnects();
  }
  auto hold_end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(o_.hold_seconds));
  while (Clock::now() < hold_end) PollOnce(hold_end);
  for (size_t i = 0; i < conns_.size(); ++i) {
    if (conns_[i].state != State::kOpen) continue;
    ++still_open_;
    close(pfds_[i].fd);
    pfds_[i].fd = -1;
  }
}

void HoldRunner::StartMore() {
  const Address* source = o_.has_source ? &o_.source : nullptr;
  while (connecting_ < kMaxConnecting && next_ < o_.count) {
    size_t i = next_++;
    conns_[i].started = Clock::now();
    int fd = NewSocket(o_.target.family(), source, /*nonblocking=*/true);
    if (fd < 0) {
      Finish(i, State::kFailed);
      continue;
    }
    pfds_[i].fd = fd;
    if (connect(fd, o_.target.sa(), o_.target.len) == 0) {
      OnConnected(i);
    } else if (errno == EINPROGRESS) {
      conns_[i].state = State::kConnecting;
      pfds_[i].events = POLLOUT;
      ++connecting_;
    } else {
      Finish(i, State::kFailed);
    }
  }
}

void HoldRunner::PollOnce(Clock::time_point limit) {
  int timeout = std::min(50, RemainingMs(limit));
  int ready = poll(pfds_.data(), pfds_.size(), timeout);
  if (ready <= 0) return;
  for (size_t i = 0; i < pfds_.size() && ready > 0; ++i) {
    if (pfds_[i].fd < 0 || pfds_[i].revents == 0) continue;
    --ready;
    if (conns_[i].state == State::kConnecting) {
      OnConnectDone(i);
    } else if (conns_[i].state == State::kOpen) {
      OnReadable(i);
    }
  }
}

void HoldRunner::OnConnectDone(size_t i) {
  --connecting_;
  int so_error = 0;
  socklen_t len = sizeof(so_error);
  getsockopt(pfds_[i].fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    Finish(i, State::kFailed);
  } else {
    OnConnected(i);
  }
}

void HoldRunner::OnConnected(size_t i) {
  conns_[i].state = State::kOpen;
  conns_[i].connected = Clock::now();
  ++connected_;
  pfds_[i].events = POLLIN | POLLRDHUP;
  if (!mid_tls_) return;
  std::string hello = PartialClientHello(rng_);
  // A fresh loopback socket always has room for 105 bytes; a failure means the server already
  // reset the connection.
  if (send(pfds_[i].fd, hello.data(), hello.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
      errno != EAGAIN) {
    Finish(i, State::kClosedByServer);
  }
}

void HoldRunner::OnReadable(size_t i) {
  char buffer[4096];
  // Bounded so a server that streams data cannot pin us here; poll will report it again.
  for (int reads = 0; reads < 16; ++reads) {
    ssize_t n = recv(pfds_[i].fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n > 0) continue;  // e.g. a TLS alert or an HTTP 408 before the close
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    Finish(i, State::kClosedByServer);  // EOF or ECONNRESET
    return;
  }
}

// Gives up on connects older than --timeout-ms (e.g. SYNs dropped by a full accept queue).
void HoldRunner::ExpireConnects() {
  auto now = Clock::now();
  for (size_t i = 0; i < conns_.size(); ++i) {
    if (conns_[i].state != State::kConnecting) continue;
    if (MsBetween(conns_[i].started, now) < o_.timeout_ms) continue;
    --connecting_;
    Finish(i, State::kFailed);
  }
}

void HoldRunner::Finish(size_t i, State state) {
  conns_[i].state = state;
  if (state == State::kFailed) ++connect_errors_;
  if (state == State::kClosedByServer) {
    close_after_ms_.push_back(MsBetween(conns_[i].connected, Clock::now()));
  }
  if (pfds_[i].fd >= 0) close(pfds_[i].fd);
  pfds_[i].fd = -1;
}

void HoldRunner::Print() const {
  PrintStr("mode", mid_tls_ ? "midtls" : "hold");
  PrintInt("count", o_.count);
  PrintInt("connected", connected_);
  PrintInt("connect_errors", connect_errors_);
  PrintInt("closed_by_server", static_cast<int64_t>(close_after_ms_.size()));
  PrintInt("still_open", still_open_);
  PrintFixed("close_after_ms_p50", Percentile(close_after_ms_, 50), 3);
  double max_ms = close_after_ms_.empty()
                      ? 0
                      : *std::max_element(close_after_ms_.begin(), close_after_ms_.end());
  PrintFixed("close_after_ms_max", max_ms, 3);
}

int RunHoldMode(const Options& o, int64_t fd_limit) {
  if (o.count > fd_limit - kReservedFds) {
    UsageError("--count=" + std::to_string(o.count) + " exceeds the fd limit " +
               std::to_string(fd_limit) + " minus " + std::to_string(kReservedFds));
  }
  HoldRunner runner(o, o.mode == "midtls");
  runner.Run();
  runner.Print();
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Probes: legitimate calls, each on a new connection, each with its own deadline.

// A connected socket, optionally wrapped in TLS, whose every operation honours a deadline.
class Stream {
 public:
  Stream(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  ~Stream() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) close(fd_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  bool Handshake(Clock::time_point deadline, std::string* error) {
    return SslRetry([this] { return SSL_connect(ssl_); }, deadline, error) > 0;
  }

  bool WriteAll(const std::string& data, Clock::time_point deadline, std::string* error);
  // Reads until `want` bytes arrived or the peer closed; the caller judges what arrived.
  bool ReadAtLeast(size_t want, std::string* out, Clock::time_point deadline, std::string* error);

 private:
  // Runs an OpenSSL operation on the non-blocking socket until it completes, fails or times out.
  // Returns its positive result, 0 on a clean TLS close, or -1 with *error set.
  template <typename Op>
  int SslRetry(Op op, Clock::time_point deadline, std::string* error);
  // One plain or TLS read/write step with the same return convention as SslRetry.
  int Step(bool write, char* data, int len, Clock::time_point deadline, std::string* error);

  int fd_;
  SSL* ssl_;
};

std::string SslErrorText(int ssl_error) {
  unsigned long code = ERR_get_error();
  if (code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    return text;
  }
  if (ssl_error == SSL_ERROR_SYSCALL && errno != 0) return std::strerror(errno);
  return "ssl error " + std::to_string(ssl_error);
}

template <typename Op>
int Stream::SslRetry(Op op, Clock::time_point deadline, std::string* error) {
  for (;;) {
    ERR_clear_error();
    errno = 0;
    int rc = op();
    if (rc > 0) return rc;
    int ssl_error = SSL_get_error(ssl_, rc);
    if (ssl_error == SSL_ERROR_ZERO_RETURN) return 0;
    short events = ssl_error == SSL_ERROR_WANT_READ    ? POLLIN
                   : ssl_error == SSL_ERROR_WANT_WRITE ? POLLOUT
                                                       : 0;
    if (events == 0) {
      *error = SslErrorText(ssl_error);
      return -1;
    }
    if (!WaitFd(fd_, events, deadline, error)) return -1;
  }
}

int Stream::Step(bool write, char* data, int len, Clock::time_point deadline, std::string* error) {
  if (ssl_ != nullptr) {
    if (write) {
      return SslRetry([&] { return SSL_write(ssl_, data, len); }, deadline, error);
    }
    return SslRetry([&] { return SSL_read(ssl_, data, len); }, deadline, error);
  }
  for (;;) {
    ssize_t n = write ? send(fd_, data, len, MSG_NOSIGNAL) : recv(fd_, data, len, 0);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      *error = std::strerror(errno);
      return -1;
    }
    if (!WaitFd(fd_, write ? POLLOUT : POLLIN, deadline, error)) return -1;
  }
}

bool Stream::WriteAll(const std::string& data, Clock::time_point deadline, std::string* error) {
  std::string copy = data;  // Step() takes a mutable buffer since it also reads; requests are tiny
  size_t done = 0;
  while (done < copy.size()) {
    int n = Step(true, &copy[done], static_cast<int>(copy.size() - done), deadline, error);
    if (n <= 0) {
      if (n == 0) *error = "peer closed while writing";
      return false;
    }
    done += n;
  }
  return true;
}

bool Stream::ReadAtLeast(size_t want, std::string* out, Clock::time_point deadline,
                         std::string* error) {
  char buffer[4096];
  while (out->size() < want) {
    int n = Step(false, buffer, sizeof(buffer), deadline, error);
    if (n < 0) return false;
    if (n == 0) return true;
    out->append(buffer, n);
  }
  return true;
}

struct CallResult {
  bool ok = false;
  double ms = 0;
  std::string error;
};

std::string FirstLine(const std::string& response) {
  std::string line = response.substr(0, response.find("\r\n"));
  return line.empty() ? "<empty response>" : OneLine(line, 80);
}

// Returns "" when `response` is an HTTP reply whose status line starts with `prefix`.
std::string CheckHttp(const std::string& response, const std::string& prefix) {
  if (response.compare(0, prefix.size(), prefix) == 0) return "";
  return "unexpected response: " + FirstLine(response);
}

// Returns "" for a USB/IP OP_REP_DEVLIST header (version 0x0111, code 0x0005).
std::string CheckUsbIp(const std::string& reply) {
  if (reply.size() < 8) return "short usbip reply (" + std::to_string(reply.size()) + " bytes)";
  auto byte = [&](size_t i) { return static_cast<unsigned>(static_cast<unsigned char>(reply[i])); };
  unsigned version = byte(0) << 8 | byte(1);
  unsigned code = byte(2) << 8 | byte(3);
  if (version == 0x0111 && code == 0x0005) return "";
  char text[80];
  std::snprintf(text, sizeof(text), "unexpected usbip reply version=0x%04x code=0x%04x", version,
                code);
  return text;
}

class Prober {
 public:
  explicit Prober(const Options& o);
  ~Prober() {
    if (ssl_ctx_ != nullptr) SSL_CTX_free(ssl_ctx_);
  }
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  CallResult Call();

 private:
  void InitTls();
  void InitGrpc();
  CallResult CallStream(bool tls, const std::string& request, size_t want,
                        const std::function<std::string(const std::string&)>& check);
  CallResult CallGrpc();

  const Options& o_;
  SSL_CTX* ssl_ctx_ = nullptr;
  std::shared_ptr<grpc::ChannelCredentials> grpc_credentials_;
  std::string grpc_target_;
};

Prober::Prober(const Options& o) : o_(o) {
  if (o.probe == "https" || (o.probe == "usbip" && !o.cert.empty())) InitTls();
  if (o.probe == "grpc") InitGrpc();
}

// Bad TLS files are flag errors: report them before any load is generated.
void Prober::InitTls() {
  ssl_ctx_ = SSL_CTX_new(TLS_client_method());
  if (ssl_ctx_ == nullptr) UsageError("cannot create TLS context");
  // Servers that close without close_notify should read as EOF, not as an error.
  SSL_CTX_set_options(ssl_ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (!o_.cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ssl_ctx_, o_.cert.c_str()) != 1) {
      UsageError("cannot load --cert=" + o_.cert);
    }
    if (SSL_CTX_use_PrivateKey_file(ssl_ctx_, o_.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ssl_ctx_) != 1) {
      UsageError("cannot load --key=" + o_.key + " (or it does not match --cert)");
    }
  }
  if (o_.ca.empty()) {
    SSL_CTX_set_verify(ssl_ctx_, SSL_VERIFY_NONE, nullptr);
    return;
  }
  if (SSL_CTX_load_verify_locations(ssl_ctx_, o_.ca.c_str(), nullptr) != 1) {
    UsageError("cannot load --ca=" + o_.ca);
  }
  // Verifies the chain only; loopback servers rarely carry a certificate naming 127.0.0.1.
  SSL_CTX_set_verify(ssl_ctx_, SSL_VERIFY_PEER, nullptr);
}

void Prober::InitGrpc() {
  // The ipv4:/ipv6: schemes keep gRPC away from any name resolution.
  grpc_target_ = (o_.target.family() == AF_INET ? "ipv4:" : "ipv6:") + AddressText(o_.target);
  if (o_.ca.empty() && o_.cert.empty()) {
    grpc_credentials_ = grpc::InsecureChannelCredentials();
    return;
  }
  grpc::SslCredentialsOptions ssl;
  if (!o_.ca.empty()) ssl.pem_root_certs = ReadFileOrDie("ca", o_.ca);
  if (!o_.cert.empty()) {
    ssl.pem_cert_chain = ReadFileOrDie("cert", o_.cert);
    ssl.pem_private_key = ReadFileOrDie("key", o_.key);
  }
  grpc_credentials_ = grpc::SslCredentials(ssl);
}

CallResult Prober::Call() {
  if (o_.probe == "http") {
    return CallStream(false, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 12,
                      [](const std::string& r) { return CheckHttp(r, "HTTP/1.1 200"); });
  }
  if (o_.probe == "https") {
    // Any status (404, 401...) proves the server accepted and served the connection.
    return CallStream(true, "GET /exports/probe-does-not-exist HTTP/1.1\r\nHost: x\r\n\r\n", 7,
                      [](const std::string& r) { return CheckHttp(r, "HTTP/1."); });
  }
  if (o_.probe == "usbip") {
    // OP_REQ_DEVLIST: version 0x0111, code 0x8005, status 0, all big-endian.
    const std::string request("\x01\x11\x80\x05\x00\x00\x00\x00", 8);
    return CallStream(ssl_ctx_ != nullptr, request, 8, CheckUsbIp);
  }
  return CallGrpc();
}

CallResult Prober::CallStream(bool tls, const std::string& request, size_t want,
                              const std::function<std::string(const std::string&)>& check) {
  CallResult result;
  auto start = Clock::now();
  auto deadline = start + std::chrono::milliseconds(o_.timeout_ms);
  int fd = ConnectBefore(o_.target, deadline, &result.error);
  if (fd < 0) return result;
  SSL* ssl = nullptr;
  if (tls) {
    ssl = SSL_new(ssl_ctx_);
    SSL_set_fd(ssl, fd);
    if (!o_.authority.empty()) SSL_set_tlsext_host_name(ssl, o_.authority.c_str());
  }
  Stream stream(fd, ssl);
  std::string response, error;
  // The stage prefix tells a refused handshake apart from a server that never answers.
  if (tls && !stream.Handshake(deadline, &error)) {
    result.error = "tls handshake: " + error;
  } else if (!stream.WriteAll(request, deadline, &error)) {
    result.error = "write: " + error;
  } else if (!stream.ReadAtLeast(want, &response, deadline, &error)) {
    result.error = "read: " + error;
  } else {
    result.error = check(response);
  }
  result.ok = result.error.empty();
  result.ms = MsBetween(start, Clock::now());
  return result;
}

CallResult Prober::CallGrpc() {
  CallResult result;
  auto start = Clock::now();
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a fresh connection for every call
  if (!o_.authority.empty()) args.SetSslTargetNameOverride(o_.authority);
  grpc::GenericStub stub(grpc::CreateCustomChannel(grpc_target_, grpc_credentials_, args));
  grpc::ClientContext context;
  auto timeout = std::chrono::milliseconds(o_.timeout_ms);
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  context.set_wait_for_ready(false);
  grpc::CompletionQueue cq;
  grpc::Slice empty_slice;  // HealthCheckRequest{service: ""} serializes to zero bytes
  grpc::ByteBuffer request(&empty_slice, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  auto call = stub.PrepareUnaryCall(&context, kHealthMethod, request, &cq);
  call->StartCall();
  call->Finish(&response, &status, &status);
  void* tag = nullptr;
  bool ok = false;
  // The call deadline ends the call; the extra margin only guards against a stuck library.
  auto hard_limit = std::chrono::system_clock::now() + timeout + std::chrono::seconds(5);
  if (cq.AsyncNext(&tag, &ok, hard_limit) != grpc::CompletionQueue::GOT_EVENT) {
    context.TryCancel();
    cq.Next(&tag, &ok);
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (!status.ok()) {
    result.error = "grpc status " + std::to_string(status.error_code()) + ": " +
                   OneLine(status.error_message());
    return result;
  }
  result.ok = true;
  result.ms = MsBetween(start, Clock::now());
  return result;
}

struct ProbeStats {
  int64_t ok = 0;
  int64_t failed = 0;
  std::vector<double> ms;
  std::string first_error;

  void Add(const CallResult& call) {
    if (call.ok) {
      ++ok;
      ms.push_back(call.ms);
      return;
    }
    ++failed;
    if (first_error.empty()) first_error = OneLine(call.error.empty() ? "unknown" : call.error);
  }
  double Max() const { return ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end()); }
};

// Starts one call every --interval-ms until `count` calls ran or `until` passed. A call slower
// than the interval delays the next one instead of causing a burst of catch-up calls.
void RunProbeLoop(Prober& prober, const Options& o, int64_t count, Clock::time_point until,
                  ProbeStats* stats) {
  auto interval = std::chrono::milliseconds(o.interval_ms);
  auto due = Clock::now();
  for (int64_t i = 0; i < count; ++i) {
    if (due >= until || Clock::now() >= until) break;
    std::this_thread::sleep_until(due);
    stats->Add(prober.Call());
    due += interval;
    due = std::max(due, Clock::now());
  }
}

int RunProbeMode(const Options& o) {
  Prober prober(o);
  ProbeStats stats;
  RunProbeLoop(prober, o, o.count, Clock::time_point::max(), &stats);
  PrintStr("mode", "probe");
  PrintStr("probe", o.probe);
  PrintInt("count", o.count);
  PrintInt("ok", stats.ok);
  PrintInt("failed", stats.failed);
  PrintFixed("p50_ms", Percentile(stats.ms, 50), 3);
  PrintFixed("p99_ms", Percentile(stats.ms, 99), 3);
  PrintFixed("max_ms", stats.Max(), 3);
  if (stats.failed > 0) PrintStr("first_error", stats.first_error);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Mode bench: probe latency without and with a concurrent cycle flood, alternating.

struct FloodTotals {
  CycleResult cycles;
  double seconds = 0;
};

// One flood phase: cycle workers run for exactly as long as the probe loop does.
void RunFloodPhase(Prober& prober, const Options& o, ProbeStats* stats, FloodTotals* totals) {
  std::atomic<bool> stop{false};
  auto start = Clock::now();
  CycleResult phase;
  std::thread flood([&] { phase = RunCycles(o, o.flood_threads, kUnlimited, &stop); });
  auto phase_length =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  RunProbeLoop(prober, o, kUnlimited, start + phase_length, stats);
  stop.store(true);
  flood.join();
  totals->seconds += SecondsSince(start);
  totals->cycles.Add(phase);
}

void PrintBench(const Options& o, const ProbeStats& base, const ProbeStats& flood,
                const FloodTotals& totals) {
  double base_p99 = Percentile(base.ms, 99);
  double flood_p99 = Percentile(flood.ms, 99);
  PrintStr("mode", "bench");
  PrintStr("probe", o.probe);
  PrintFixed("seconds", o.seconds, 3);
  PrintInt("flood_threads", o.flood_threads);
  PrintFixed("base_p50_ms", Percentile(base.ms, 50), 3);
  PrintFixed("base_p99_ms", base_p99, 3);
  PrintFixed("flood_p50_ms", Percentile(flood.ms, 50), 3);
  PrintFixed("flood_p99_ms", flood_p99, 3);
  PrintFixed("p99_ratio", base_p99 > 0 ? flood_p99 / base_p99 : 0, 2);  // 0: no base sample
  PrintFixed("flood_per_second", totals.seconds > 0 ? totals.cycles.ok / totals.seconds : 0, 1);
  PrintFixed("flood_cpu_seconds", totals.cycles.thread_cpu_seconds, 3);
  PrintInt("flood_connects", totals.cycles.ok);
  PrintInt("flood_connect_errors", totals.cycles.connect_errors);
  PrintInt("flood_retried", totals.cycles.retried);
  PrintInt("base_probe_ok", base.ok);
  PrintInt("base_probe_failed", base.failed);
  PrintInt("flood_probe_ok", flood.ok);
  PrintInt("flood_probe_failed", flood.failed);
  if (base.failed > 0) PrintStr("base_first_error", base.first_error);
  if (flood.failed > 0) PrintStr("flood_first_error", flood.first_error);
}

int RunBenchMode(const Options& o) {
  Prober prober(o);
  ProbeStats base;
  ProbeStats flood;
  FloodTotals totals;
  auto phase_length =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  for (int round = 0; round < 2; ++round) {
    RunProbeLoop(prober, o, kUnlimited, Clock::now() + phase_length, &base);
    RunFloodPhase(prober, o, &flood, &totals);
    // Lets the server drain its accept queue so the next base phase is not measuring the flood.
    if (round == 0) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  PrintBench(o, base, flood, totals);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // a server resetting a connection must not kill the tool
  Options options = ParseFlags(argc, argv);
  int64_t fd_limit = RaiseFdLimit();
  int rc = 0;
  if (options.mode == "cycle") rc = RunCycleMode(options);
  if (options.mode == "hold" || options.mode == "midtls") rc = RunHoldMode(options, fd_limit);
  if (options.mode == "probe") rc = RunProbeMode(options);
  if (options.mode == "bench") rc = RunBenchMode(options);
  std::fflush(stdout);
  return rc;
}
