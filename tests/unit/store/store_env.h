#ifndef BERTH_TESTS_UNIT_STORE_STORE_ENV_H_
#define BERTH_TESTS_UNIT_STORE_STORE_ENV_H_

// The store a test case runs against. The store suite is built three times from the same test
// cases: `store_test` links store_env_sqlite.cc (a temporary directory), `store_test_etcd`
// links store_env_etcd.cc (a fresh key prefix on a private etcd server the binary starts),
// `store_test_cached` links store_env_cached_etcd.cc (the watch cache, NewCachedStore, in
// front of such an etcd store).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "berth/controller/object_store.h"
#include "berth/time_util.h"

namespace berth::controller::testing {

class StoreEnv {
 public:
  virtual ~StoreEnv() = default;

  // Opens the store; opening again sees the same data. `history` (events kept for Watch
  // replay) is the SQLite store's and the cache's; etcd keeps what it has not compacted
  // (KeepHistoryFrom).
  virtual absl::StatusOr<std::unique_ptr<ObjectStore>> Open(const Clock& clock,
                                                            size_t history = 100000) = 0;
  // Drops the history before version `oldest` where the store allows it (etcd: compaction;
  // SQLite: nothing, its `history` already bounds it).
  virtual absl::Status KeepHistoryFrom(ObjectStore& store, uint64_t oldest) = 0;
  virtual bool is_etcd() const = 0;
  // The watch cache: its history starts when it is opened (none survives reopening).
  virtual bool is_cached() const { return false; }

  // The version of the `n`th write of this test case. SQLite counts from 0; etcd's revision
  // is shared by every key of the server, so it counts from the revision the env started at.
  uint64_t V(uint64_t n) const { return base_ + n; }
  std::string Rv(uint64_t n) const { return std::to_string(V(n)); }

 protected:
  uint64_t base_ = 0;
};

std::unique_ptr<StoreEnv> NewStoreEnv();

}  // namespace berth::controller::testing

#endif  // BERTH_TESTS_UNIT_STORE_STORE_ENV_H_
