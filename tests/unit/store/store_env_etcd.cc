// The etcd store on the binary's shared private etcd server (EtcdServer::Shared()); each test
// case works under its own key prefix.

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "etcd_server.h"
#include "store/etcd_store.h"
#include "store_env.h"

namespace berth::controller::testing {
namespace {

class EtcdEnv : public StoreEnv {
 public:
  EtcdEnv() {
    static int next = 0;  // tests run one at a time
    options_.endpoints = {EtcdServer::Shared().endpoint()};
    options_.prefix = absl::StrCat("/berth-test-", getpid(), "-", next++, "/");
    RealClock clock;
    if (auto store = OpenEtcdStore(options_, clock); store.ok()) base_ = (*store)->CurrentVersion();
  }
  absl::StatusOr<std::unique_ptr<ObjectStore>> Open(const Clock& clock, size_t) override {
    if (!EtcdServer::Shared().error().empty()) {
      return absl::UnavailableError(EtcdServer::Shared().error());
    }
    return OpenEtcdStore(options_, clock);
  }
  absl::Status KeepHistoryFrom(ObjectStore& store, uint64_t oldest) override {
    return CompactEtcdStore(store, oldest);
  }
  bool is_etcd() const override { return true; }

 private:
  EtcdStoreOptions options_;
};

}  // namespace

std::unique_ptr<StoreEnv> NewStoreEnv() { return std::make_unique<EtcdEnv>(); }

}  // namespace berth::controller::testing
