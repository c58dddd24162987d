// GET .../dataexports/NAME/data: a DataExport's bytes through the Kubernetes API port, for
// browsers. The controller opens the export's own stream on the agent (status.url, the pinned
// status.caCert, status.token) and relays it: same origin for the console, the agent's port
// need not be reachable, and a slow client slows the agent read instead of filling memory.
#ifndef BERTH_CONTROLLER_KUBEAPI_EXPORT_PROXY_H_
#define BERTH_CONTROLLER_KUBEAPI_EXPORT_PROXY_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "berth/json.h"
#include "berth/tls.h"
#include "kubeapi/http_server.h"

namespace berth::kubeapi {

// The relay of a Ready DataExport `dex` (the stored object). `range` is the request's Range
// header ("" for the whole image). `client` is the controller's own certificate, which an agent
// with mutual TLS requires of every export client (none: the cluster runs without TLS).
// FailedPrecondition when the export is not Ready, Unavailable when the agent cannot be reached,
// and the agent's own refusals as NotFound (404), DeadlineExceeded (410: expired or stopped),
// OutOfRange (416), each naming what happened.
absl::StatusOr<std::unique_ptr<Stream>> OpenExportDownload(const Json& dex,
                                                           const std::string& range,
                                                           const std::optional<TlsFiles>& client);

// What a node's export endpoint answered: its status code and (short) body.
struct ExportAnswer {
  int code = 0;
  std::string body;
};

// PUT/POST .../virtualdisks|virtualimages/NAME/upload: one piece of an upload (PUT, with
// `content_range` "bytes A-B/SIZE") or its completion (POST, body {"size","digest"}), relayed
// to the upload endpoint in the object's status.upload. FailedPrecondition unless the object is
// WaitForUserUpload; the agent's answer is returned as it is (204, 200, 416, 422, ...).
absl::StatusOr<ExportAnswer> RelayUpload(const Json& obj, const std::string& method,
                                         const std::string& content_range, const std::string& body,
                                         const std::optional<TlsFiles>& client);

// Whether `token` is the export's own (status.token), compared in constant time.
bool ExportTokenMatches(const Json& dex, const std::string& token);

}  // namespace berth::kubeapi

#endif  // BERTH_CONTROLLER_KUBEAPI_EXPORT_PROXY_H_
