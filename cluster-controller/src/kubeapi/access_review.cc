#include "kubeapi/access_review.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "berth/net/socket.h"

namespace berth::kubeapi {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr absl::Duration kAllowedTtl = absl::Minutes(5);
constexpr absl::Duration kDeniedTtl = absl::Seconds(30);
constexpr size_t kMaxCached = 10000;

}  // namespace

Json AccessReviewer::ReviewObject(const AccessRequest& r) {
  Json attrs = {
      {"verb", r.verb}, {"group", r.group}, {"version", r.version}, {"resource", r.resource}};
  if (!r.subresource.empty()) attrs["subresource"] = r.subresource;
  if (!r.ns.empty()) attrs["namespace"] = r.ns;
  if (!r.name.empty()) attrs["name"] = r.name;
  Json spec = {{"user", r.user}, {"groups", r.groups}, {"resourceAttributes", attrs}};
  if (!r.extra.empty()) spec["extra"] = r.extra;
  return {
      {"apiVersion", "authorization.k8s.io/v1"}, {"kind", "SubjectAccessReview"}, {"spec", spec}};
}

absl::StatusOr<AccessDecision> AccessReviewer::Review(const AccessRequest& request) {
  Json review = ReviewObject(request);
  std::string key = review["spec"].dump();
  absl::Time now = clock_.Now();
  {
    absl::MutexLock l(&mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && it->second.expires > now) return it->second.decision;
  }
  absl::StatusOr<std::string> body = transport_(review.dump());
  if (!body.ok()) {
    return absl::UnavailableError(
        absl::StrCat("SubjectAccessReview failed: ", body.status().message()));
  }
  Json resp = Json::parse(*body, nullptr, /*allow_exceptions=*/false);
  if (!resp.is_object() || resp.value("kind", "") != "SubjectAccessReview" ||
      !resp.contains("status")) {
    return absl::UnavailableError(
        absl::StrCat("SubjectAccessReview: unexpected answer: ", body->substr(0, 200)));
  }
  AccessDecision d;
  d.allowed = resp["status"].value("allowed", false) && !resp["status"].value("denied", false);
  d.reason = resp["status"].value("reason", "");
  absl::MutexLock l(&mu_);
  if (cache_.size() >= kMaxCached) cache_.clear();
  cache_[key] = Cached{d, now + (d.allowed ? kAllowedTtl : kDeniedTtl)};
  return d;
}

AccessReviewer::Transport AccessReviewer::Https(std::string server, std::string token_file,
                                                std::string ca_file) {
  return [server, token_file, ca_file](const std::string& body) -> absl::StatusOr<std::string> {
    absl::string_view rest = server;
    if (!absl::ConsumePrefix(&rest, "https://")) {
      return absl::InvalidArgumentError(absl::StrCat("not an https:// URL: ", server));
    }
    rest = rest.substr(0, rest.find('/'));
    absl::StatusOr<std::pair<std::string, std::string>> hp = net::SplitHostPort(std::string(rest));
    if (!hp.ok()) return hp.status();
    std::ifstream tf(token_file);
    std::stringstream token;
    token << tf.rdbuf();
    try {
      asio::io_context ioc;
      asio::ssl::context ctx(asio::ssl::context::tls_client);
      ctx.load_verify_file(ca_file);
      ctx.set_verify_mode(asio::ssl::verify_peer);
      beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
      stream.set_verify_callback(asio::ssl::host_name_verification(hp->first));
      SSL_set_tlsext_host_name(stream.native_handle(), hp->first.c_str());
      asio::ip::tcp::resolver resolver(ioc);
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
      beast::get_lowest_layer(stream).connect(resolver.resolve(hp->first, hp->second));
      stream.handshake(asio::ssl::stream_base::client);
      http::request<http::string_body> req(
          http::verb::post, "/apis/authorization.k8s.io/v1/subjectaccessreviews", 11);
      req.set(http::field::host, hp->first);
      req.set(http::field::content_type, "application/json");
      req.set(http::field::accept, "application/json");
      std::string tok(absl::StripAsciiWhitespace(token.str()));
      if (!tok.empty()) req.set(http::field::authorization, "Bearer " + tok);
      req.body() = body;
      req.prepare_payload();
      http::write(stream, req);
      beast::flat_buffer buf;
      http::response<http::string_body> res;
      http::read(stream, buf, res);
      if (res.result_int() != 201 && res.result_int() != 200) {
        return absl::UnavailableError(
            absl::StrCat("HTTP ", res.result_int(), ": ", res.body().substr(0, 200)));
      }
      return res.body();
    } catch (const std::exception& e) {
      return absl::UnavailableError(e.what());
    }
  };
}

}  // namespace berth::kubeapi
