// Incremental transfers of `berth data` (docs/export.md, "Incremental export"): download a
// snapshot B into a file that starts as a local copy of an earlier snapshot A, fetching only
// the ranges that differ; upload a file into a new disk made from snapshot A, sending only the
// leaves that differ.
#ifndef BERTH_CLI_CMD_DATA_INCREMENTAL_H_
#define BERTH_CLI_CMD_DATA_INCREMENTAL_H_

#include <cstdint>
#include <iosfwd>
#include <string>

#include "absl/status/statusor.h"
#include "cmd_data_transfer.h"

namespace berth::cli {

struct IncrementalOptions {
  std::string file;  // -o: the result (may equal base: updated in place)
  std::string base;  // --base: a local copy of snapshot A
  int connections = 2;
  std::ostream* progress = nullptr;  // a terminal for the progress bar, or null
  std::ostream* log = nullptr;       // one line naming the method and the bytes to fetch
  bool resume = false;               // continue an interrupted run of the same file
  std::string identity;              // of B and A, recorded in the progress sidecar
};

struct IncrementalStats {
  TransferStats transfer;
  std::string method;     // extent-map | digest
  uint64_t changed = 0;   // bytes where B differs from the base (fetched or zeroed)
  std::string fell_back;  // why the extent map was not used, if it was offered
};

// Downloads the export (of B, created with spec.since A) into `o.file`: the file becomes a
// reflink (or sparse) copy of `o.base`, then only the changed ranges are fetched and the
// result's digest is checked against the agent's. An interrupted run leaves a progress sidecar
// that --resume completes; without it the file is never trusted as a base.
absl::StatusOr<IncrementalStats> IncrementalDownload(const ExportEndpoint& ep,
                                                     const IncrementalOptions& o,
                                                     const std::string& export_name);

// Uploads `o.file` into an upload export whose volume was made from snapshot A: sends the
// file's leaf digests, then only the leaves that differ (zero leaves as holes), then asks the
// agent to verify the whole volume's digest.
absl::StatusOr<TransferStats> IncrementalUpload(const ExportEndpoint& ep, const TransferOptions& o);

}  // namespace berth::cli

#endif  // BERTH_CLI_CMD_DATA_INCREMENTAL_H_
