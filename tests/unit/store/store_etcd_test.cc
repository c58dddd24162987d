// What only the etcd store has: several stores (controllers) on one etcd, paged lists, TLS,
// several endpoints, and clear errors for an etcd that cannot be used. The shared test cases
// (store_test.cc, store_watch_test.cc) run against it too.

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "berth/controller/object_store.h"
#include "berth/time_util.h"
#include "etcd_server.h"
#include "store/etcd_store.h"
#include "store_test_util.h"

namespace berth::controller {
namespace {

using testing::EtcdServer;
using testing::MakeObject;
using testing::TempDir;

using testing::MustOpenEtcd;

// Returns the status of running scripts/certs with `args` (needs $BERTH_SOURCE_DIR).
int Certs(const std::string& args) {
  const char* src = std::getenv("BERTH_SOURCE_DIR");
  std::string cmd =
      absl::StrCat(src != nullptr ? src : ".", "/scripts/certs ", args, " 2>/dev/null");
  return std::system(cmd.c_str());
}

TEST_CASE("etcd: two stores on one etcd see each other's writes; a stale write conflicts") {
  RealClock clock;
  EtcdStoreOptions options = testing::EtcdTestOptions(EtcdServer::Shared().endpoint(), "two");
  auto a = MustOpenEtcd(options, clock);
  auto b = MustOpenEtcd(options, clock);
  absl::Mutex mu;
  std::vector<std::string> seen_by_b;
  auto watch = b->Watch(b->CurrentVersion(), [&](const StoreEvent& e) {
    absl::MutexLock lock(&mu);
    seen_by_b.push_back(absl::StrCat(EventTypeName(e.type), " ", e.resource_version));
  });
  REQUIRE(watch.ok());

  auto created = a->Create(MakeObject("VirtualDisk", "ns", "d1"));
  REQUIRE(created.ok());
  auto read_by_b = b->Get(ObjectKey::Of(*created));
  REQUIRE(read_by_b.ok());
  CHECK(*read_by_b == *created);

  Json from_a = *created, from_b = *read_by_b;
  from_a["status"]["phase"] = "Ready";
  from_b["status"]["phase"] = "Failed";
  auto won = a->Update(from_a);
  REQUIRE(won.ok());
  auto lost = b->Update(from_b);
  REQUIRE(absl::IsAborted(lost.status()));
  CHECK(std::string(lost.status().message()).find("conflict") != std::string::npos);
  CHECK(b->Get(ObjectKey::Of(*created))->at("status").at("phase") == "Ready");
  REQUIRE(a->Delete(ObjectKey::Of(*created)).ok());

  // b's watch follows a's writes (delivered asynchronously: a waits only for its own watches).
  uint64_t last = a->CurrentVersion();
  std::vector<std::string> want = {
      absl::StrCat("ADDED ",
                   std::stoull((*created)["metadata"]["resourceVersion"].get<std::string>())),
      absl::StrCat("MODIFIED ",
                   std::stoull((*won)["metadata"]["resourceVersion"].get<std::string>())),
      absl::StrCat("DELETED ", last)};
  absl::MutexLock lock(&mu);
  auto all_seen = [&]() { return seen_by_b.size() >= want.size(); };
  mu.AwaitWithTimeout(absl::Condition(&all_seen), absl::Seconds(10));
  CHECK(seen_by_b == want);
}

TEST_CASE("etcd: List reads page by page at one revision, in namespace then name order") {
  RealClock clock;
  auto store =
      MustOpenEtcd(testing::EtcdTestOptions(EtcdServer::Shared().endpoint(), "paged"), clock);
  // More than one etcd page (1000 keys); "a-b" sorts after "a" by namespace, but its keys
  // ("a-b/...") sort before "a/..." in etcd.
  const std::vector<std::string> namespaces = {"a-b", "a", "b"};
  for (int i = 0; i < 2100; ++i) {
    std::string ns = namespaces[i % 3];
    REQUIRE(store->Create(MakeObject("VirtualDisk", ns, absl::StrCat("d", 10000 + i))).ok());
  }
  REQUIRE(store->Create(MakeObject("VirtualDiskSnapshot", "a", "not-a-disk")).ok());
  uint64_t rv = 0;
  auto all = store->List("VirtualDisk", "", &rv);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2100);
  CHECK(rv == store->CurrentVersion());
  for (size_t i = 1; i < all->size(); ++i) {
    const Json& p = (*all)[i - 1]["metadata"];
    const Json& q = (*all)[i]["metadata"];
    auto key = [](const Json& m) {
      return std::make_pair(m["namespace"].get<std::string>(), m["name"].get<std::string>());
    };
    REQUIRE(key(p) < key(q));
  }
  CHECK((*all)[0]["metadata"]["namespace"] == "a");
  CHECK(store->List("VirtualDisk", "a-b")->size() == 700);
  CHECK(store->List("VirtualDisk", "a")->size() == 700);

  // A list at a revision stays at that revision while writes go on.
  auto shared = store->ListShared("VirtualDisk", "b", &rv);
  REQUIRE(shared.ok());
  CHECK(shared->size() == 700);
  REQUIRE(store->Create(MakeObject("VirtualDisk", "b", "later")).ok());
  CHECK(store->CurrentVersion() == rv + 1);
}

TEST_CASE("etcd: a name with '/' is rejected rather than aliasing another key") {
  RealClock clock;
  auto store =
      MustOpenEtcd(testing::EtcdTestOptions(EtcdServer::Shared().endpoint(), "slash"), clock);
  CHECK(absl::IsInvalidArgument(store->Create(MakeObject("VirtualDisk", "a/b", "c")).status()));
  CHECK(absl::IsInvalidArgument(store->Get(ObjectKey{"VirtualDisk", "a", "b/c"}).status()));
}

TEST_CASE("etcd: a member that is down is a clear error; the next endpoint takes over") {
  RealClock clock;
  EtcdStoreOptions down = testing::EtcdTestOptions("http://127.0.0.1:1", "down");
  auto refused = OpenEtcdStore(down, clock);
  REQUIRE(absl::IsUnavailable(refused.status()));
  CHECK(std::string(refused.status().message()).find("127.0.0.1:1") != std::string::npos);

  EtcdStoreOptions two = testing::EtcdTestOptions("http://127.0.0.1:1", "failover");
  two.endpoints.push_back(EtcdServer::Shared().endpoint());
  auto store = MustOpenEtcd(two, clock);
  CHECK(store->Create(MakeObject("VirtualDisk", "ns", "d1")).ok());
  CHECK(store->List("VirtualDisk", "ns")->size() == 1);

  EtcdStoreOptions bad = testing::EtcdTestOptions("ftp://127.0.0.1:2379", "bad");
  CHECK(absl::IsInvalidArgument(OpenEtcdStore(bad, clock).status()));
}

TEST_CASE("etcd: TLS with a client certificate; a wrong CA or plaintext is a startup error") {
  TempDir certs, other;
  REQUIRE(Certs("init " + certs.path() + "/pki") == 0);
  REQUIRE(Certs("init " + other.path() + "/pki") == 0);
  std::string bundle = certs.path() + "/pki/controller";  // serverAuth + clientAuth
  EtcdServer server(bundle);
  INFO(server.error());
  REQUIRE(server.error().empty());
  REQUIRE(server.endpoint().rfind("https://", 0) == 0);
  RealClock clock;

  EtcdStoreOptions options = testing::EtcdTestOptions(server.endpoint(), "tls");
  options.tls = TlsFiles::FromDir(bundle);
  auto store = MustOpenEtcd(options, clock);
  auto created = store->Create(MakeObject("VirtualDisk", "ns", "d1"));
  REQUIRE(created.ok());
  std::vector<uint64_t> seen;
  REQUIRE(store->Watch(0, [&](const StoreEvent& e) { seen.push_back(e.resource_version); }).ok());
  REQUIRE(store->Delete(ObjectKey::Of(*created)).ok());
  CHECK(seen == std::vector<uint64_t>{store->CurrentVersion()});

  EtcdStoreOptions wrong_ca = options;
  wrong_ca.tls = TlsFiles::FromDir(other.path() + "/pki/controller");
  wrong_ca.call_timeout = absl::Seconds(2);
  CHECK_FALSE(OpenEtcdStore(wrong_ca, clock).ok());

  EtcdStoreOptions no_client_cert = options;
  no_client_cert.tls.cert.clear();
  no_client_cert.tls.key.clear();
  no_client_cert.call_timeout = absl::Seconds(2);
  CHECK_FALSE(OpenEtcdStore(no_client_cert, clock).ok());

  EtcdStoreOptions plaintext = options;
  plaintext.endpoints = {"http://" + server.endpoint().substr(8)};
  plaintext.call_timeout = absl::Seconds(2);
  CHECK_FALSE(OpenEtcdStore(plaintext, clock).ok());
}

// The etcd counterpart of "An acknowledged write survives kill -9" (store_test.cc): here the
// process holding the data is etcd.
TEST_CASE("etcd: acknowledged writes survive kill -9 of etcd; a watch resumes without a gap") {
  EtcdServer server;
  INFO(server.error());
  REQUIRE(server.error().empty());
  RealClock clock;
  EtcdStoreOptions options = testing::EtcdTestOptions(server.endpoint(), "kill");
  auto store = MustOpenEtcd(options, clock);
  absl::Mutex mu;
  std::vector<uint64_t> seen;
  REQUIRE(store
              ->Watch(0,
                      [&](const StoreEvent& e) {
                        absl::MutexLock lock(&mu);
                        seen.push_back(e.resource_version);
                      })
              .ok());
  for (int i = 0; i < 20; ++i) {
    REQUIRE(store->Create(MakeObject("VirtualDisk", "k", absl::StrCat("d", i))).ok());
  }
  uint64_t before = store->CurrentVersion();
  server.KillAndRestart();
  REQUIRE(server.error().empty());

  // The channel reconnects on its own; the first calls may still see it down.
  absl::StatusOr<Json> after = absl::UnavailableError("not tried");
  for (int i = 0; i < 100 && !after.ok(); ++i) {
    after = store->Create(MakeObject("VirtualDisk", "k", "after"));
    if (!after.ok()) {
      REQUIRE(absl::IsUnavailable(after.status()));
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
  REQUIRE(after.ok());
  CHECK(std::stoull((*after)["metadata"]["resourceVersion"].get<std::string>()) == before + 1);
  CHECK(store->List("VirtualDisk", "k")->size() == 21);
  absl::MutexLock lock(&mu);
  auto all = [&]() { return seen.size() >= 21; };
  mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(10));
  std::vector<uint64_t> want;
  for (uint64_t v = before - 19; v <= before + 1; ++v) want.push_back(v);
  CHECK(seen == want);
}

}  // namespace
}  // namespace berth::controller
