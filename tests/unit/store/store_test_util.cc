#include "store_test_util.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace berth::controller::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/berth-store-test-XXXXXX";
  char* dir = mkdtemp(tmpl);
  path_ = dir != nullptr ? dir : "/tmp/berth-store-test-fallback";
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Json MakeObject(const std::string& kind, const std::string& ns, const std::string& name) {
  Json obj = {{"apiVersion", "virtualization.deckhouse.io/v1alpha2"},
              {"kind", kind},
              {"metadata", {{"name", name}}},
              {"spec", {{"size", "1Gi"}}}};
  if (!ns.empty()) obj["metadata"]["namespace"] = ns;
  return obj;
}

void AddOwner(const Json& owner, Json* obj) {
  (*obj)["metadata"]["ownerReferences"].push_back({{"apiVersion", owner["apiVersion"]},
                                                   {"kind", owner["kind"]},
                                                   {"name", owner["metadata"]["name"]},
                                                   {"uid", owner["metadata"]["uid"]},
                                                   {"controller", true}});
}

EtcdStoreOptions EtcdTestOptions(const std::string& endpoint, const std::string& name) {
  EtcdStoreOptions options;
  options.endpoints = {endpoint};
  options.prefix = absl::StrCat("/berth-etcd-test-", getpid(), "-", name, "/");
  options.call_timeout = absl::Seconds(3);
  return options;
}

}  // namespace berth::controller::testing
