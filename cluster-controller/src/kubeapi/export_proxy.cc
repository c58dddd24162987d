#include "kubeapi/export_proxy.h"

#include <sys/socket.h>

#include <atomic>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "berth/exportwire/export_wire.h"
#include "berth/exportwire/tls_context.h"

namespace berth::kubeapi {
namespace {

namespace ew = berth::exportwire;

constexpr size_t kChunk = 1 << 20;         // bytes per read from the agent
constexpr size_t kQueuedBytes = 8u << 20;  // the relay's buffer toward the client

// Relays `length` body bytes from the agent's connection to the client, on its own thread.
class ExportRelay : public Stream {
 public:
  ExportRelay(ew::UniqueSslCtx ctx, std::unique_ptr<ew::TlsConn> conn, uint64_t length)
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
  std::unique_ptr<ew::TlsConn> conn_;
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
  auto url = ew::ParseHttpsUrl(JsonString(dex, "/status/url"));
  if (!url.ok()) return absl::InternalError(absl::StrCat("status.url: ", url.status().message()));
  auto ctx = ew::NewClientContext(JsonString(dex, "/status/caCert"));
  if (!ctx.ok()) {
    return absl::UnavailableError(
        absl::StrCat("the export's status.caCert: ", ctx.status().message()));
  }
  if (client) {
    if (absl::Status st = ew::UseCertificate(ctx->get(), client->cert, client->key); !st.ok()) {
      return absl::InternalError(absl::StrCat("the controller's certificate: ", st.message()));
    }
  }
  ew::ScopedSigpipeBlock no_sigpipe;
  auto conn = ew::Dial(ctx->get(), url->host, url->port);
  if (!conn.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach the node's export stream: ", conn.status().message()));
  }
  std::string path = url->path;
  if (path.empty() || path.back() != '/') path += '/';
  std::string req = absl::StrCat(
      "GET ", path, "data HTTP/1.1\r\nHost: ", url->host, ":", url->port,
      "\r\nAuthorization: Bearer ", JsonString(dex, "/status/token"), "\r\n",
      range.empty() ? "" : absl::StrCat("Range: ", range, "\r\n"), "Connection: close\r\n\r\n");
  if (absl::Status st = (*conn)->WriteAll(req.data(), req.size()); !st.ok()) return st;
  if (absl::Status st = (*conn)->Flush(); !st.ok()) return st;
  auto text = (*conn)->ReadHead();
  if (!text.ok()) return absl::UnavailableError(std::string(text.status().message()));
  auto head = ew::ParseHead(*text);
  if (!head.ok()) return absl::DataLossError(std::string(head.status().message()));
  int code = 0;
  uint64_t length = 0;
  if (!absl::SimpleAtoi(head->first_line_b, &code) ||
      !absl::SimpleAtoi(head->Header("content-length"), &length)) {
    return absl::DataLossError("the node's export stream sent a malformed answer");
  }
  if (code != 200 && code != 206) {
    std::string body(std::min<uint64_t>(length, 4096), '\0');
    if (!(*conn)->ReadExact(body.data(), body.size()).ok()) body.clear();
    return AgentRefusal(code, body);
  }
  auto relay = std::make_unique<ExportRelay>(*std::move(ctx), *std::move(conn), length);
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
  if (code == 206) relay->headers.emplace_back("Content-Range", head->Header("content-range"));
  return relay;
}

}  // namespace berth::kubeapi
