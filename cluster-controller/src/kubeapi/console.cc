#include "kubeapi/console.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "kubeapi/api.h"

namespace berth::kubeapi {
namespace {

constexpr char kConsolePrefix[] = "/console/";

void AddSecurityHeaders(HttpResponse* r) {
  r->headers.push_back({"Content-Security-Policy", kConsoleCsp});
  r->headers.push_back({"X-Content-Type-Options", "nosniff"});
  r->headers.push_back({"Referrer-Policy", "no-referrer"});
  r->headers.push_back({"X-Frame-Options", "DENY"});
}

bool WantsHtml(const HttpRequest& req) {
  return absl::StrContains(absl::AsciiStrToLower(req.Header("accept")), "text/html");
}

}  // namespace

bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
  absl::string_view want = absl::StripPrefix(absl::string_view(etag.data(), etag.size()), "W/");
  for (absl::string_view tag :
       absl::StrSplit(absl::string_view(if_none_match.data(), if_none_match.size()), ',')) {
    tag = absl::StripAsciiWhitespace(tag);
    if (tag == "*" || absl::StripPrefix(tag, "W/") == want) return true;
  }
  return false;
}

Console::Console(const std::vector<console::Asset>& assets) {
  for (const console::Asset& a : assets) by_path_[a.path] = &a;
}

std::optional<HttpResponse> Console::Serve(const HttpRequest& req) const {
  bool under_console = absl::StartsWith(req.path, kConsolePrefix);
  if (!under_console && !(req.path == "/" && WantsHtml(req))) return std::nullopt;
  if (req.method != "GET" && req.method != "HEAD") {
    HttpResponse r = ErrorResponse(ApiError::MethodNotAllowed("the console is read-only"));
    r.headers.push_back({"Allow", "GET, HEAD"});
    AddSecurityHeaders(&r);
    return r;
  }
  auto it = by_path_.find(req.path);
  if (it == by_path_.end()) {
    HttpResponse r =
        ErrorResponse(ApiError(404, "NotFound", "the console has no file " + req.path));
    AddSecurityHeaders(&r);
    return r;
  }
  const console::Asset& a = *it->second;
  HttpResponse r{200, std::string(a.content_type), "", {}};
  r.headers.push_back({"ETag", std::string(a.etag)});
  // Hashed names never change content; index.html names the current ones, so it is
  // revalidated on every load (cheaply: 304 by ETag).
  r.headers.push_back(
      {"Cache-Control", a.immutable ? "public, max-age=31536000, immutable" : "no-cache"});
  // "/" is HTML for browsers and a JSON path list for API clients.
  if (a.path == "/") r.headers.push_back({"Vary", "Accept"});
  AddSecurityHeaders(&r);
  std::string inm = req.Header("if-none-match");
  if (!inm.empty() && EtagMatches(inm, a.etag)) {
    r.code = 304;
    return r;
  }
  r.body = std::string(a.body);
  return r;
}

}  // namespace berth::kubeapi
