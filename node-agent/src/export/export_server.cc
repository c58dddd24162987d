// The export server: a TLS listener, one owned thread per connection (joined), and the
// registry of exports. Request handling is in export_http.cc.
#include "berth/agent/export_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "berth/exportwire/tls_context.h"
#include "berth/log.h"
#include "berth/net/listener.h"
#include "berth/net/stream.h"
#include "export/export_http.h"
#include "export/export_registry.h"
#include "export/tls_identity.h"

namespace berth::agent {
namespace {

namespace ew = exportwire;

std::string UrlHost(const std::string& host) {
  return host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host;
}

class ExportServerImpl : public ExportServer {
 public:
  // `mtls` (may be null) replaces `ctx` when set; `pin_mtls_ca`: clients pin its CA, not
  // `ca_pem`.
  ExportServerImpl(const ExportPools& pools, const Clock& clock, std::shared_ptr<SSL_CTX> ctx,
                   std::shared_ptr<ew::ReloadingTlsContext> mtls, bool pin_mtls_ca,
                   std::string public_address, std::string ca_pem, ExportStats* stats)
      : pools_(pools),
        stats_(stats != nullptr ? stats : &own_stats_),
        registry_(clock, kDefaultMaxExports, stats_),
        clock_(clock),
        ctx_(std::move(ctx)),
        mtls_(std::move(mtls)),
        pin_mtls_ca_(pin_mtls_ca),
        public_(std::move(public_address)),
        ca_pem_(std::move(ca_pem)) {}

  // Starts listening; `listen` was checked by the caller.
  absl::Status Start(const ExportServerConfig& config) {
    net::ListenerConfig lc;
    lc.name = "export";
    lc.listen = config.listen;
    lc.limits = config.limits;
    lc.limits.max_connections = config.max_connections;
    lc.metrics = config.metrics;
    // The context of each connection: with mutual TLS the current one (rotated files are
    // picked up, at most every reload_seconds). A client without a valid certificate is
    // refused in the handshake, counted as a TLS error by the listener.
    lc.tls = [this] { return mtls_ ? mtls_->Get() : ctx_; };
    lc.on_tls_failure = [this](const std::string&, const std::string&) {
      stats_->tls_refused.fetch_add(1, std::memory_order_relaxed);
    };
    auto listener =
        net::Listener::Serve(std::move(lc), [this](net::Connection c) { Serve(std::move(c)); });
    if (!listener.ok()) {
      return absl::Status(listener.status().code(),
                          absl::StrCat("export server: ", listener.status().message()));
    }
    listener_ = *std::move(listener);
    auto hp = net::SplitHostPort(config.listen);
    listen_ = absl::StrCat(UrlHost(hp->first), ":", listener_->port());
    if (public_.empty()) public_ = listen_;
    sweeper_ = std::thread([this] { SweepLoop(); });
    return absl::OkStatus();
  }

  ~ExportServerImpl() override {
    {
      absl::MutexLock l(&mu_);
      stopping_ = true;
      stopping_atomic_ = true;
      for (int fd : serving_) shutdown(fd, SHUT_RDWR);
    }
    if (sweeper_.joinable()) sweeper_.join();
    listener_.reset();  // joins the connection threads, which the shutdowns above ended
  }

  absl::StatusOr<ExportState> StartExport(const std::string& id,
                                          const ExportSource& source) override {
    if (std::shared_ptr<ExportEntry> existing = registry_.Find(id)) return State(*existing);
    auto entry = std::make_shared<ExportEntry>();
    entry->id = id;
    entry->source = source;
    auto resolved = Resolve(id, source.pool, source.volume_id, source.snapshot_id);
    if (!resolved.ok()) return resolved.status();
    auto image = OpenImageFile(resolved->path, source.upload);
    if (!image.ok()) return image.status();
    entry->image = *image;
    entry->size = (*image)->size;
    entry->tree_file = resolved->tree_file;
    // A snapshot hashed before: served chunks need no hashing (the digest reads the tree).
    entry->tree_known =
        !source.upload && !entry->tree_file.empty() && access(entry->tree_file.c_str(), R_OK) == 0;
    if (!source.since_snapshot_id.empty()) {
      absl::Status st = AttachSince(*entry, *resolved);
      if (!st.ok()) return st;
    }
    auto token = ew::RandomHex(32);
    if (!token.ok()) return token.status();
    entry->token = *token;
    entry->expires_at = clock_.Now() + source.ttl;
    auto added = registry_.Add(entry);
    if (!added.ok()) return added.status();
    entry = *std::move(added);
    log::Info(absl::StrCat("export ", id, ": serving ", resolved->path, " (",
                           source.upload ? "upload" : "download",
                           source.since_snapshot_id.empty()
                               ? ""
                               : absl::StrCat(", since snapshot ", source.since_snapshot_id,
                                              entry->extent_map ? " by extent maps" : ""),
                           ")"));
    return State(*entry);
  }

  absl::StatusOr<ExportState> GetExport(const std::string& id) override {
    std::shared_ptr<ExportEntry> e = registry_.Find(id);
    if (!e) return absl::NotFoundError(absl::StrCat("export ", id, " is not on this node"));
    return State(*e);
  }

  bool StopExport(const std::string& id) override {
    bool existed = registry_.Remove(id);
    if (existed) log::Info(absl::StrCat("export ", id, ": stopped"));
    return existed;
  }

  std::string ListenAddress() const override { return listen_; }

 private:
  ExportState State(const ExportEntry& e) {
    ExportState s = registry_.Snapshot(e);
    s.url = absl::StrCat("https://", listen_, "/exports/", e.id);
    s.public_url = absl::StrCat("https://", public_, "/exports/", e.id);
    s.ca_cert = mtls_ && pin_mtls_ca_ ? mtls_->CaPem() : ca_pem_;
    return s;
  }

  // A volume or snapshot, found in its pool.
  struct Resolved {
    std::string path;
    std::string pool_type;
    std::string volume_id;  // the volume itself, or the one a snapshot was taken of
    std::string tree_file;  // snapshots only
    int64_t created_unix_nanos = 0;
  };

  absl::StatusOr<Resolved> Resolve(const std::string& id, const std::string& pool_name,
                                   const std::string& volume_id, const std::string& snapshot_id) {
    if (id.empty() || id.size() > 128 ||
        id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("bad export id \"", id, "\""));
    }
    auto pool = pools_.find(pool_name);
    if (pool == pools_.end()) {
      return absl::NotFoundError(absl::StrCat("no pool \"", pool_name, "\" on this node"));
    }
    Resolved r;
    r.pool_type = pool->second->Type();
    if (!snapshot_id.empty()) {
      auto snap = pool->second->GetSnapshot(snapshot_id);
      if (!snap.ok()) return snap.status();
      r.path = snap->path;
      r.volume_id = snap->volume_id;
      r.tree_file = absl::StrCat(snap->cache_dir, "/", kLeafTreeFile);
      r.created_unix_nanos = snap->created_unix_nanos;
      return r;
    }
    auto vol = pool->second->GetVolume(volume_id);
    if (!vol.ok()) return vol.status();
    r.path = vol->path;
    r.volume_id = volume_id;
    return r;
  }

  static absl::StatusOr<std::shared_ptr<OpenImage>> OpenImageFile(const std::string& path,
                                                                  bool writable) {
    auto image = std::make_shared<OpenImage>();
    image->path = path;
    image->fd.reset(open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC));
    struct stat st {};
    if (!image->fd.valid() || fstat(image->fd.get(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat("opening ", path, ": ", strerror(errno)));
    }
    image->size = static_cast<uint64_t>(st.st_size);
    return image;
  }

  // Opens the snapshot an incremental export is compared with (same pool) and decides whether
  // the two extent maps can be compared. InvalidArgument when it was taken after the export's
  // snapshot.
  absl::Status AttachSince(ExportEntry& e, const Resolved& target) {
    const ExportSource& s = e.source;
    auto since = Resolve(e.id, s.pool, "", s.since_snapshot_id);
    if (!since.ok()) {
      return absl::Status(since.status().code(), absl::StrCat("since: ", since.status().message()));
    }
    if (!s.snapshot_id.empty() && since->created_unix_nanos != 0 &&
        target.created_unix_nanos != 0 && since->created_unix_nanos > target.created_unix_nanos) {
      return absl::InvalidArgumentError(
          "the since snapshot was taken after the exported snapshot; an incremental export "
          "goes from an older snapshot to a newer one");
    }
    auto image = OpenImageFile(since->path, false);
    if (!image.ok()) return image.status();
    e.since_image = *image;
    e.since_size = (*image)->size;
    e.since_tree_file = since->tree_file;
    e.extent_map = !s.upload && since->volume_id == target.volume_id &&
                   (target.pool_type == "reflink" || target.pool_type == "btrfs");
    return absl::OkStatus();
  }

  // Expires exports past their TTL twice a second until the server stops.
  void SweepLoop() {
    absl::MutexLock l(&mu_);
    while (!stopping_) {
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(500));
      mu_.Unlock();
      registry_.Sweep();
      mu_.Lock();
    }
  }

  void Serve(net::Connection c) {
    ew::ScopedSigpipeBlock no_sigpipe;
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return;
      serving_.insert(c.fd.get());
    }
    // The handshake ran on the listener's socket BIO; serving uses the buffered one (bulk).
    // The stream borrows the fd: c.fd closes it after serving_ lets go of the number, which
    // may be reused at once.
    if (c.ssl) {
      auto stream = net::TlsAcceptedStream(c.fd.get(), /*owns_fd=*/false, std::move(c.ssl),
                                           ew::HttpStreamOptions());
      if (stream.ok()) {
        ew::HttpConn conn(*std::move(stream));
        ServeConnection(conn, registry_, stopping_atomic_);
      }
    }
    absl::MutexLock l(&mu_);
    serving_.erase(c.fd.get());
  }

  const ExportPools& pools_;
  ExportStats own_stats_;     // when the config gives none
  ExportStats* const stats_;  // before registry_, which keeps it
  ExportRegistry registry_;
  const Clock& clock_;
  const std::shared_ptr<SSL_CTX> ctx_;
  const std::shared_ptr<ew::ReloadingTlsContext> mtls_;
  const bool pin_mtls_ca_;
  std::string listen_;  // set by Start
  std::string public_;
  const std::string ca_pem_;
  std::atomic<bool> stopping_atomic_{false};  // what ServeConnection polls between requests
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::set<int> serving_ ABSL_GUARDED_BY(mu_);  // sockets of connections being served
  std::thread sweeper_;
  std::unique_ptr<net::Listener> listener_;  // last: its threads use everything above
};

}  // namespace

namespace {

absl::StatusOr<std::unique_ptr<ExportServer>> Started(std::unique_ptr<ExportServerImpl> server,
                                                      const ExportServerConfig& config) {
  if (absl::Status s = server->Start(config); !s.ok()) return s;
  return std::unique_ptr<ExportServer>(std::move(server));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ExportServer>> NewExportServer(const ExportServerConfig& config,
                                                              const ExportPools& pools,
                                                              const Clock& clock) {
  auto hp = net::SplitHostPort(config.listen);
  if (!hp.ok()) return hp.status();
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
    return Started(
        std::make_unique<ExportServerImpl>(pools, clock, nullptr, *std::move(mtls), !own_cert,
                                           config.public_address, pinned, config.stats),
        config);
  }
  absl::StatusOr<TlsIdentity> id;
  if (own_cert) {
    id = LoadIdentity(config.cert_file, config.key_file);
  } else {
    std::vector<std::string> names = config.cert_names;
    names.push_back(hp->first);
    names.push_back("localhost");
    names.push_back("127.0.0.1");
    if (auto pub = net::SplitHostPort(config.public_address); pub.ok()) {
      names.push_back(pub->first);
    }
    id = GenerateSelfSigned(names);
  }
  if (!id.ok()) return id.status();
  auto ctx = NewServerContext(*id);
  if (!ctx.ok()) return ctx.status();
  return Started(std::make_unique<ExportServerImpl>(
                     pools, clock, std::shared_ptr<SSL_CTX>(ctx->release(), SSL_CTX_free), nullptr,
                     false, config.public_address, id->cert_pem, config.stats),
                 config);
}

}  // namespace berth::agent
