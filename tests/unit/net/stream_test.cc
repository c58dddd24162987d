// net::Stream and net::Dial: plain streams over a socketpair (reads, writes, end of stream, no
// SIGPIPE), TLS in shared mode (one reader while several writers write, the peer's identity,
// close_notify-less ends) and in bulk mode (buffered writes reach the peer only on Flush, large
// transfers, an accepted connection moved onto the buffered BIO as the export server does), and
// the dialer's errors (nothing listening, a server certificate of another CA), with mutual TLS
// between certificates made by scripts/certs.
#include "berth/net/stream.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "berth/net/socket.h"

namespace berth::net {
namespace {

using CtxPtr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;

// A cluster CA with agent bundles node-1 (server) and node-2 (client), and a second CA.
struct Certs {
  Certs() {
    char tmpl[] = "/tmp/berth-net-stream.XXXXXX";
    dir = mkdtemp(tmpl);
    Run("init " + dir + "/ca");
    Run("agent " + dir + "/ca node-1");
    Run("agent " + dir + "/ca node-2");
    Run("init " + dir + "/other");
  }
  ~Certs() { std::filesystem::remove_all(dir); }
  static void Run(const std::string& args) {
    std::string cmd =
        absl::StrCat("bash ", BERTH_SOURCE_DIR, "/scripts/certs ", args, " 2>/dev/null");
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
  // Mutual TLS: presents agents/NAME of `ca`, trusts `trust`'s CA.
  CtxPtr Context(bool server, const std::string& ca, const std::string& name,
                 const std::string& trust) const {
    CtxPtr ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()), SSL_CTX_free);
    std::string b = dir + "/" + ca + "/agents/" + name;
    REQUIRE(SSL_CTX_use_certificate_chain_file(ctx.get(), (b + "/tls.crt").c_str()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(ctx.get(), (b + "/tls.key").c_str(), SSL_FILETYPE_PEM) ==
            1);
    REQUIRE(SSL_CTX_load_verify_locations(ctx.get(), (dir + "/" + trust + "/ca.crt").c_str(),
                                          nullptr) == 1);
    SSL_CTX_set_verify(ctx.get(),
                       server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER,
                       nullptr);
    return ctx;
  }
  std::string dir;
};

struct Pair {
  Pair() { REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0); }
  int fds[2] = {-1, -1};
};

// Handshakes both ends of a socketpair at once (the server on a helper thread).
struct TlsPair {
  TlsPair(const Certs& certs, const StreamOptions& client_opts, const StreamOptions& server_opts)
      : server_ctx(certs.Context(true, "ca", "node-1", "ca")),
        client_ctx(certs.Context(false, "ca", "node-2", "ca")) {
    Pair p;
    auto accepted = std::async(std::launch::async, [&] {
      return TlsServerStream(p.fds[1], true, server_ctx.get(), server_opts);
    });
    auto c = TlsClientStream(p.fds[0], true, client_ctx.get(), "127.0.0.1", "0", client_opts);
    auto s = accepted.get();
    REQUIRE(c.ok());
    REQUIRE(s.ok());
    client = *std::move(c);
    server = *std::move(s);
  }
  CtxPtr server_ctx, client_ctx;
  std::unique_ptr<Stream> client, server;
};

std::vector<uint8_t> Pattern(size_t n, int seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 31 + seed);
  return v;
}

StreamOptions Bulk() {
  StreamOptions o;
  o.bulk = true;
  return o;
}

StreamOptions Shared(const std::string& prefix = "") {
  StreamOptions o;
  o.error_prefix = prefix;
  o.handshake_timeout = absl::Seconds(10);
  o.eof_without_close_notify = true;
  return o;
}

// Blocks SIGPIPE on this thread while alive and drops a pending one.
struct NoSigpipe {
  NoSigpipe() {
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old);
  }
  ~NoSigpipe() {
    timespec zero{0, 0};
    while (sigtimedwait(&pipe, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  sigset_t pipe, old;
};

// Whether `fd` has bytes to read within `ms`.
bool Readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

TEST_CASE("plain streams read, write and end cleanly, without SIGPIPE") {
  Pair p;
  StreamOptions o;
  o.error_prefix = "test: ";
  auto a = PlainStream(p.fds[0], true, o);
  auto b = PlainStream(p.fds[1], true, o);
  CHECK_FALSE(a->IsTls());
  CHECK(a->Peer().name.empty());
  CHECK(a->ssl() == nullptr);
  std::vector<uint8_t> data = Pattern(100000, 1);
  absl::Status wrote, flushed;
  std::thread writer([&] {
    wrote = a->WriteAll(data);
    flushed = a->Flush();  // nothing to do
  });
  std::vector<uint8_t> got(data.size());
  REQUIRE(b->ReadFull(got.data(), got.size()).ok());
  writer.join();
  CHECK(wrote.ok());
  CHECK(flushed.ok());
  CHECK(got == data);

  a->Shutdown();
  uint8_t x;
  auto r = b->ReadSome(&x, 1);
  REQUIRE(r.ok());
  CHECK(*r == 0);
  absl::Status full = b->ReadFull(&x, 1);
  CHECK(absl::IsUnavailable(full));
  CHECK(full.message() == "test: peer closed the connection");
  // The peer is gone: the write fails (EPIPE) and the process lives on.
  absl::Status w = a->WriteAll(data.data(), data.size(), "sending the data");
  CHECK(absl::IsUnavailable(w));
  CHECK(absl::StartsWith(w.message(), "test: sending the data: "));
}

TEST_CASE("a borrowed fd stays open when the stream goes") {
  Pair p;
  { auto a = PlainStream(p.fds[0], /*owns_fd=*/false); }
  CHECK(::fcntl(p.fds[0], F_GETFD) >= 0);
  ::close(p.fds[0]);
  ::close(p.fds[1]);
}

TEST_CASE("shared TLS: one reader while several writers write") {
  Certs certs;
  TlsPair t(certs, Shared("test: "), Shared("test: "));
  CHECK(t.client->IsTls());
  CHECK(t.client->Peer().name == "node-1");
  CHECK(t.client->Peer().InGroup("berth:agents"));
  CHECK(t.server->Peer().name == "node-2");
  // The server echoes; four client threads write while the client's reader reads.
  std::thread echo([&] {
    std::vector<uint8_t> buf(16384);
    for (;;) {
      auto r = t.server->ReadSome(buf.data(), buf.size());
      if (!r.ok() || *r == 0) break;
      if (!t.server->WriteAll(buf.data(), *r).ok()) break;
    }
  });
  constexpr int kWriters = 4, kMessages = 200;
  constexpr size_t kSize = 3000;
  std::atomic<int> failed_writes{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::vector<uint8_t> m(kSize, static_cast<uint8_t>(w));  // whole messages: writes serialize
      for (int i = 0; i < kMessages; ++i) failed_writes += !t.client->WriteAll(m).ok();
    });
  }
  std::vector<int> seen(kWriters);
  for (int i = 0; i < kWriters * kMessages; ++i) {
    std::vector<uint8_t> m(kSize);
    REQUIRE(t.client->ReadFull(m.data(), m.size()).ok());
    REQUIRE(m[0] < kWriters);
    CHECK(std::all_of(m.begin(), m.end(), [&](uint8_t b) { return b == m[0]; }));
    ++seen[m[0]];
  }
  for (auto& w : writers) w.join();
  CHECK(failed_writes == 0);
  CHECK(seen == std::vector<int>(kWriters, kMessages));

  // Shutdown wakes a reader blocked on an idle connection.
  bool ended = false;
  std::thread blocked([&] {
    uint8_t b;
    auto r = t.client->ReadSome(&b, 1);
    ended = !r.ok() || *r == 0;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  t.client->Shutdown();
  blocked.join();
  echo.join();
  CHECK(ended);
}

TEST_CASE("TLS: how a stream ends") {
  Certs certs;
  SECTION("shared: a peer gone without close_notify ends the reads") {
    TlsPair t(certs, Shared("test: "), Shared());
    ::shutdown(t.server->fd(), SHUT_RDWR);  // no close_notify
    uint8_t b;
    auto r = t.client->ReadSome(&b, 1);
    CHECK((!r.ok() || *r == 0));
    if (!r.ok()) CHECK(absl::StartsWith(r.status().message(), "test: TLS read: "));
  }
  SECTION("bulk: a peer gone without close_notify is an error, not an end") {
    // OpenSSL answers the truncation with an alert, written to a socket the peer shut down:
    // bulk callers block SIGPIPE (exportwire::ScopedSigpipeBlock), as here.
    NoSigpipe no_sigpipe;
    StreamOptions strict = Bulk();
    strict.error_prefix = "test: ";
    TlsPair t(certs, strict, Bulk());
    ::shutdown(t.server->fd(), SHUT_RDWR);
    uint8_t b;
    auto r = t.client->ReadSome(&b, 1, "reading the body");
    REQUIRE_FALSE(r.ok());
    CHECK(absl::IsUnavailable(r.status()));
    CHECK(absl::StartsWith(r.status().message(), "test: reading the body: "));
  }
  SECTION("close_notify is a clean end") {
    TlsPair t(certs, Bulk(), Shared());
    t.server->CloseNotify();
    uint8_t b;
    auto r = t.client->ReadSome(&b, 1, "reading the body");
    REQUIRE(r.ok());
    CHECK(*r == 0);
  }
}

TEST_CASE("bulk TLS: writes are buffered until Flush and large transfers arrive whole") {
  Certs certs;
  TlsPair t(certs, Bulk(), Bulk());
  CHECK(t.client->Peer().name == "node-1");
  std::vector<uint8_t> small = Pattern(1000, 2);
  REQUIRE(t.client->WriteAll(small).ok());
  CHECK_FALSE(Readable(t.server->fd(), 100));  // still in the 256 KiB buffer
  REQUIRE(t.client->Flush().ok());
  std::vector<uint8_t> got(small.size());
  REQUIRE(t.server->ReadFull(got.data(), got.size()).ok());
  CHECK(got == small);

  std::vector<uint8_t> big = Pattern(24u << 20, 3);
  absl::Status sent;
  std::thread sender([&] {
    for (size_t at = 0; at < big.size() && sent.ok(); at += 1u << 20) {
      sent = t.server->WriteAll(big.data() + at, 1u << 20);
    }
    if (sent.ok()) sent = t.server->Flush();
    t.server->CloseNotify();
  });
  std::vector<uint8_t> in(big.size());
  absl::Status received = t.client->ReadFull(in.data(), in.size());
  sender.join();
  REQUIRE(sent.ok());
  REQUIRE(received.ok());
  CHECK(in == big);
  uint8_t b;
  auto r = t.client->ReadSome(&b, 1);
  REQUIRE(r.ok());
  CHECK(*r == 0);  // close_notify
}

TEST_CASE("bulk TLS: an accepted connection moves onto the buffered BIO") {
  // What the export server does with net::Listener's connections: the handshake on a
  // NewSocketBio, then serving in bulk mode.
  Certs certs;
  CtxPtr server_ctx = certs.Context(true, "ca", "node-1", "ca");
  CtxPtr client_ctx = certs.Context(false, "ca", "node-2", "ca");
  Pair p;
  auto accepted = std::async(std::launch::async, [&]() -> absl::StatusOr<std::unique_ptr<Stream>> {
    UniqueSsl ssl(SSL_new(server_ctx.get()));
    BIO* bio = NewSocketBio(p.fds[1]);
    SSL_set_bio(ssl.get(), bio, bio);
    if (SSL_accept(ssl.get()) != 1) return absl::UnavailableError(HandshakeError(ssl.get()));
    return TlsAcceptedStream(p.fds[1], true, std::move(ssl), Bulk());
  });
  auto c = TlsClientStream(p.fds[0], true, client_ctx.get(), "localhost", "0", Bulk());
  auto s = accepted.get();
  REQUIRE(c.ok());
  REQUIRE(s.ok());
  CHECK((*s)->Peer().name == "node-2");
  std::vector<uint8_t> data = Pattern(3u << 20, 4);
  absl::Status sent;
  std::thread sender([&] {
    sent = (*s)->WriteAll(data);
    if (sent.ok()) sent = (*s)->Flush();
  });
  std::vector<uint8_t> in(data.size());
  absl::Status received = (*c)->ReadFull(in.data(), in.size());
  sender.join();
  REQUIRE(sent.ok());
  REQUIRE(received.ok());
  CHECK(in == data);
}

TEST_CASE("Dial: plain and TLS over loopback, and its errors") {
  Certs certs;
  auto listening = ListenTcp("127.0.0.1:0", 8);
  REQUIRE(listening.ok());
  std::string port = absl::StrCat(BoundPort(listening->get()));
  auto accept_one = [&] {  // -1 when nobody connects within 5 s
    if (!Readable(listening->get(), 5000)) return UniqueFd();
    return UniqueFd(::accept4(listening->get(), nullptr, nullptr, SOCK_CLOEXEC));
  };
  CtxPtr server_ctx = certs.Context(true, "ca", "node-1", "ca");

  SECTION("plain") {
    auto c = Dial("127.0.0.1", port, nullptr);
    REQUIRE(c.ok());
    UniqueFd s = accept_one();
    REQUIRE((*c)->WriteAll({1, 2, 3}).ok());
    auto peer = PlainStream(s.release(), true);
    uint8_t b[3];
    REQUIRE(peer->ReadFull(b, 3).ok());
    CHECK(b[2] == 3);
  }
  for (bool bulk : {false, true}) {
    DYNAMIC_SECTION("TLS, bulk " << bulk) {
      StreamOptions o = bulk ? Bulk() : Shared();
      CtxPtr client_ctx = certs.Context(false, "ca", "node-2", "ca");
      auto server =
          std::async(std::launch::async, [&]() -> absl::StatusOr<std::unique_ptr<Stream>> {
            UniqueFd s = accept_one();
            if (!s.valid()) return absl::DeadlineExceededError("nobody connected");
            return TlsServerStream(s.release(), true, server_ctx.get(), o);
          });
      auto c = Dial("localhost", port, client_ctx.get(), o);
      auto s = server.get();
      REQUIRE(c.ok());
      REQUIRE(s.ok());
      REQUIRE((*c)->WriteAll({7, 8}).ok());
      REQUIRE((*c)->Flush().ok());
      uint8_t b[2];
      REQUIRE((*s)->ReadFull(b, 2).ok());
      CHECK(b[1] == 8);
    }
  }
  SECTION("a server certificate of another CA is refused") {
    CtxPtr stranger = certs.Context(false, "ca", "node-2", "other");
    auto server = std::async(std::launch::async, [&]() -> absl::StatusOr<std::unique_ptr<Stream>> {
      UniqueFd s = accept_one();
      if (!s.valid()) return absl::DeadlineExceededError("nobody connected");
      return TlsServerStream(s.release(), true, server_ctx.get(), Shared());
    });
    StreamOptions o = Bulk();
    o.error_prefix = "test: ";
    auto c = Dial("127.0.0.1", port, stranger.get(), o);
    REQUIRE_FALSE(c.ok());
    CHECK(absl::IsPermissionDenied(c.status()));
    CHECK(absl::StartsWith(c.status().message(),
                           absl::StrCat("test: TLS handshake with 127.0.0.1:", port,
                                        ": the peer's certificate does not verify")));
    CHECK_FALSE(server.get().ok());
  }
  SECTION("nothing listening") {
    listening->reset();
    StreamOptions o;
    o.error_prefix = "test: ";
    auto c = Dial("127.0.0.1", port, nullptr, o);
    REQUIRE_FALSE(c.ok());
    CHECK(absl::IsUnavailable(c.status()));
    CHECK(absl::StartsWith(c.status().message(), "test: connecting to 127.0.0.1:"));
  }
}

}  // namespace
}  // namespace berth::net
