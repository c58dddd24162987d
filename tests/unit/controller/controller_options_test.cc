#include "server/controller_options.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>

using berth::controller::CompleteControllerOptions;
using berth::controller::ControllerOptions;
using berth::controller::ParseStorageClasses;

namespace {

// An environment holding only `vars`.
auto Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

}  // namespace

TEST_CASE("ParseStorageClasses maps NAME=POOL entries and names a bad one") {
  auto classes = ParseStorageClasses({"fast=reflink", "x=a=b"});
  REQUIRE(classes.ok());
  CHECK(*classes == std::map<std::string, std::string>{{"fast", "reflink"}, {"x", "a=b"}});
  for (const char* bad : {"no-pool", "=pool", "name="}) {
    auto parsed = ParseStorageClasses({"fast=reflink", bad});
    REQUIRE_FALSE(parsed.ok());
    CHECK(std::string(parsed.status().message()) ==
          std::string("--storage_classes: bad entry \"") + bad + "\" (want NAME=POOL)");
  }
}

TEST_CASE("The store flag defaults to SQLite under the data directory") {
  ControllerOptions o;
  o.data_dir = "/srv/berth";
  CHECK(o.StoreFlag() == "sqlite:/srv/berth");
  o.store = "etcd:https://127.0.0.1:2379";
  CHECK(o.StoreFlag() == "etcd:https://127.0.0.1:2379");
}

TEST_CASE("CompleteControllerOptions fills the id and the in-pod review server") {
  ControllerOptions o;
  REQUIRE(CompleteControllerOptions(o, Env({})).ok());
  CHECK_FALSE(o.id.empty());  // the host name
  CHECK(o.authorization_server.empty());

  ControllerOptions pod;
  pod.id = "c1";
  pod.authorization = "kubernetes";
  REQUIRE(CompleteControllerOptions(pod, Env({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                              {"KUBERNETES_SERVICE_PORT", "6443"}}))
              .ok());
  CHECK(pod.id == "c1");
  CHECK(pod.authorization_server == "https://10.96.0.1:6443");

  ControllerOptions no_port;
  REQUIRE(CompleteControllerOptions(no_port, Env({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}})).ok());
  CHECK(no_port.authorization_server == "https://10.96.0.1:443");

  ControllerOptions given;
  given.authorization_server = "https://api.example:6443";
  REQUIRE(CompleteControllerOptions(given, Env({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}})).ok());
  CHECK(given.authorization_server == "https://api.example:6443");
}

TEST_CASE("CompleteControllerOptions rejects an unknown authorizer or one with no server") {
  ControllerOptions o;
  o.authorization = "rbac";
  absl::Status s = CompleteControllerOptions(o, Env({}));
  CHECK(absl::IsInvalidArgument(s));
  CHECK(std::string(s.message()) == "--authorization: want berth or kubernetes, got \"rbac\"");

  ControllerOptions k;
  k.authorization = "kubernetes";
  s = CompleteControllerOptions(k, Env({}));
  CHECK(absl::IsInvalidArgument(s));
  CHECK(std::string(s.message()).find("needs --authorization_server") != std::string::npos);
}
