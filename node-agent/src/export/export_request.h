// The request side of the export server's HTTP: one request head in, its parsed fields out.
// Pure (no I/O, never throws), so it is unit-tested with fixtures and fuzzed
// (tests/fuzz/export_request_fuzz.cc).
#ifndef BERTH_AGENT_SRC_EXPORT_EXPORT_REQUEST_H_
#define BERTH_AGENT_SRC_EXPORT_EXPORT_REQUEST_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "berth/exportwire/export_wire.h"

namespace berth::agent {

// Longest export id and operation name a request may name; ids are what
// ExportServer::StartExport accepts ([a-z0-9-], at most 128).
inline constexpr size_t kMaxExportIdLength = 128;
inline constexpr size_t kMaxExportOpLength = 32;

// One request head, parsed.
struct ExportRequest {
  exportwire::HttpHead head;
  std::string method;        // an HTTP token, e.g. GET
  std::string id;            // empty when the target is not /exports/ID/OP (-> 404)
  std::string op;            // data, extents, digest, complete, ...
  std::string bearer_token;  // empty when there is no Bearer credential
  uint64_t content_length = 0;
  bool close = false;  // Connection: close
};

// Parses a request head (without the blank line). A malformed head, method or Content-Length
// is InvalidArgument (-> 400 and the connection closes). A target that is not
// /exports/ID/OP with ID in [a-z0-9-]{1,128} and OP in [a-z]{1,32} leaves `id` empty, so that
// nothing a client sends reaches the logs unchecked.
absl::StatusOr<ExportRequest> ParseExportRequest(const std::string& head);

}  // namespace berth::agent

#endif  // BERTH_AGENT_SRC_EXPORT_EXPORT_REQUEST_H_
