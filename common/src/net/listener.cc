#include "berth/net/listener.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <thread>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "berth/log.h"
#include "berth/metrics.h"

namespace berth::net {

absl::Status ApplyLimitOverrides(const std::string& spec, const std::string& name,
                                 const std::vector<std::string>& known, ListenerLimits* limits) {
  for (absl::string_view item : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("--listener_limits: \"", item, "\": ", why));
    };
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(item, '=');
    size_t dot = kv.first.rfind('.');
    if (dot == absl::string_view::npos || kv.second.empty()) {
      return bad("want LISTENER.KEY=VALUE");
    }
    std::string listener(absl::StripAsciiWhitespace(kv.first.substr(0, dot)));
    std::string key(kv.first.substr(dot + 1));
    std::string value(absl::StripAsciiWhitespace(kv.second));
    if (std::find(known.begin(), known.end(), listener) == known.end()) {
      return bad(
          absl::StrCat("no listener \"", listener, "\" (have: ", absl::StrJoin(known, ", "), ")"));
    }
    std::map<std::string, int*> ints = {{"max_connections", &limits->max_connections},
                                        {"max_unserved", &limits->max_unserved},
                                        {"max_unserved_per_peer", &limits->max_unserved_per_peer},
                                        {"max_served_per_peer", &limits->max_served_per_peer}};
    std::map<std::string, absl::Duration*> durations = {
        {"first_byte_timeout", &limits->first_byte_timeout},
        {"handshake_timeout", &limits->handshake_timeout},
        {"idle_timeout", &limits->idle_timeout}};
    if (auto i = ints.find(key); i != ints.end()) {
      int v = 0;
      if (!absl::SimpleAtoi(value, &v) || v < 0) return bad("want a number >= 0");
      if (listener == name) *i->second = v;
    } else if (auto d = durations.find(key); d != durations.end()) {
      absl::Duration v;
      if (!absl::ParseDuration(value, &v) || v < absl::ZeroDuration()) {
        return bad("want a duration such as 5s or 250ms");
      }
      if (listener == name) *d->second = v;
    } else {
      return bad(absl::StrCat("unknown key \"", key, "\""));
    }
  }
  return absl::OkStatus();
}

namespace {

enum class Stage { kFirstByte, kClientHello, kHandshake, kFirstRequest, kHandedOff };

constexpr size_t kTlsRecordHeader = 5;
constexpr absl::Duration kAcceptPause = absl::Milliseconds(100);
constexpr size_t kMaxTlsRecord = 16384 + 2048;

// Counters of one listener, in the given registry (or a private one).
struct Meters {
  Meters(metrics::Registry& r, const std::string& name) {
    auto& refused = r.AddCounter("berth_listener_refused_total",
                                 "Connections closed at accept, by listener and reason.",
                                 {"listener", "reason"});
    auto& dropped =
        r.AddCounter("berth_listener_dropped_total",
                     "Connections dropped before they were served, by listener and reason.",
                     {"listener", "reason"});
    accepted = &r.AddCounter("berth_listener_accepted_total", "Connections accepted.", {"listener"})
                    .With({name});
    served = &r.AddCounter("berth_listener_served_total",
                           "Connections that passed the gate (first byte, TLS) and were served.",
                           {"listener"})
                  .With({name});
    abandoned = &r.AddCounter("berth_listener_abandoned_total",
                              "Connections the peer closed before they were served.", {"listener"})
                     .With({name});
    refused_capacity = &refused.With({name, "capacity"});
    refused_peer = &refused.With({name, "peer_limit"});
    refused_not_allowed = &refused.With({name, "not_allowed"});
    dropped_first_byte = &dropped.With({name, "first_byte_timeout"});
    dropped_handshake = &dropped.With({name, "handshake_timeout"});
    dropped_tls_error = &dropped.With({name, "tls_error"});
    dropped_idle = &dropped.With({name, "idle_timeout"});
    open = &r.AddGauge("berth_listener_open_connections",
                       "Connections open now, by listener and stage (waiting: not yet served).",
                       {"listener", "stage"})
                .With({name, "all"});
    waiting = &r.AddGauge("berth_listener_open_connections", "", {"listener", "stage"})
                   .With({name, "waiting"});
    threads = &r.AddGauge("berth_listener_handler_threads",
                          "Threads serving connections now, by listener.", {"listener"})
                   .With({name});
  }
  metrics::Counter *accepted, *served, *abandoned, *refused_capacity, *refused_peer,
      *refused_not_allowed, *dropped_first_byte, *dropped_handshake, *dropped_tls_error,
      *dropped_idle;
  metrics::Gauge *open, *waiting, *threads;
};

uint64_t Read(const metrics::Counter* c) { return static_cast<uint64_t>(c->Value()); }

}  // namespace

class Listener::Impl {
 public:
  Impl(ListenerConfig config, UniqueFd fd, Handler handler, HandOff hand_off)
      : config_(std::move(config)),
        listen_fd_(std::move(fd)),
        port_(BoundPort(listen_fd_.get())),
        handler_(std::move(handler)),
        hand_off_(std::move(hand_off)),
        meters_(config_.metrics != nullptr ? *config_.metrics : own_registry_, config_.name) {}

  absl::Status Start() {
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!epoll_.valid() || !wake_.valid()) {
      return absl::InternalError(absl::StrCat(config_.name, ": epoll: ", strerror(errno)));
    }
    Watch(listen_fd_.get(), EPOLLIN, EPOLL_CTL_ADD);
    Watch(wake_.get(), EPOLLIN, EPOLL_CTL_ADD);
    loop_ = std::thread([this] { Loop(); });
    return absl::OkStatus();
  }

  ~Impl() {
    {
      absl::MutexLock l(&mu_);
      stopping_ = true;
    }
    Wake();
    if (loop_.joinable()) loop_.join();
    conns_.clear();  // closes every connection not yet served and the hand-off duplicates
    std::map<uint64_t, std::thread> threads;
    {
      absl::MutexLock l(&mu_);
      threads.swap(threads_);
    }
    for (auto& [id, t] : threads) t.join();
  }

  std::string address() const {
    auto hp = SplitHostPort(config_.listen);
    std::string host = hp.ok() ? hp->first : "";
    if (host.find(':') != std::string::npos) host = absl::StrCat("[", host, "]");
    return absl::StrCat(host, ":", port_);
  }
  int port() const { return port_; }
  const std::string& name() const { return config_.name; }

  ListenerCounts Counts() const {
    ListenerCounts c;
    c.accepted = Read(meters_.accepted);
    c.refused_capacity = Read(meters_.refused_capacity);
    c.refused_peer = Read(meters_.refused_peer);
    c.refused_not_allowed = Read(meters_.refused_not_allowed);
    c.dropped_first_byte = Read(meters_.dropped_first_byte);
    c.dropped_handshake = Read(meters_.dropped_handshake);
    c.dropped_tls_error = Read(meters_.dropped_tls_error);
    c.dropped_idle = Read(meters_.dropped_idle);
    c.abandoned = Read(meters_.abandoned);
    c.served = Read(meters_.served);
    c.open = static_cast<int64_t>(meters_.open->Value());
    c.waiting = static_cast<int64_t>(meters_.waiting->Value());
    c.handler_threads = static_cast<int64_t>(meters_.threads->Value());
    return c;
  }

 private:
  struct Conn {
    uint64_t id = 0;
    UniqueFd fd;
    std::string peer;
    Stage stage = Stage::kFirstByte;
    UniqueSsl ssl;
  };
  struct Deadline {
    absl::Time at;
    int fd;
    uint64_t id;
  };

  void Watch(int fd, uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    epoll_ctl(epoll_.get(), op, fd, &ev);
  }
  void Wake() {
    uint64_t one = 1;
    (void)!write(wake_.get(), &one, sizeof(one));
  }

  void Loop() {
    epoll_event events[64];
    for (;;) {
      int n = epoll_wait(epoll_.get(), events, 64, NextTimeoutMs());
      if (n < 0 && errno != EINTR) return;
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == listen_fd_.get()) {
          AcceptAll();
        } else if (fd == wake_.get()) {
          uint64_t v;
          (void)!read(wake_.get(), &v, sizeof(v));
          if (!ReapFinished()) return;
        } else {
          OnEvent(fd, events[i].events);
        }
      }
      absl::Time now = absl::Now();
      ExpireDeadlines(now);
      if (accept_paused_until_ != absl::InfinitePast() && now >= accept_paused_until_) {
        accept_paused_until_ = absl::InfinitePast();
        Watch(listen_fd_.get(), EPOLLIN, EPOLL_CTL_MOD);
      }
    }
  }

  int NextTimeoutMs() const {
    absl::Time next = absl::InfiniteFuture();
    for (const auto* q : {&first_byte_q_, &handshake_q_, &idle_q_}) {
      if (!q->empty()) next = std::min(next, q->front().at);
    }
    if (accept_paused_until_ != absl::InfinitePast()) next = std::min(next, accept_paused_until_);
    if (next == absl::InfiniteFuture()) return -1;
    absl::Duration left = next - absl::Now();
    return left <= absl::ZeroDuration() ? 0
                                        : static_cast<int>(absl::ToInt64Milliseconds(
                                              absl::Ceil(left, absl::Milliseconds(1))));
  }

  void AcceptAll() {
    for (int burst = 0; burst < 256; ++burst) {
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      UniqueFd fd(accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len,
                          SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (!fd.valid()) {
        // EMFILE/ENFILE: the process is out of descriptors. The listening socket stays
        // readable, so it leaves the epoll set for kAcceptPause instead of spinning; the
        // backlog waits meanwhile.
        if (errno == EMFILE || errno == ENFILE) {
          RateLimitedWarning("out of file descriptors; pausing accept");
          Watch(listen_fd_.get(), 0, EPOLL_CTL_MOD);
          accept_paused_until_ = absl::Now() + kAcceptPause;
        }
        return;
      }
      meters_.accepted->Inc();
      Admit(std::move(fd), AddressText(ss));
    }
  }

  // The gate at accept: allow-list, capacity, per-peer limits. Runs on the loop thread.
  void Admit(UniqueFd fd, std::string peer) {
    const ListenerLimits& lim = config_.limits;
    if (!config_.allowed_peers.empty() &&
        std::find(config_.allowed_peers.begin(), config_.allowed_peers.end(), peer) ==
            config_.allowed_peers.end()) {
      meters_.refused_not_allowed->Inc();
      RateLimitedWarning(absl::StrCat("refused ", peer, ": not a configured peer"));
      return;
    }
    int open = static_cast<int>(meters_.open->Value());
    if (open >= lim.max_connections || unserved_total_ >= lim.max_unserved) {
      meters_.refused_capacity->Inc();
      RateLimitedWarning("connection limit reached, refusing connections");
      return;
    }
    if (unserved_per_peer_[peer] >= lim.max_unserved_per_peer || !ServedRoom(peer)) {
      meters_.refused_peer->Inc();
      RateLimitedWarning(absl::StrCat("per-peer limit reached for ", peer));
      return;
    }
    // A flood's connect-and-close arrives already closed: settle it here, with no epoll round.
    char b;
    ssize_t early = recv(fd.get(), &b, 1, MSG_PEEK);
    if (early == 0 || (early < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      meters_.abandoned->Inc();
      return;
    }
    int one = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    meters_.open->Inc();
    meters_.waiting->Inc();
    ++unserved_total_;
    ++unserved_per_peer_[peer];
    int raw = fd.get();
    Conn& c = conns_[raw];
    c.id = ++next_id_;
    c.fd = std::move(fd);
    c.peer = std::move(peer);
    c.stage = Stage::kFirstByte;
    Watch(raw, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
    Enqueue(first_byte_q_, config_.limits.first_byte_timeout, c);
    if (early > 0) OnEvent(raw, EPOLLIN);  // the request is already here
  }

  bool ServedRoom(const std::string& peer) {
    if (config_.limits.max_served_per_peer <= 0) return true;
    absl::MutexLock l(&mu_);
    auto it = served_per_peer_.find(peer);
    return it == served_per_peer_.end() || it->second < config_.limits.max_served_per_peer;
  }

  void Enqueue(std::deque<Deadline>& q, absl::Duration timeout, const Conn& c) {
    if (timeout <= absl::ZeroDuration()) return;
    q.push_back({absl::Now() + timeout, c.fd.get(), c.id});
  }

  void OnEvent(int fd, uint32_t events) {
    auto it = conns_.find(fd);
    if (it == conns_.end()) return;
    Conn& c = it->second;
    switch (c.stage) {
      case Stage::kHandedOff:  // the peer or the new owner hung up
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) CloseHandedOff(it);
        return;
      case Stage::kFirstByte:
      case Stage::kFirstRequest: {
        char b;
        ssize_t r = (c.ssl && SSL_has_pending(c.ssl.get())) ? 1 : recv(fd, &b, 1, MSG_PEEK);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          Drop(it, meters_.abandoned);
          return;
        }
        if (r < 0) return;
        if (c.stage == Stage::kFirstRequest) {
          Ready(it);
        } else if (config_.tls) {
          StartHandshake(it);
        } else if (config_.wait_client_hello && b == 0x16) {
          c.stage = Stage::kClientHello;
          Enqueue(handshake_q_, config_.limits.handshake_timeout, c);
          CheckClientHello(it);
        } else {
          Ready(it);
        }
        return;
      }
      case Stage::kClientHello:
        CheckClientHello(it);
        return;
      case Stage::kHandshake:
        StepHandshake(it);
        return;
    }
  }

  void CheckClientHello(std::unordered_map<int, Conn>::iterator it) {
    uint8_t buf[kTlsRecordHeader + kMaxTlsRecord];
    ssize_t r = recv(it->first, buf, sizeof(buf), MSG_PEEK);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
      Drop(it, meters_.abandoned);
      return;
    }
    if (r < static_cast<ssize_t>(kTlsRecordHeader)) return;
    size_t need = kTlsRecordHeader + (static_cast<size_t>(buf[3]) << 8 | buf[4]);
    if (static_cast<size_t>(r) >= need || static_cast<size_t>(r) == sizeof(buf)) Ready(it);
  }

  void StartHandshake(std::unordered_map<int, Conn>::iterator it) {
    Conn& c = it->second;
    std::shared_ptr<SSL_CTX> ctx = config_.tls();
    c.ssl.reset(ctx ? SSL_new(ctx.get()) : nullptr);
    BIO* bio = c.ssl ? NewSocketBio(it->first) : nullptr;
    if (bio == nullptr) {
      ERR_clear_error();
      Drop(it, meters_.dropped_tls_error);
      return;
    }
    SSL_set_bio(c.ssl.get(), bio, bio);
    c.stage = Stage::kHandshake;
    Enqueue(handshake_q_, config_.limits.handshake_timeout, c);
    StepHandshake(it);
  }

  void StepHandshake(std::unordered_map<int, Conn>::iterator it) {
    Conn& c = it->second;
    ERR_clear_error();
    int r = SSL_accept(c.ssl.get());
    if (r == 1) {
      c.stage = Stage::kFirstRequest;
      Watch(it->first, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
      Enqueue(idle_q_, config_.limits.idle_timeout, c);
      if (SSL_has_pending(c.ssl.get())) Ready(it);
      return;
    }
    int err = SSL_get_error(c.ssl.get(), r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      Watch(it->first, (err == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT) | EPOLLRDHUP,
            EPOLL_CTL_MOD);
      return;
    }
    unsigned long e = ERR_peek_error();
    char text[256] = "connection closed";
    if (e != 0) ERR_error_string_n(e, text, sizeof(text));
    ERR_clear_error();
    if (err == SSL_ERROR_SYSCALL && e == 0) {  // the peer went away mid-handshake
      Drop(it, meters_.abandoned);
      return;
    }
    // A client without a valid certificate (with mutual TLS) is refused here, unread.
    RateLimitedWarning(absl::StrCat("refused a TLS connection from ", c.peer, ": ", text));
    if (config_.on_tls_failure) config_.on_tls_failure(c.peer, text);
    Drop(it, meters_.dropped_tls_error);
  }

  // The connection passed the gate: hand it over.
  void Ready(std::unordered_map<int, Conn>::iterator it) {
    Conn c = std::move(it->second);
    int fd = it->first;
    conns_.erase(it);
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    Unserved(c.peer);
    meters_.served->Inc();
    {
      absl::MutexLock l(&mu_);
      ++served_per_peer_[c.peer];
    }
    if (hand_off_) {
      UniqueFd watch(fcntl(fd, F_DUPFD_CLOEXEC, 0));
      if (!watch.valid()) {  // cannot count it: close rather than serve it uncounted
        FinishServed(c.peer);
        return;
      }
      int raw = watch.get();
      hand_off_(c.fd.release());
      Conn& w = conns_[raw];
      w.id = ++next_id_;
      w.fd = std::move(watch);
      w.peer = std::move(c.peer);
      w.stage = Stage::kHandedOff;
      Watch(raw, EPOLLRDHUP, EPOLL_CTL_ADD);
      return;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    SetIoTimeout(fd, config_.limits.idle_timeout);
    Connection conn{std::move(c.fd), std::move(c.ssl), c.peer};
    absl::MutexLock l(&mu_);
    uint64_t id = c.id;
    meters_.threads->Inc();
    threads_[id] = std::thread([this, id, peer = c.peer, conn = std::move(conn)]() mutable {
      handler_(std::move(conn));
      absl::MutexLock l(&mu_);
      finished_.push_back({id, peer});
      Wake();
    });
  }

  void CloseHandedOff(std::unordered_map<int, Conn>::iterator it) {
    std::string peer = std::move(it->second.peer);
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->first, nullptr);
    conns_.erase(it);
    FinishServed(peer);
  }

  void FinishServed(const std::string& peer) {
    meters_.open->Dec();
    absl::MutexLock l(&mu_);
    if (--served_per_peer_[peer] <= 0) served_per_peer_.erase(peer);
  }

  // Joins handler threads that returned. Returns false when the listener is stopping.
  bool ReapFinished() {
    std::vector<std::pair<uint64_t, std::string>> done;
    std::vector<std::thread> joined;
    {
      absl::MutexLock l(&mu_);
      done.swap(finished_);
      for (const auto& [id, peer] : done) {
        auto t = threads_.find(id);
        if (t == threads_.end()) continue;
        joined.push_back(std::move(t->second));
        threads_.erase(t);
      }
    }
    for (auto& t : joined) t.join();
    for (const auto& [id, peer] : done) {
      meters_.threads->Dec();
      FinishServed(peer);
    }
    absl::MutexLock l(&mu_);
    return !stopping_;
  }

  void ExpireDeadlines(absl::Time now) {
    Expire(first_byte_q_, now, meters_.dropped_first_byte);
    Expire(handshake_q_, now, meters_.dropped_handshake);
    Expire(idle_q_, now, meters_.dropped_idle);
  }

  // Drops the connections whose deadline in `q` passed while they are still in the stage that
  // queued them (each connection enters each queue once; one that moved on is skipped).
  void Expire(std::deque<Deadline>& q, absl::Time now, metrics::Counter* counter) {
    while (!q.empty() && q.front().at <= now) {
      Deadline d = q.front();
      q.pop_front();
      auto it = conns_.find(d.fd);
      if (it == conns_.end() || it->second.id != d.id) continue;
      Stage s = it->second.stage;
      bool still = (&q == &first_byte_q_ && s == Stage::kFirstByte) ||
                   (&q == &handshake_q_ && (s == Stage::kHandshake || s == Stage::kClientHello)) ||
                   (&q == &idle_q_ && s == Stage::kFirstRequest);
      if (still) Drop(it, counter);
    }
  }

  // Closes a connection that was not served and counts why.
  void Drop(std::unordered_map<int, Conn>::iterator it, metrics::Counter* why) {
    why->Inc();
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->first, nullptr);
    std::string peer = std::move(it->second.peer);
    conns_.erase(it);  // frees the SSL object, then closes the socket
    Unserved(peer);
    meters_.open->Dec();
  }

  void Unserved(const std::string& peer) {
    meters_.waiting->Dec();
    --unserved_total_;
    auto p = unserved_per_peer_.find(peer);
    if (p != unserved_per_peer_.end() && --p->second <= 0) unserved_per_peer_.erase(p);
  }

  // At most kWarningsPerWindow warnings per 10 s per listener, each named after the listener
  // ("export: refused a TLS connection from ..."): a flood must not flood the log too. The
  // first warning of the next window says how many were left out.
  void RateLimitedWarning(const std::string& what) {
    constexpr int kWarningsPerWindow = 10;
    absl::Time now = absl::Now();
    if (now - window_start_ >= absl::Seconds(10)) {
      window_start_ = now;
      warnings_in_window_ = 0;
    }
    if (warnings_in_window_ >= kWarningsPerWindow) {
      ++suppressed_;
      return;
    }
    ++warnings_in_window_;
    log::Fields fields = {{"listener", config_.name}};
    if (suppressed_ > 0) fields.push_back({"suppressed_before", absl::StrCat(suppressed_)});
    log::Warning(absl::StrCat(config_.name, ": ", what), fields);
    suppressed_ = 0;
  }

  const ListenerConfig config_;
  const UniqueFd listen_fd_;
  const int port_;
  const Handler handler_;
  const HandOff hand_off_;
  metrics::Registry own_registry_;  // when the config gives none; before meters_
  Meters meters_;
  UniqueFd epoll_;
  UniqueFd wake_;
  std::thread loop_;

  // Loop thread only.
  std::unordered_map<int, Conn> conns_;  // by fd: unserved ones and hand-off duplicates
  std::deque<Deadline> first_byte_q_, handshake_q_, idle_q_;  // FIFO: one timeout per queue
  std::unordered_map<std::string, int> unserved_per_peer_;
  int unserved_total_ = 0;
  uint64_t next_id_ = 0;
  absl::Time accept_paused_until_ = absl::InfinitePast();  // out of fds: accept again then
  absl::Time window_start_ = absl::InfinitePast();
  int warnings_in_window_ = 0;
  uint64_t suppressed_ = 0;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<uint64_t, std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<uint64_t, std::string>> finished_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, int> served_per_peer_ ABSL_GUARDED_BY(mu_);
};

namespace {

absl::StatusOr<std::unique_ptr<Listener::Impl>> NewImpl(ListenerConfig config,
                                                        Listener::Handler handler,
                                                        Listener::HandOff hand_off) {
  auto fd = ListenTcp(config.listen, config.backlog);
  if (!fd.ok()) {
    return absl::Status(fd.status().code(), absl::StrCat(config.name, ": ", fd.status().message()));
  }
  auto impl = std::make_unique<Listener::Impl>(std::move(config), *std::move(fd),
                                               std::move(handler), std::move(hand_off));
  if (absl::Status s = impl->Start(); !s.ok()) return s;
  return impl;
}

}  // namespace

Listener::Listener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Listener::~Listener() = default;

absl::StatusOr<std::unique_ptr<Listener>> Listener::Serve(ListenerConfig config, Handler handler) {
  auto impl = NewImpl(std::move(config), std::move(handler), nullptr);
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Listener>(new Listener(*std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Listener>> Listener::HandOffTo(ListenerConfig config,
                                                              HandOff hand_off) {
  auto impl = NewImpl(std::move(config), nullptr, std::move(hand_off));
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Listener>(new Listener(*std::move(impl)));
}

std::string Listener::address() const { return impl_->address(); }
int Listener::port() const { return impl_->port(); }
const std::string& Listener::name() const { return impl_->name(); }
ListenerCounts Listener::Counts() const { return impl_->Counts(); }

}  // namespace berth::net
