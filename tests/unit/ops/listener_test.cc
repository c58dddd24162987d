// net::Listener over real loopback sockets: caps, per-peer limits, deadlines, the non-blocking
// TLS handshake, thread reaping, hand-off tracking and the counters' invariant.
#include "berth/net/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "self_signed_tls.h"

namespace berth::net {
namespace {

// Connects to 127.0.0.1:port from `source` (a loopback address); returns the fd or -1.
int Connect(int port, const char* source = "127.0.0.1") {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, source, &a.sin_addr);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Whether the server closed `fd` within `wait` (EOF or reset). Bytes it sends first (TLS 1.3
// session tickets) are read and skipped.
bool ClosedByServer(int fd, absl::Duration wait) {
  absl::Time end = absl::Now() + wait;
  while (absl::Now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(end - absl::Now())) + 1) <= 0) {
      return false;
    }
    char b[4096];
    if (recv(fd, b, sizeof(b), MSG_DONTWAIT) <= 0) return true;
  }
  return false;
}

// Waits until `pred` holds (polling), at most 5 s.
template <typename Pred>
bool Eventually(Pred pred) {
  absl::Time end = absl::Now() + absl::Seconds(5);
  while (absl::Now() < end) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return pred();
}

// Every accepted connection is accounted for once nothing is open.
void CheckInvariant(const ListenerCounts& c) {
  CHECK(c.accepted == c.refused_capacity + c.refused_peer + c.refused_not_allowed +
                          c.dropped_first_byte + c.dropped_handshake + c.dropped_tls_error +
                          c.dropped_idle + c.abandoned + c.served);
}

ListenerConfig Config(ListenerLimits limits) {
  ListenerConfig c;
  c.name = "test";
  c.listen = "127.0.0.1:0";
  c.limits = limits;
  return c;
}

// Echoes one byte back, then returns.
void EchoOne(Connection c) {
  char b;
  if (recv(c.fd.get(), &b, 1, 0) == 1) send(c.fd.get(), &b, 1, MSG_NOSIGNAL);
}

TEST_CASE("connect-and-close cycles are all accounted for and leave no thread") {
  auto l = Listener::Serve(Config({}), EchoOne);
  REQUIRE(l.ok());
  for (int i = 0; i < 2000; ++i) {
    int fd = Connect((*l)->port());
    REQUIRE(fd >= 0);
    if (i % 2) {  // every other one sends a byte: served, echoed
      send(fd, "x", 1, 0);
      char b;
      CHECK(recv(fd, &b, 1, 0) == 1);
    }
    close(fd);
  }
  REQUIRE(Eventually([&] { return (*l)->Counts().open == 0; }));
  ListenerCounts c = (*l)->Counts();
  CHECK(c.accepted == 2000);
  CHECK(c.served == 1000);
  CHECK(c.handler_threads == 0);
  CHECK(c.waiting == 0);
  CheckInvariant(c);
}

TEST_CASE("silent connections are dropped at the first-byte deadline") {
  ListenerLimits lim;
  lim.first_byte_timeout = absl::Milliseconds(200);
  auto l = Listener::Serve(Config(lim), EchoOne);
  REQUIRE(l.ok());
  std::vector<int> fds;
  for (int i = 0; i < 20; ++i) fds.push_back(Connect((*l)->port()));
  for (int fd : fds) CHECK(ClosedByServer(fd, absl::Seconds(3)));
  for (int fd : fds) close(fd);
  ListenerCounts c = (*l)->Counts();
  CHECK(c.dropped_first_byte == 20);
  CHECK(c.open == 0);
  CheckInvariant(c);
}

TEST_CASE("one flooding address cannot starve another") {
  ListenerLimits lim;
  lim.max_unserved_per_peer = 4;
  auto l = Listener::Serve(Config(lim), EchoOne);
  REQUIRE(l.ok());
  std::vector<int> flood;
  for (int i = 0; i < 10; ++i) flood.push_back(Connect((*l)->port(), "127.0.0.2"));
  REQUIRE(Eventually([&] { return (*l)->Counts().refused_peer == 6; }));
  int fd = Connect((*l)->port(), "127.0.0.1");
  send(fd, "y", 1, 0);
  char b = 0;
  CHECK(recv(fd, &b, 1, 0) == 1);
  CHECK(b == 'y');
  close(fd);
  for (int f : flood) close(f);
  REQUIRE(Eventually([&] { return (*l)->Counts().open == 0; }));
  CheckInvariant((*l)->Counts());
}

TEST_CASE("past max_connections new connections are refused, and served ones are reaped") {
  ListenerLimits lim;
  lim.max_connections = 3;
  absl::Notification release;
  std::atomic<int> running{0};
  auto l = Listener::Serve(Config(lim), [&](Connection c) {
    ++running;
    release.WaitForNotification();
  });
  REQUIRE(l.ok());
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    fds.push_back(Connect((*l)->port()));
    send(fds.back(), "z", 1, 0);
  }
  REQUIRE(Eventually([&] { return running == 3; }));
  int extra = Connect((*l)->port());
  CHECK(ClosedByServer(extra, absl::Seconds(3)));
  close(extra);
  CHECK((*l)->Counts().refused_capacity == 1);
  CHECK((*l)->Counts().handler_threads == 3);
  release.Notify();
  REQUIRE(Eventually([&] { return (*l)->Counts().handler_threads == 0; }));
  for (int f : fds) close(f);
  CHECK((*l)->Counts().open == 0);
  CheckInvariant((*l)->Counts());
}

TEST_CASE("TLS: a real client is served, a stalled handshake and an idle session are dropped") {
  ListenerLimits lim;
  lim.handshake_timeout = absl::Milliseconds(300);
  lim.idle_timeout = absl::Milliseconds(300);
  std::shared_ptr<SSL_CTX> server_ctx = berth::testing::SelfSignedServerContext();
  ListenerConfig config = Config(lim);
  config.tls = [server_ctx] { return server_ctx; };
  auto l = Listener::Serve(config, [](Connection c) {
    REQUIRE(c.ssl != nullptr);
    char buf[4];
    int n = SSL_read(c.ssl.get(), buf, sizeof(buf));
    if (n > 0) SSL_write(c.ssl.get(), buf, n);
  });
  REQUIRE(l.ok());
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  auto client = [&](bool send_request) {
    int fd = Connect((*l)->port());
    SSL* ssl = SSL_new(client_ctx);
    SSL_set_fd(ssl, fd);
    bool ok = SSL_connect(ssl) == 1;
    if (ok && send_request) {
      char buf[4] = {};
      ok = SSL_write(ssl, "ping", 4) == 4 && SSL_read(ssl, buf, 4) == 4 &&
           std::string(buf, 4) == "ping";
    } else if (ok) {
      ok = ClosedByServer(fd, absl::Seconds(3));  // the idle deadline
    }
    SSL_free(ssl);
    close(fd);
    return ok;
  };
  CHECK(client(true));
  CHECK(client(false));
  // Half a ClientHello, then nothing.
  int stalled = Connect((*l)->port());
  const unsigned char part[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc};
  send(stalled, part, sizeof(part), 0);
  CHECK(ClosedByServer(stalled, absl::Seconds(3)));
  close(stalled);
  // Not TLS at all.
  int junk = Connect((*l)->port());
  send(junk, "GET / HTTP/1.0\r\n\r\n", 18, 0);
  CHECK(ClosedByServer(junk, absl::Seconds(3)));
  close(junk);
  SSL_CTX_free(client_ctx);
  REQUIRE(Eventually([&] { return (*l)->Counts().open == 0; }));
  ListenerCounts c = (*l)->Counts();
  CHECK(c.served == 1);
  CHECK(c.dropped_idle == 1);
  CHECK(c.dropped_handshake == 1);
  CHECK(c.dropped_tls_error == 1);
  CheckInvariant(c);
}

TEST_CASE("hand-off: a connection counts open until either side shuts it down") {
  std::vector<int> taken;
  absl::Mutex mu;
  ListenerConfig config = Config({});
  config.wait_client_hello = true;
  auto l = Listener::HandOffTo(config, [&](int fd) {
    absl::MutexLock lock(&mu);
    taken.push_back(fd);
  });
  REQUIRE(l.ok());
  int a = Connect((*l)->port());
  int b = Connect((*l)->port());
  send(a, "A", 1, 0);
  send(b, "B", 1, 0);
  REQUIRE(Eventually([&] {
    absl::MutexLock lock(&mu);
    return taken.size() == 2;
  }));
  CHECK((*l)->Counts().open == 2);
  close(a);  // the peer hangs up
  REQUIRE(Eventually([&] { return (*l)->Counts().open == 1; }));
  {
    absl::MutexLock lock(&mu);  // the new owner shuts its socket down, as gRPC does
    for (int fd : taken) {
      shutdown(fd, SHUT_RDWR);
      close(fd);
    }
  }
  REQUIRE(Eventually([&] { return (*l)->Counts().open == 0; }));
  close(b);
  // A ClientHello that never completes is dropped here, before any hand-off.
  ListenerLimits lim;
  lim.handshake_timeout = absl::Milliseconds(200);
  ListenerConfig c2 = Config(lim);
  c2.wait_client_hello = true;
  std::atomic<int> handed{0};
  auto l2 = Listener::HandOffTo(c2, [&](int fd) {
    ++handed;
    close(fd);
  });
  REQUIRE(l2.ok());
  int stalled = Connect((*l2)->port());
  const unsigned char part[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  send(stalled, part, sizeof(part), 0);
  CHECK(ClosedByServer(stalled, absl::Seconds(3)));
  close(stalled);
  CHECK(handed == 0);
  CHECK((*l2)->Counts().dropped_handshake == 1);
}

TEST_CASE("out of file descriptors: the listener pauses accepting instead of spinning") {
  auto l = Listener::Serve(Config({}), EchoOne);
  REQUIRE(l.ok());
  // Take every free descriptor of the process, keeping a few for the test's own connects.
  rlimit old{};
  getrlimit(RLIMIT_NOFILE, &old);
  rlimit low = old;
  low.rlim_cur = 256;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
  // The clients' sockets exist before the hogging: freeing descriptors for them afterwards
  // would race the listener's accept for them.
  std::vector<int> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(clients.back() >= 0);
  }
  std::vector<int> hogs = {open("/dev/null", O_RDONLY | O_CLOEXEC)};
  REQUIRE(hogs[0] >= 0);
  for (int fd; (fd = dup(hogs[0])) >= 0;) hogs.push_back(fd);
  REQUIRE(errno == EMFILE);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>((*l)->port()));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  for (int fd : clients) REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0);
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  absl::SleepFor(absl::Milliseconds(500));  // the clients wait in the backlog; accept fails
  getrusage(RUSAGE_SELF, &after);
  auto cpu = [](const rusage& r) {
    return absl::DurationFromTimeval(r.ru_utime) + absl::DurationFromTimeval(r.ru_stime);
  };
  CHECK(cpu(after) - cpu(before) < absl::Milliseconds(150));  // a spin would burn ~500 ms
  for (int fd : hogs) close(fd);
  setrlimit(RLIMIT_NOFILE, &old);
  for (int fd : clients) {  // served once descriptors are free again
    send(fd, "k", 1, 0);
    char b = 0;
    CHECK(recv(fd, &b, 1, 0) == 1);
    close(fd);
  }
  REQUIRE(Eventually([&] { return (*l)->Counts().open == 0; }));
  CheckInvariant((*l)->Counts());
}

TEST_CASE("--listener_limits overrides one listener and names what is wrong") {
  std::vector<std::string> known = {"agent-grpc", "export"};
  ListenerLimits lim;
  REQUIRE(ApplyLimitOverrides("export.max_connections=9,agent-grpc.idle_timeout=2m", "export",
                              known, &lim)
              .ok());
  CHECK(lim.max_connections == 9);
  CHECK(lim.idle_timeout == absl::Seconds(60));  // agent-grpc's, not ours
  auto err = [&](const std::string& spec) {
    ListenerLimits scratch;
    return std::string(ApplyLimitOverrides(spec, "export", known, &scratch).message());
  };
  CHECK(err("usbip.max_connections=1").find("no listener \"usbip\"") != std::string::npos);
  CHECK(err("export.max_conns=1").find("unknown key \"max_conns\"") != std::string::npos);
  CHECK(err("export.max_connections=-1").find("want a number") != std::string::npos);
  CHECK(err("export.idle_timeout=soon").find("want a duration") != std::string::npos);
  CHECK(err("export").find("want LISTENER.KEY=VALUE") != std::string::npos);
}

}  // namespace
}  // namespace berth::net
