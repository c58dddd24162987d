#ifndef BERTH_TESTS_UNIT_STORE_STORE_TEST_UTIL_H_
#define BERTH_TESTS_UNIT_STORE_STORE_TEST_UTIL_H_

#include <string>

#include "berth/json.h"

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

}  // namespace berth::controller::testing

#endif  // BERTH_TESTS_UNIT_STORE_STORE_TEST_UTIL_H_
