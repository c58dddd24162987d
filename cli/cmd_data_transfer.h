// The transfer engine of `berth data`: HTTPS to an agent's export endpoint with the export's
// bearer token and pinned CA; sparse-aware parallel download with a resumable progress sidecar,
// sparse upload, the chunked SHA-256 digest check, and the terminal progress bar.
#ifndef BERTH_CLI_CMD_DATA_TRANSFER_H_
#define BERTH_CLI_CMD_DATA_TRANSFER_H_

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

#include "absl/status/statusor.h"

namespace berth::cli {

// Where an export is served and how to prove the right to it.
struct ExportEndpoint {
  std::string url;  // https://HOST:PORT/exports/ID
  std::string token;
  std::string ca_pem;
  // The CLI's TLS directory (--tls-dir / BERTH_TLS_DIR): its tls.crt/tls.key are presented as
  // the client certificate an agent running with mutual TLS requires. Empty: none is presented.
  std::string tls_dir;
};

struct TransferOptions {
  std::string file;
  int connections = 2;
  std::ostream* progress = nullptr;  // a terminal to draw the progress bar on, or null
  // Download only: continue from FILE.berth-progress when it belongs to `identity`.
  bool resume = false;
  std::string identity;
};

struct TransferStats {
  uint64_t size = 0;         // logical size of the image
  uint64_t transferred = 0;  // bytes sent over the network in this run
  uint64_t reused = 0;       // bytes of data kept from an earlier run (--resume)
  std::string digest;
};

// Returns the sidecar that records finished chunks of `file`.
std::string ProgressFile(const std::string& file);
// Reads the export name an earlier run of `file` recorded in its sidecar ("" when none).
std::string PreviousExportName(const std::string& file, const std::string& identity);
// Records the export name in the sidecar's header for --resume.
struct DownloadHooks {
  std::string export_name;
};

// Downloads the export into `o.file` (sparse, only data ranges), verifies the digest the agent
// reports and removes the sidecar. Errors name the HTTP status (401 token, 404, 410 expired).
absl::StatusOr<TransferStats> DownloadExport(const ExportEndpoint& ep, const TransferOptions& o,
                                             const DownloadHooks& hooks);
// Uploads the data extents of `o.file` and asks the agent to verify the digest.
absl::StatusOr<TransferStats> UploadToExport(const ExportEndpoint& ep, const TransferOptions& o);

// Returns the logical size of a local file (NotFound / InvalidArgument with a clear message).
absl::StatusOr<uint64_t> LocalFileSize(const std::string& file);

}  // namespace berth::cli

#endif  // BERTH_CLI_CMD_DATA_TRANSFER_H_
