#include "kubeapi/export_proxy.h"

#include <sys/socket.h>

#include <atomic>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "berth/exportwire/export_wire.h"
#include "berth/exportwire/tls_context.h"
#include "berth/net/stream.h"

namespace berth::kubeapi {
namespace {

namespace ew = berth::exportwire;

constexpr size_t kChunk = 1 << 20;         // bytes per read from the agent
constexpr size_t kQueuedBytes = 8u << 20;  // the relay's buffer toward the client

// Relays `length` body bytes from the agent's connection to the client, on its own thread.
class ExportRelay : public Stream {
 public:
  ExportRelay(ew::UniqueSslCtx ctx, std::unique_ptr<ew::HttpConn> conn, uint64_t length)
      : ctx_(std::move(ctx)), conn_(std::move(conn)), length_(length) {}

  ~ExportRelay() override {
    stop_ = true;
    shutdown(conn_->fd(), SHUT_RDWR);  // a read blocked on the agent returns
    if (thread_.joinable()) thread_.join();
  }

  void Start(Emit emit, End end) override {
    thread_ = std::thread([this, emit = std::move(emit), end = std::move(end)] {
      ew::ScopedSigpipeBlock no_sigpipe;
      uint64_t left = length_;
      while (left > 0 && !stop_) {
        std::string chunk(std::min<uint64_t>(left, kChunk), '\0');
        if (!conn_->ReadExact(chunk.data(), chunk.size()).ok()) break;  // the client sees a
        left -= chunk.size();                                           // short body: failed
        emit(std::move(chunk));
      }
      end();
    });
  }

 private:
  ew::UniqueSslCtx ctx_;
  std::unique_ptr<ew::HttpConn> conn_;
  const uint64_t length_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

absl::Status AgentRefusal(int code, const std::string& body) {
  std::string what = absl::StrCat("the node's export stream answered ", code,
                                  body.empty() ? "" : ": ", body.substr(0, 300));
  switch (code) {
    case 401:
      return absl::PermissionDeniedError(absl::StrCat(what, " (the export token was refused)"));
    case 404:
      return absl::NotFoundError(absl::StrCat(what, " (the node no longer has this export)"));
    case 410:
      return absl::DeadlineExceededError(
          absl::StrCat(what, " (the export expired or was stopped: create a new one)"));
    case 416:
      return absl::OutOfRangeError(what);
    default:
      return absl::UnavailableError(what);
  }
}

// One request to an export endpoint {url, token, caCert} on a node, up to the answer's head.
struct AgentCall {
  ew::UniqueSslCtx ctx;
  std::unique_ptr<ew::HttpConn> conn;
  ew::HttpHead head;
  int code = 0;
  uint64_t length = 0;  // of the answer's body
};

absl::StatusOr<AgentCall> CallAgent(const Json& endpoint, const std::string& method,
                                    const std::string& op, const std::string& headers,
                                    const std::string& body,
                                    const std::optional<TlsFiles>& client) {
  auto url = ew::ParseHttpsUrl(JsonString(endpoint, "/url"));
  if (!url.ok()) return absl::InternalError(absl::StrCat("status url: ", url.status().message()));
  AgentCall c;
  auto ctx = ew::NewClientContext(JsonString(endpoint, "/caCert"));
  if (!ctx.ok()) {
    return absl::UnavailableError(
        absl::StrCat("the export's status.caCert: ", ctx.status().message()));
  }
  c.ctx = *std::move(ctx);
  if (client) {
    if (absl::Status st = ew::UseCertificate(c.ctx.get(), client->cert, client->key); !st.ok()) {
      return absl::InternalError(absl::StrCat("the controller's certificate: ", st.message()));
    }
  }
  ew::ScopedSigpipeBlock no_sigpipe;
  auto stream = net::Dial(url->host, url->port, c.ctx.get(), ew::HttpStreamOptions());
  if (!stream.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach the node's export stream: ", stream.status().message()));
  }
  c.conn = std::make_unique<ew::HttpConn>(*std::move(stream));
  std::string path = url->path;
  if (path.empty() || path.back() != '/') path += '/';
  std::string req =
      absl::StrCat(method, " ", path, op, " HTTP/1.1\r\nHost: ", url->host, ":", url->port,
                   "\r\nAuthorization: Bearer ", JsonString(endpoint, "/token"), "\r\n", headers,
                   "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n");
  absl::Status st = c.conn->WriteAll(req.data(), req.size());
  if (st.ok() && !body.empty()) st = c.conn->WriteAll(body.data(), body.size());
  if (st.ok()) st = c.conn->Flush();
  if (!st.ok()) return absl::UnavailableError(std::string(st.message()));
  auto text = c.conn->ReadHead();
  if (!text.ok()) return absl::UnavailableError(std::string(text.status().message()));
  auto head = ew::ParseHead(*text);
  if (!head.ok()) return absl::DataLossError(std::string(head.status().message()));
  c.head = *std::move(head);
  if (!absl::SimpleAtoi(c.head.first_line_b, &c.code) ||
      !absl::SimpleAtoi(c.head.Header("content-length"), &c.length)) {
    return absl::DataLossError("the node's export stream sent a malformed answer");
  }
  return c;
}

std::string SmallBody(AgentCall& c) {
  std::string body(std::min<uint64_t>(c.length, 4096), '\0');
  if (!c.conn->ReadExact(body.data(), body.size()).ok()) body.clear();
  return body;
}

}  // namespace

bool ExportTokenMatches(const Json& dex, const std::string& token) {
  std::string want = JsonString(dex, "/status/token");
  return !want.empty() && !token.empty() && ew::ConstantTimeEquals(want, token);
}

absl::StatusOr<std::unique_ptr<Stream>> OpenExportDownload(const Json& dex,
                                                           const std::string& range,
                                                           const std::optional<TlsFiles>& client) {
  std::string name = JsonString(dex, "/metadata/name");
  std::string phase = JsonString(dex, "/status/phase");
  if (phase != "Ready") {
    return absl::FailedPreconditionError(
        absl::StrCat("DataExport \"", name, "\" is ", phase.empty() ? "not ready yet" : phase,
                     ": its data can be read only while it is Ready"));
  }
  auto call = CallAgent(dex.value("status", Json::object()), "GET", "data",
                        range.empty() ? "" : absl::StrCat("Range: ", range, "\r\n"), "", client);
  if (!call.ok()) return call.status();
  if (call->code != 200 && call->code != 206) return AgentRefusal(call->code, SmallBody(*call));
  int code = call->code;
  uint64_t length = call->length;
  std::string content_range = call->head.Header("content-range");
  auto relay = std::make_unique<ExportRelay>(std::move(call->ctx), std::move(call->conn), length);
  relay->code = code;
  relay->content_type = "application/octet-stream";
  relay->content_length = length;
  relay->block_above_bytes = kQueuedBytes;
  relay->max_queued = kQueuedBytes / kChunk * 4 + 16;
  relay->timeout = absl::Hours(24);  // an idle lease on the agent bounds an abandoned one
  relay->heartbeat = absl::Hours(24);
  std::string target = JsonString(dex, "/spec/targetRef/name", name);
  relay->headers = {
      {"Content-Disposition", absl::StrCat("attachment; filename=\"", target, ".img\"")},
      {"Accept-Ranges", "bytes"},
      {"X-Content-Type-Options", "nosniff"}};
  if (code == 206) relay->headers.emplace_back("Content-Range", content_range);
  return relay;
}

absl::StatusOr<ExportAnswer> RelayUpload(const Json& obj, const std::string& method,
                                         const std::string& content_range, const std::string& body,
                                         const std::optional<TlsFiles>& client) {
  std::string phase = JsonString(obj, "/status/phase");
  const Json* upload = nullptr;
  if (auto it = obj.find("status"); it != obj.end() && it->is_object()) {
    if (auto u = it->find("upload"); u != it->end() && u->is_object()) upload = &*u;
  }
  if (phase != "WaitForUserUpload" || upload == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(obj.value("kind", "object"), " \"", JsonString(obj, "/metadata/name"),
                     "\" is ", phase.empty() ? "not ready for an upload yet" : phase,
                     ": data can be uploaded only while it is WaitForUserUpload"));
  }
  bool put = method == "PUT";
  if (put && content_range.empty()) {
    return absl::InvalidArgumentError("an upload PUT needs Content-Range: bytes A-B/SIZE");
  }
  auto call = CallAgent(*upload, put ? "PUT" : "POST", put ? "data" : "complete",
                        put ? absl::StrCat("Content-Range: ", content_range,
                                           "\r\nContent-Type: application/octet-stream\r\n")
                            : "Content-Type: application/json\r\n",
                        body, client);
  if (!call.ok()) return call.status();
  return ExportAnswer{call->code, SmallBody(*call)};
}

}  // namespace berth::kubeapi
