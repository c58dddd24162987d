#include "store_env.h"
#include "store_test_util.h"

namespace berth::controller::testing {
namespace {

class SqliteEnv : public StoreEnv {
 public:
  absl::StatusOr<std::unique_ptr<ObjectStore>> Open(const Clock& clock, size_t history) override {
    return OpenSqliteStore(dir_.path(), clock, history);
  }
  absl::Status KeepHistoryFrom(ObjectStore&, uint64_t) override { return absl::OkStatus(); }
  bool is_etcd() const override { return false; }

 private:
  TempDir dir_;
};

}  // namespace

std::unique_ptr<StoreEnv> NewStoreEnv() { return std::make_unique<SqliteEnv>(); }

}  // namespace berth::controller::testing
