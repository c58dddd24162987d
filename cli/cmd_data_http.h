// A minimal HTTPS/1.1 client for export endpoints: kept-alive connections, bearer token,
// pinned CA. One Session per transfer; one Connection per thread.
#ifndef BERTH_CLI_CMD_DATA_HTTP_H_
#define BERTH_CLI_CMD_DATA_HTTP_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "berth/exportwire/export_wire.h"
#include "cmd_data_transfer.h"

namespace berth::cli {

struct HttpResponse {
  int code = 0;
  exportwire::HttpHead head;
  std::string body;  // small bodies only (JSON, error text)
};

// Shared, immutable after Create: thread-safe.
class ExportSession {
 public:
  static absl::StatusOr<std::unique_ptr<ExportSession>> Create(const ExportEndpoint& ep);

  // One kept-alive connection; reconnects after a failure. A GET that fails as dropped
  // (Unavailable) on a reused connection is sent once more on a fresh one: the agent may close
  // a kept-alive connection at any time. Not thread-safe.
  class Connection {
   public:
    explicit Connection(const ExportSession& s) : s_(s) {}
    // Sends a request for `op` (extents, digest, data, complete) and reads a small response.
    absl::StatusOr<HttpResponse> Call(const std::string& method, const std::string& op,
                                      const std::string& extra_headers, const std::string& body);
    // GETs bytes [first, first+length) of data into `out`.
    absl::Status GetRange(uint64_t first, uint64_t length, char* out);
    // PUTs `length` bytes from `data` at `first`.
    absl::Status PutRange(uint64_t first, uint64_t length, uint64_t total, const char* data);

   private:
    absl::StatusOr<HttpResponse> CallOnce(const std::string& method, const std::string& op,
                                          const std::string& extra_headers,
                                          const std::string& body);
    absl::Status GetRangeOnce(uint64_t first, uint64_t length, char* out);
    absl::Status Ensure();
    absl::Status SendRequest(const std::string& method, const std::string& op,
                             const std::string& extra_headers, uint64_t body_length);
    absl::StatusOr<HttpResponse> ReadResponseHead();
    absl::Status ReadSmallBody(HttpResponse& r);

    const ExportSession& s_;
    std::unique_ptr<exportwire::HttpConn> conn_;
  };

  // Turns a non-2xx response into a clear error.
  static absl::Status HttpError(const HttpResponse& r, const std::string& what);

 private:
  ExportSession() = default;
  exportwire::UniqueSslCtx ctx_;
  exportwire::HttpsUrl url_;
  std::string token_;
};

}  // namespace berth::cli

#endif  // BERTH_CLI_CMD_DATA_HTTP_H_
