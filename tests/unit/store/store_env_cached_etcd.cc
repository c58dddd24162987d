// The watch cache (NewCachedStore) in front of the etcd store, on the binary's shared private
// etcd server (EtcdServer::Shared()); each test case works under its own key prefix.

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "berth/status_macros.h"
#include "etcd_server.h"
#include "store/etcd_store.h"
#include "store_env.h"

namespace berth::controller::testing {
namespace {

class CachedEtcdEnv : public StoreEnv {
 public:
  CachedEtcdEnv() {
    static int next = 0;  // tests run one at a time
    options_.endpoints = {EtcdServer::Shared().endpoint()};
    options_.prefix = absl::StrCat("/berth-test-cached-", getpid(), "-", next++, "/");
    RealClock clock;
    if (auto store = OpenEtcdStore(options_, clock); store.ok()) base_ = (*store)->CurrentVersion();
  }
  absl::StatusOr<std::unique_ptr<ObjectStore>> Open(const Clock& clock, size_t history) override {
    if (!EtcdServer::Shared().error().empty()) {
      return absl::UnavailableError(EtcdServer::Shared().error());
    }
    BERTH_ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> backend, OpenEtcdStore(options_, clock));
    return NewCachedStore(std::move(backend), history);
  }
  // Compacts etcd (through a store of its own: `store` is the cache). The cache's history is
  // bounded by the `history` it was opened with, as the SQLite store's.
  absl::Status KeepHistoryFrom(ObjectStore&, uint64_t oldest) override {
    RealClock clock;
    BERTH_ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> etcd, OpenEtcdStore(options_, clock));
    return CompactEtcdStore(*etcd, oldest);
  }
  bool is_etcd() const override { return true; }
  bool is_cached() const override { return true; }

 private:
  EtcdStoreOptions options_;
};

}  // namespace

std::unique_ptr<StoreEnv> NewStoreEnv() { return std::make_unique<CachedEtcdEnv>(); }

}  // namespace berth::controller::testing
