#include "cmd_data_http.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "berth/exportwire/tls_context.h"
#include "berth/net/stream.h"
#include "berth/status_macros.h"

namespace berth::cli {

namespace ew = exportwire;

absl::StatusOr<std::unique_ptr<ExportSession>> ExportSession::Create(const ExportEndpoint& ep) {
  BERTH_ASSIGN_OR_RETURN(ew::HttpsUrl url, ew::ParseHttpsUrl(ep.url));
  BERTH_ASSIGN_OR_RETURN(ew::UniqueSslCtx ctx, ew::NewClientContext(ep.ca_pem));
  if (!ep.tls_dir.empty()) {  // the client certificate an agent with mutual TLS requires
    TlsFiles files = TlsFiles::FromDir(ep.tls_dir);
    if (absl::Status st = ew::UseCertificate(ctx.get(), files.cert, files.key); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat("--tls-dir: ", st.message()));
    }
  }
  std::unique_ptr<ExportSession> s(new ExportSession());
  s->ctx_ = std::move(ctx);
  s->url_ = url;
  s->token_ = ep.token;
  return s;
}

absl::Status ExportSession::HttpError(const HttpResponse& r, const std::string& what) {
  std::string detail(absl::StripAsciiWhitespace(r.body));
  std::string msg = absl::StrCat(what, ": HTTP ", r.code, detail.empty() ? "" : " (", detail,
                                 detail.empty() ? "" : ")");
  switch (r.code) {
    case 401:
      return absl::PermissionDeniedError(absl::StrCat(msg, ": the export token was rejected"));
    case 404:
      return absl::NotFoundError(absl::StrCat(msg, ": the agent has no such export"));
    case 410:
      return absl::DeadlineExceededError(
          absl::StrCat(msg, ": the export expired or was stopped; run the command again"));
    case 416:
    case 422:
      return absl::InvalidArgumentError(msg);
    default:
      return absl::UnavailableError(msg);
  }
}

absl::Status ExportSession::Connection::Ensure() {
  if (conn_) return absl::OkStatus();
  auto stream = net::Dial(s_.url_.host, s_.url_.port, s_.ctx_.get(), ew::HttpStreamOptions());
  if (!stream.ok()) {
    // A name that does not resolve is as unreachable as a host that does not answer.
    if (absl::IsInvalidArgument(stream.status())) {
      return absl::UnavailableError(stream.status().message());
    }
    return stream.status();
  }
  conn_ = std::make_unique<ew::HttpConn>(*std::move(stream));
  return absl::OkStatus();
}

absl::Status ExportSession::Connection::SendRequest(const std::string& method,
                                                    const std::string& op,
                                                    const std::string& extra_headers,
                                                    uint64_t body_length) {
  std::string path = s_.url_.path;
  if (path.empty() || path.back() != '/') path += '/';
  std::string req = absl::StrCat(method, " ", path, op, " HTTP/1.1\r\nHost: ", s_.url_.host, ":",
                                 s_.url_.port, "\r\nAuthorization: Bearer ", s_.token_, "\r\n",
                                 extra_headers, "Content-Length: ", body_length, "\r\n\r\n");
  return conn_->WriteAll(req.data(), req.size());
}

absl::StatusOr<HttpResponse> ExportSession::Connection::ReadResponseHead() {
  BERTH_ASSIGN_OR_RETURN(std::string text, conn_->ReadHead());
  auto head = ew::ParseHead(text);
  if (!head.ok()) return absl::DataLossError(head.status().message());
  HttpResponse r;
  r.head = *std::move(head);
  if (!absl::SimpleAtoi(r.head.first_line_b, &r.code)) {
    return absl::DataLossError("malformed HTTP status line");
  }
  return r;
}

absl::Status ExportSession::Connection::ReadSmallBody(HttpResponse& r) {
  uint64_t length = 0;
  if (!absl::SimpleAtoi(r.head.Header("content-length"), &length) || length > (64u << 20)) {
    return absl::DataLossError("response without a usable Content-Length");
  }
  r.body.resize(length);
  absl::Status st = conn_->ReadExact(r.body.data(), length);
  if (r.head.Header("connection") == "close") conn_.reset();
  return st;
}

absl::StatusOr<HttpResponse> ExportSession::Connection::Call(const std::string& method,
                                                             const std::string& op,
                                                             const std::string& extra_headers,
                                                             const std::string& body) {
  bool reused = conn_ != nullptr;
  absl::StatusOr<HttpResponse> r = CallOnce(method, op, extra_headers, body);
  if (reused && method == "GET" && absl::IsUnavailable(r.status())) {
    r = CallOnce(method, op, extra_headers, body);
  }
  return r;
}

absl::StatusOr<HttpResponse> ExportSession::Connection::CallOnce(const std::string& method,
                                                                 const std::string& op,
                                                                 const std::string& extra_headers,
                                                                 const std::string& body) {
  absl::Status st = Ensure();
  if (st.ok()) st = SendRequest(method, op, extra_headers, body.size());
  if (st.ok() && !body.empty()) st = conn_->WriteAll(body.data(), body.size());
  if (st.ok()) st = conn_->Flush();
  if (!st.ok()) {
    conn_.reset();
    return st;
  }
  auto r = ReadResponseHead();
  if (r.ok()) st = ReadSmallBody(*r);
  if (!r.ok() || !st.ok()) {
    conn_.reset();
    return r.ok() ? st : r.status();
  }
  return r;
}

absl::Status ExportSession::Connection::GetRange(uint64_t first, uint64_t length, char* out) {
  bool reused = conn_ != nullptr;
  absl::Status st = GetRangeOnce(first, length, out);
  return reused && absl::IsUnavailable(st) ? GetRangeOnce(first, length, out) : st;
}

absl::Status ExportSession::Connection::GetRangeOnce(uint64_t first, uint64_t length, char* out) {
  absl::Status st = Ensure();
  std::string range = absl::StrCat("Range: bytes=", first, "-", first + length - 1, "\r\n");
  if (st.ok()) st = SendRequest("GET", "data", range, 0);
  if (st.ok()) st = conn_->Flush();
  absl::StatusOr<HttpResponse> r = st.ok() ? ReadResponseHead() : absl::StatusOr<HttpResponse>(st);
  if (!r.ok()) {
    conn_.reset();
    return r.status();
  }
  if (r->code != 206) {
    st = ReadSmallBody(*r);
    conn_.reset();
    return st.ok() ? HttpError(*r, "GET data") : st;
  }
  uint64_t got_length = 0;
  absl::SimpleAtoi(r->head.Header("content-length"), &got_length);
  if (got_length != length) {
    conn_.reset();
    return absl::DataLossError(absl::StrCat("asked for ", length, " bytes, got ", got_length));
  }
  st = conn_->ReadExact(out, length);
  if (!st.ok()) conn_.reset();
  return st;
}

absl::Status ExportSession::Connection::PutRange(uint64_t first, uint64_t length, uint64_t total,
                                                 const char* data) {
  absl::Status st = Ensure();
  std::string range =
      absl::StrCat("Content-Range: bytes ", first, "-", first + length - 1, "/", total, "\r\n");
  if (st.ok()) st = SendRequest("PUT", "data", range, length);
  if (st.ok()) st = conn_->WriteAll(data, length);
  if (st.ok()) st = conn_->Flush();
  absl::StatusOr<HttpResponse> r = st.ok() ? ReadResponseHead() : absl::StatusOr<HttpResponse>(st);
  if (r.ok()) st = ReadSmallBody(*r);
  if (!r.ok() || !st.ok()) {
    conn_.reset();
    return r.ok() ? st : r.status();
  }
  return r->code / 100 == 2 ? absl::OkStatus() : HttpError(*r, "PUT data");
}

}  // namespace berth::cli
