#ifndef BERTH_TESTS_UNIT_STORE_STORE_TEST_UTIL_H_
#define BERTH_TESTS_UNIT_STORE_STORE_TEST_UTIL_H_

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <utility>

#include "berth/controller/object_store.h"
#include "berth/json.h"
#include "store/etcd_store.h"

namespace berth::controller::testing {

// Owns a fresh directory under /tmp; removes it and its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Returns a minimal object of `kind`; `ns` empty makes it cluster-scoped.
Json MakeObject(const std::string& kind, const std::string& ns, const std::string& name);

// Adds an ownerReference to `owner` (which must carry a uid) to `obj`.
void AddOwner(const Json& owner, Json* obj);

// A store call that must succeed: its error is the test's failure message.
template <typename T>
T MustOk(absl::StatusOr<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *std::move(result);
}
inline Json MustCreate(ObjectStore& store, Json obj) {
  return MustOk(store.Create(std::move(obj)));
}
inline Json MustUpdate(ObjectStore& store, Json obj) {
  return MustOk(store.Update(std::move(obj)));
}

// Options for the etcd store at `endpoint` under a key prefix of this process and `name`.
EtcdStoreOptions EtcdTestOptions(const std::string& endpoint, const std::string& name);
inline std::unique_ptr<ObjectStore> MustOpenEtcd(const EtcdStoreOptions& options,
                                                 const Clock& clock) {
  return MustOk(OpenEtcdStore(options, clock));
}

}  // namespace berth::controller::testing

#endif  // BERTH_TESTS_UNIT_STORE_STORE_TEST_UTIL_H_
