// Disk export and upload over HTTPS, served by the agent that holds the data.
//
// The controller asks for an export (StartExport, idempotent by the owning object's uid); the
// server opens the volume or snapshot image, keeps the fd open (the export's data reference)
// and serves it to holders of the export's bearer token:
//   GET|HEAD /exports/ID/data      raw image, HTTP Range supported (so plain curl works)
//   GET      /exports/ID/extents   {"size":N,"extents":[[offset,length],...]} (SEEK_DATA/HOLE)
//   GET      /exports/ID/digest    {"algorithm":"sha256-chunked-4MiB","digest":HEX,"size":N}
//   PUT      /exports/ID/data      upload exports only: body written at Content-Range
//   POST     /exports/ID/complete  upload exports only: {"size":N,"digest":HEX}; verified
// 401 wrong or missing token, 404 unknown export, 410 expired or stopped export.
// An export expires after `ttl` without requests (an idle lease); expiry closes the fd.
// See docs/export.md.
#ifndef BERTH_AGENT_EXPORT_SERVER_H_
#define BERTH_AGENT_EXPORT_SERVER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/agent/storage_backend.h"
#include "berth/net/listener.h"
#include "berth/time_util.h"
#include "berth/tls.h"

namespace grpc {
class Service;
}  // namespace grpc

namespace berth::agent {

// What the export server counts for /metrics (the agent registers these with its Prometheus
// registry). Counters are relaxed atomics bumped on the serving threads; the hooks, set before
// the server starts and never changed, feed histograms and must be quick and thread-safe.
struct ExportStats {
  std::atomic<uint64_t> bytes_served{0};     // GET /data response bodies sent (downloads)
  std::atomic<uint64_t> bytes_received{0};   // PUT /data bodies written (uploads)
  std::atomic<uint64_t> tls_refused{0};      // connections whose TLS handshake failed
  std::atomic<int64_t> active_downloads{0};  // exports holding their image (not expired or
  std::atomic<int64_t> active_uploads{0};    // stopped), by kind
  // Responses sent, by HTTP status code (index); codes >= 600 are not counted.
  std::array<std::atomic<uint64_t>, 600> responses{};
  // A GET /data (upload=false) or PUT /data (upload=true) request finished after `seconds`
  // (request admitted to last byte, any outcome).
  std::function<void(bool upload, double seconds)> on_transfer;
  // An export ended (stopped or expired) `seconds` after it started.
  std::function<void(bool upload, double seconds)> on_export_end;
};

struct ExportServerConfig {
  // host:port to listen on; port 0 picks a free port.
  std::string listen = "127.0.0.1:0";
  // host:port clients outside the cluster use (--publish); empty: the listen address.
  std::string public_address;
  // PEM files; both empty: a self-signed certificate is generated at start.
  std::string cert_file;
  std::string key_file;
  // Extra names for the generated certificate (the node name, the public host).
  std::vector<std::string> cert_names;
  // Mutual TLS (the agent's --tls_dir): exports are served with mutual_tls->cert/key, or with
  // cert_file/key_file when given, and every client must present a certificate that verifies
  // against mutual_tls->ca (refused in the handshake, before any request is read); the bearer
  // token is checked as well. Exports hand clients mutual_tls->ca to pin (cert_file when given).
  // The files are re-read when they change (every mutual_tls->reload_seconds at most).
  // Unset: a self-signed or configured certificate, the token only.
  std::optional<TlsFiles> mutual_tls;
  // Connections open at once (the listener's max_connections); the rest of the listener's
  // limits below: 32 unserved per peer IP, 5 s to the first byte and to finish the TLS
  // handshake, 60 s idle (no byte read or written) on a served connection.
  int max_connections = 64;
  net::ListenerLimits limits = DefaultExportLimits();
  // Where to count (must outlive the server); null: the server keeps private counters.
  ExportStats* stats = nullptr;
  // Where the listener's counters go (may be null; must outlive the server).
  metrics::Registry* metrics = nullptr;

  static net::ListenerLimits DefaultExportLimits() {
    net::ListenerLimits l;
    l.max_unserved = 64;
    l.max_unserved_per_peer = 32;
    l.max_served_per_peer = 48;
    return l;
  }
};

// What to export: a volume or a snapshot in a pool on this node.
struct ExportSource {
  std::string pool;
  std::string volume_id;
  std::string snapshot_id;
  bool upload = false;     // writable: PUT ranges, then POST complete
  bool resizable = false;  // an upload may set the final size (images)
  absl::Duration ttl = absl::Minutes(2);
  // Incremental export (docs/export.md): a snapshot in the same pool the client holds a copy
  // of. For a download, GET /changes lists where the image differs from it (by extent maps
  // when both are of one volume in a reflink or btrfs pool); for an upload, the volume was just
  // created from this snapshot. Empty: none (POST /changes with leaf digests still works).
  std::string since_snapshot_id;
};

struct ExportState {
  std::string id;
  std::string url;         // https://listen/exports/ID
  std::string public_url;  // https://public/exports/ID
  std::string token;
  std::string ca_cert;  // PEM the client pins (the cluster CA with mutual TLS)
  uint64_t size_bytes = 0;
  absl::Time expires_at;
  std::string state;  // Serving | Completed | Expired
  uint64_t bytes_served = 0;
  uint64_t bytes_received = 0;
  std::string message;
};

using ExportPools = std::map<std::string, std::unique_ptr<StorageBackend>>;

// Serves exports over HTTPS. Owns its listener and connection threads, joined on destruction.
// Thread-safe.
class ExportServer {
 public:
  virtual ~ExportServer() = default;
  // Opens the image and registers the export; the same id again returns the existing export.
  // InvalidArgument for bad ids, NotFound for a missing volume or snapshot.
  virtual absl::StatusOr<ExportState> StartExport(const std::string& id,
                                                  const ExportSource& source) = 0;
  // NotFound when unknown (or stopped).
  virtual absl::StatusOr<ExportState> GetExport(const std::string& id) = 0;
  // Closes the image; returns whether the export existed. Later requests get 410.
  virtual bool StopExport(const std::string& id) = 0;
  // Returns the address actually listened on (host:port).
  virtual std::string ListenAddress() const = 0;
};

// Starts listening. `pools` and `clock` must outlive the server.
absl::StatusOr<std::unique_ptr<ExportServer>> NewExportServer(const ExportServerConfig& config,
                                                              const ExportPools& pools,
                                                              const Clock& clock);

// The gRPC face (berth.agent.v1.NodeExport) of `server`, which must outlive it.
std::unique_ptr<grpc::Service> NewNodeExportService(ExportServer& server);

}  // namespace berth::agent

#endif  // BERTH_AGENT_EXPORT_SERVER_H_
