// The export server: a TLS listener, one owned thread per connection (joined), and the
// registry of exports. Request handling is in export_http.cc.
#include "berth/agent/export_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <list>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "berth/agent/tls_context.h"
#include "export/export_http.h"
#include "export/export_registry.h"
#include "export/tls_identity.h"

namespace berth::agent {
namespace {

namespace ew = exportwire;

absl::StatusOr<std::pair<std::string, std::string>> SplitHostPort(const std::string& hp) {
  size_t colon = hp.rfind(':');
  if (colon == std::string::npos) return absl::InvalidArgumentError("want HOST:PORT: " + hp);
  std::string host = hp.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return std::make_pair(host, hp.substr(colon + 1));
}

absl::StatusOr<ew::UniqueFd> Listen(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  addrinfo* res = nullptr;
  int gai = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) return absl::InvalidArgumentError(absl::StrCat(host, ": ", gai_strerror(gai)));
  ew::UniqueFd fd(socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc = bind(fd.get(), res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0 || listen(fd.get(), 64) != 0) {
    return absl::UnavailableError(
        absl::StrCat("export server: cannot listen on ", host, ":", port, ": ", strerror(errno)));
  }
  return fd;
}

int BoundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

std::string PeerIp(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  char buf[INET6_ADDRSTRLEN] = "?";
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    if (ss.ss_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof(buf));
    } else if (ss.ss_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof(buf));
    }
  }
  return buf;
}

std::string UrlHost(const std::string& host) {
  return host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host;
}

class ExportServerImpl : public ExportServer {
 public:
  // `mtls` (may be null) replaces `ctx` when set; `pin_mtls_ca`: clients pin its CA, not
  // `ca_pem`.
  ExportServerImpl(const ExportPools& pools, const Clock& clock, std::shared_ptr<SSL_CTX> ctx,
                   std::shared_ptr<ew::ReloadingTlsContext> mtls, bool pin_mtls_ca,
                   ew::UniqueFd listener, std::string listen, std::string public_address,
                   std::string ca_pem, int max_connections, ExportStats* stats)
      : pools_(pools),
        stats_(stats != nullptr ? stats : &own_stats_),
        registry_(clock, kDefaultMaxExports, stats_),
        clock_(clock),
        ctx_(std::move(ctx)),
        mtls_(std::move(mtls)),
        pin_mtls_ca_(pin_mtls_ca),
        listener_(std::move(listener)),
        listen_(std::move(listen)),
        public_(std::move(public_address)),
        ca_pem_(std::move(ca_pem)),
        max_connections_(max_connections) {
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~ExportServerImpl() override {
    stopping_ = true;
    acceptor_.join();
    {
      absl::MutexLock l(&mu_);
      for (Connection& c : conns_) shutdown(c.fd, SHUT_RDWR);
    }
    for (Connection& c : conns_) c.thread.join();
  }

  absl::StatusOr<ExportState> StartExport(const std::string& id,
                                          const ExportSource& source) override {
    if (std::shared_ptr<ExportEntry> existing = registry_.Find(id)) return State(*existing);
    auto entry = std::make_shared<ExportEntry>();
    entry->id = id;
    entry->source = source;
    auto path = ResolvePath(id, source);
    if (!path.ok()) return path.status();
    auto image = std::make_shared<OpenImage>();
    image->path = *path;
    image->fd.reset(open(path->c_str(), (source.upload ? O_RDWR : O_RDONLY) | O_CLOEXEC));
    struct stat st {};
    if (!image->fd.valid() || fstat(image->fd.get(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat("opening ", *path, ": ", strerror(errno)));
    }
    entry->image = image;
    entry->size = static_cast<uint64_t>(st.st_size);
    auto token = ew::RandomHex(32);
    if (!token.ok()) return token.status();
    entry->token = *token;
    entry->expires_at = clock_.Now() + source.ttl;
    auto added = registry_.Add(entry);
    if (!added.ok()) return added.status();
    entry = *std::move(added);
    std::cerr << "berth-agent: export " << id << ": serving " << *path << " ("
              << (source.upload ? "upload" : "download") << ")\n";
    return State(*entry);
  }

  absl::StatusOr<ExportState> GetExport(const std::string& id) override {
    std::shared_ptr<ExportEntry> e = registry_.Find(id);
    if (!e) return absl::NotFoundError(absl::StrCat("export ", id, " is not on this node"));
    return State(*e);
  }

  bool StopExport(const std::string& id) override {
    bool existed = registry_.Remove(id);
    if (existed) std::cerr << "berth-agent: export " << id << ": stopped\n";
    return existed;
  }

  std::string ListenAddress() const override { return listen_; }

 private:
  struct Connection {
    int fd;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  ExportState State(const ExportEntry& e) {
    ExportState s = registry_.Snapshot(e);
    s.url = absl::StrCat("https://", listen_, "/exports/", e.id);
    s.public_url = absl::StrCat("https://", public_, "/exports/", e.id);
    s.ca_cert = mtls_ && pin_mtls_ca_ ? mtls_->CaPem() : ca_pem_;
    return s;
  }

  absl::StatusOr<std::string> ResolvePath(const std::string& id, const ExportSource& s) {
    if (id.empty() || id.size() > 128 ||
        id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad export id \"", id, "\""));
    }
    auto pool = pools_.find(s.pool);
    if (pool == pools_.end()) {
      return absl::NotFoundError(absl::StrCat("no pool \"", s.pool, "\" on this node"));
    }
    if (!s.snapshot_id.empty()) {
      auto snap = pool->second->GetSnapshot(s.snapshot_id);
      if (!snap.ok()) return snap.status();
      return snap->path;
    }
    auto vol = pool->second->GetVolume(s.volume_id);
    if (!vol.ok()) return vol.status();
    return vol->path;
  }

  void AcceptLoop() {
    while (!stopping_) {
      pollfd p{listener_.get(), POLLIN, 0};
      int ready = poll(&p, 1, 500);
      registry_.Sweep();
      Reap();
      if (ready <= 0) continue;
      ew::UniqueFd fd(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!fd.valid()) continue;
      // The context of this connection: with mutual TLS the current one (rotated files are
      // picked up here, at most every reload_seconds).
      std::shared_ptr<SSL_CTX> ctx = mtls_ ? mtls_->Get() : ctx_;
      absl::MutexLock l(&mu_);
      if (static_cast<int>(conns_.size()) >= max_connections_) continue;  // closes fd
      int one = 1;
      setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      conns_.emplace_back();
      Connection& c = conns_.back();
      c.fd = fd.get();
      c.thread = std::thread([this, &c, ctx, owned = fd.release()]() mutable {
        Serve(ctx.get(), ew::UniqueFd(owned));
        c.done = true;
      });
    }
  }

  void Serve(SSL_CTX* ctx, ew::UniqueFd fd) {
    ew::ScopedSigpipeBlock no_sigpipe;
    ew::UniqueSsl ssl(SSL_new(ctx));
    if (!ssl || !ew::AttachBufferedFd(ssl.get(), fd.get()).ok()) return;
    // A client that never completes the handshake must not hold a connection slot forever.
    timeval handshake_timeout{10, 0}, none{0, 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &handshake_timeout, sizeof(handshake_timeout));
    int accepted = SSL_accept(ssl.get());
    BIO_flush(SSL_get_wbio(ssl.get()));
    if (accepted != 1) {
      stats_->tls_refused.fetch_add(1, std::memory_order_relaxed);
      // With mutual TLS this is where a client without a valid certificate is refused.
      if (mtls_) {
        std::cerr << "berth-agent: export: refused a TLS connection from " << PeerIp(fd.get())
                  << ": " << ew::HandshakeError(ssl.get()) << "\n";
      }
      ERR_clear_error();
      return;
    }
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
    ew::TlsConn conn(std::move(fd), std::move(ssl));
    ServeConnection(conn, registry_, stopping_);
  }

  // Joins finished connection threads. Runs on the acceptor thread only.
  void Reap() {
    absl::MutexLock l(&mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (it->done) {
        it->thread.join();
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }

  const ExportPools& pools_;
  ExportStats own_stats_;     // when the config gives none
  ExportStats* const stats_;  // before registry_, which keeps it
  ExportRegistry registry_;
  const Clock& clock_;
  const std::shared_ptr<SSL_CTX> ctx_;
  const std::shared_ptr<ew::ReloadingTlsContext> mtls_;
  const bool pin_mtls_ca_;
  ew::UniqueFd listener_;
  const std::string listen_;
  const std::string public_;
  const std::string ca_pem_;
  const int max_connections_;
  std::atomic<bool> stopping_{false};
  absl::Mutex mu_;
  std::list<Connection> conns_ ABSL_GUARDED_BY(mu_);
  std::thread acceptor_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ExportServer>> NewExportServer(const ExportServerConfig& config,
                                                              const ExportPools& pools,
                                                              const Clock& clock) {
  auto hp = SplitHostPort(config.listen);
  if (!hp.ok()) return hp.status();
  auto listener = Listen(hp->first, hp->second);
  if (!listener.ok()) return listener.status();
  std::string listen = absl::StrCat(UrlHost(hp->first), ":", BoundPort(listener->get()));
  std::string public_address = config.public_address.empty() ? listen : config.public_address;
  bool own_cert = !config.cert_file.empty() || !config.key_file.empty();
  if (config.mutual_tls) {
    TlsFiles files = *config.mutual_tls;
    std::string pinned;
    if (own_cert) {  // another certificate (e.g. for --publish); clients still need the CA's
      files.cert = config.cert_file;
      files.key = config.key_file;
      auto id = LoadIdentity(config.cert_file, config.key_file);
      if (!id.ok()) return id.status();
      pinned = id->cert_pem;
    }
    auto mtls = ew::ReloadingTlsContext::Create(ew::ReloadingTlsContext::Role::kServer, files,
                                                /*own_chain_from_ca=*/!own_cert);
    if (!mtls.ok()) {
      return absl::Status(mtls.status().code(),
                          absl::StrCat("export server certificate: ", mtls.status().message()));
    }
    return std::unique_ptr<ExportServer>(new ExportServerImpl(
        pools, clock, nullptr, *std::move(mtls), !own_cert, *std::move(listener), listen,
        public_address, pinned, config.max_connections, config.stats));
  }
  absl::StatusOr<TlsIdentity> id;
  if (own_cert) {
    id = LoadIdentity(config.cert_file, config.key_file);
  } else {
    std::vector<std::string> names = config.cert_names;
    names.push_back(hp->first);
    names.push_back("localhost");
    names.push_back("127.0.0.1");
    if (auto pub = SplitHostPort(public_address); pub.ok()) names.push_back(pub->first);
    id = GenerateSelfSigned(names);
  }
  if (!id.ok()) return id.status();
  auto ctx = NewServerContext(*id);
  if (!ctx.ok()) return ctx.status();
  return std::unique_ptr<ExportServer>(
      new ExportServerImpl(pools, clock, std::shared_ptr<SSL_CTX>(ctx->release(), SSL_CTX_free),
                           nullptr, false, *std::move(listener), listen, public_address,
                           id->cert_pem, config.max_connections, config.stats));
}

}  // namespace berth::agent
