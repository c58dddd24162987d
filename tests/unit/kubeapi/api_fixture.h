// An Api over a fresh SQLite store in a temporary directory, and requests as the callers the
// tests need (a cluster admin's certificate, a user's certificate, nobody).
#ifndef BERTH_TESTS_UNIT_KUBEAPI_API_FIXTURE_H_
#define BERTH_TESTS_UNIT_KUBEAPI_API_FIXTURE_H_

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <variant>

#include "berth/controller/access.h"
#include "berth/controller/kube_api.h"
#include "berth/controller/object_store.h"
#include "berth/time_util.h"
#include "berth/tls.h"
#include "kubeapi/api.h"

namespace berth::kubeapi::testing {

class ApiFixture {
 public:
  ApiFixture() : clock_(absl::FromUnixSeconds(1764676800)) {  // 2025-12-02T12:00:00Z
    char tmpl[] = "/tmp/berth-kubeapi-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    auto store = controller::OpenSqliteStore(dir_, clock_, 1000);
    REQUIRE(store.ok());
    store_ = *std::move(store);
    access_ = std::make_unique<controller::AccessControl>(*store_, clock_, /*insecure=*/false);
    api_ = std::make_unique<Api>(*store_, *access_, clock_, controller::KubeApiOptions{});
  }
  ~ApiFixture() {
    api_.reset();
    access_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  controller::ObjectStore& store() { return *store_; }
  controller::AccessControl& access() { return *access_; }
  Api& api() { return *api_; }

  // Sends req and returns the (non-streamed) response.
  HttpResponse Send(const HttpRequest& req) {
    HttpReply reply = api_->Handle(req);
    REQUIRE(std::holds_alternative<HttpResponse>(reply));
    return std::get<HttpResponse>(std::move(reply));
  }

 private:
  SimulatedClock clock_;
  std::string dir_;
  std::unique_ptr<controller::ObjectStore> store_;
  std::unique_ptr<controller::AccessControl> access_;
  std::unique_ptr<Api> api_;
};

// A request from nobody (no certificate, no token).
inline HttpRequest Anonymous(const std::string& method, const std::string& path) {
  HttpRequest r;
  r.method = method;
  r.path = path;
  r.target = path;
  r.peer_ip = "127.0.0.1";
  return r;
}

// A request with a cluster-CA client certificate: CN user, O groups.
inline HttpRequest As(const std::string& user, std::vector<std::string> groups,
                      const std::string& method, const std::string& path) {
  HttpRequest r = Anonymous(method, path);
  r.cert = PeerCert{user, std::move(groups), false};
  return r;
}

inline HttpRequest AsAdmin(const std::string& method, const std::string& path) {
  return As("admin", {kGroupClusterAdmins}, method, path);
}

// The value of response header `name` (exact case), or "".
inline std::string HeaderOf(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

}  // namespace berth::kubeapi::testing

#endif  // BERTH_TESTS_UNIT_KUBEAPI_API_FIXTURE_H_
