// The set of live exports on this agent: who may read what, until when.
#ifndef BERTH_AGENT_SRC_EXPORT_EXPORT_REGISTRY_H_
#define BERTH_AGENT_SRC_EXPORT_EXPORT_REGISTRY_H_

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "berth/agent/export_server.h"
#include "berth/exportwire/export_wire.h"

namespace berth::agent {

// The open image of one export. Shared by the registry and in-flight requests, so stopping an
// export never closes an fd under a request; the fd closes when the last holder lets go.
struct OpenImage {
  exportwire::UniqueFd fd;
  std::string path;
  uint64_t size = 0;  // when opened
};

// Name of the leaf tree file in a snapshot's cache directory.
inline constexpr char kLeafTreeFile[] = "leaf-tree";

// One export. Fields other than the immutable ones are guarded by the registry's mutex.
struct ExportEntry {
  std::string id;
  std::string token;
  ExportSource source;
  std::shared_ptr<OpenImage> image;
  uint64_t size = 0;
  absl::Time expires_at;
  absl::Time started;  // set by ExportRegistry::Add
  std::string state = "Serving";
  std::string message;
  uint64_t bytes_served = 0;
  uint64_t bytes_received = 0;
  // Digest of the image, computed once on first request. Guarded by digest_mu.
  absl::Mutex digest_mu;
  std::optional<std::string> digest ABSL_GUARDED_BY(digest_mu);
  // Digests of whole chunks hashed as they were served (downloads only), so the digest request
  // does not read them again. Its own mutex: a digest being computed must not stall sending.
  absl::Mutex served_mu;
  std::map<uint64_t, exportwire::Sha256Bytes> served_chunks ABSL_GUARDED_BY(served_mu);
  // Leaf digests of whole chunks hashed as they were served (snapshots only), so building the
  // snapshot's leaf tree does not read them again.
  std::map<uint64_t, std::vector<exportwire::Sha256Bytes>> served_leaves ABSL_GUARDED_BY(served_mu);

  // Snapshots only: where the snapshot's leaf tree is kept (empty: not a snapshot).
  std::string tree_file;
  // The image's leaf tree once known (read from tree_file, built, or derived from the since
  // snapshot's). For an upload: the tree of the volume as created, until the first write.
  std::optional<exportwire::LeafTree> tree ABSL_GUARDED_BY(digest_mu);
  // Whether a download's leaf tree is known (stored with the snapshot, derived or built): then
  // served chunks are not hashed. Set without digest_mu, read by every data request.
  std::atomic<bool> tree_known{false};
  // Set by the first write of an upload: `tree` no longer describes the volume.
  std::atomic<bool> written{false};
  // Incremental export: the snapshot B is compared with (ExportSource::since_snapshot_id), open
  // for as long as the export is; and whether the extent maps of the two can be compared.
  std::shared_ptr<OpenImage> since_image;
  uint64_t since_size = 0;
  std::string since_tree_file;
  bool extent_map = false;
};

// Outcome of looking an export up for a request.
struct Admission {
  int http_status = 200;  // 200, 401, 404 or 410
  std::shared_ptr<ExportEntry> entry;
  std::shared_ptr<OpenImage> image;
};

// Default for the most exports one agent serves at once. Each holds an open image and a token;
// the limit bounds fds and work one controller (or one leaked DataExport loop) can pin.
inline constexpr int kDefaultMaxExports = 16;

// Thread-safe.
class ExportRegistry {
 public:
  // `max_exports` bounds the exports being served at once (expired ones do not count).
  // `stats` (may be null) counts bytes and active exports, and gets export lifetimes.
  explicit ExportRegistry(const Clock& clock, int max_exports = kDefaultMaxExports,
                          ExportStats* stats = nullptr)
      : clock_(clock), max_exports_(max_exports), stats_(stats) {}

  // Registers `entry` unless the id exists; returns the registered one. ResourceExhausted
  // naming the limit when `max_exports` unexpired exports are registered already.
  absl::StatusOr<std::shared_ptr<ExportEntry>> Add(std::shared_ptr<ExportEntry> entry);
  std::shared_ptr<ExportEntry> Find(const std::string& id);
  // Checks expiry and the token; on success extends the idle lease.
  Admission Admit(const std::string& id, const std::string& token);
  // Extends the idle lease of a request in progress and counts bytes.
  void Touch(ExportEntry& entry, uint64_t served, uint64_t received);
  void SetState(ExportEntry& entry, const std::string& state, const std::string& message);
  // Drops the export and remembers its id as gone (410). Returns whether it existed.
  bool Remove(const std::string& id);
  // Expires exports whose lease ran out (closes their images).
  void Sweep();
  ExportState Snapshot(const ExportEntry& entry);
  ExportStats* stats() const { return stats_; }

 private:
  // Counts the end of `e`'s data reference (expiry or stop) once.
  void EndLocked(ExportEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireLocked(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RememberGoneLocked(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& clock_;
  const int max_exports_;
  ExportStats* const stats_;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<ExportEntry>> live_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> gone_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> gone_order_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::agent

#endif  // BERTH_AGENT_SRC_EXPORT_EXPORT_REGISTRY_H_
