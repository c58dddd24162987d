// Leader election over etcd and the write fence (berth/controller/leader.h), on the binary's
// private etcd server: one leader at a time, a successor after a resignation or a lost key,
// and writes of an ended term refused by etcd itself while unfenced writes go on.

#include "berth/controller/leader.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "berth/controller/object_store.h"
#include "berth/controller/store_spec.h"
#include "etcd_server.h"
#include "store/etcd_client.h"
#include "store_test_util.h"

namespace berth::controller {
namespace {

using testing::EtcdServer;
using testing::MakeObject;

StoreSpec Spec(const std::string& name) {
  StoreSpec spec;
  spec.type = StoreSpec::Type::kEtcd;
  spec.endpoints = {EtcdServer::Shared().endpoint()};
  spec.prefix = absl::StrCat("/berth-leader-test-", getpid(), "-", name, "/");
  return spec;
}

// One controller's view: its election and what the callbacks told it.
struct Candidate {
  explicit Candidate(const StoreSpec& spec, const std::string& id) {
    ElectionOptions options;
    options.id = id;
    options.lease_ttl = absl::Seconds(2);
    auto made = NewEtcdElection(spec, StoreOpenOptions{}, options);
    INFO(made.status().ToString());
    REQUIRE(made.ok());
    election = *std::move(made);
    election->Start(
        [this](std::shared_ptr<WriteFence> f) {
          absl::MutexLock l(&mu);
          fence = std::move(f);
          ++elected;
        },
        [this] {
          absl::MutexLock l(&mu);
          ++lost;
        });
  }
  std::shared_ptr<WriteFence> Fence() {
    absl::MutexLock l(&mu);
    return fence;
  }
  bool WaitElected(int times, absl::Duration timeout) {
    absl::MutexLock l(&mu);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return elected >= times; };
    return mu.AwaitWithTimeout(absl::Condition(&done), timeout);
  }
  bool WaitLost(int times, absl::Duration timeout) {
    absl::MutexLock l(&mu);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return lost >= times; };
    return mu.AwaitWithTimeout(absl::Condition(&done), timeout);
  }

  std::unique_ptr<LeaderElection> election;
  absl::Mutex mu;
  std::shared_ptr<WriteFence> fence ABSL_GUARDED_BY(mu);
  int elected ABSL_GUARDED_BY(mu) = 0;
  int lost ABSL_GUARDED_BY(mu) = 0;
};

std::unique_ptr<ObjectStore> OpenStoreFor(const StoreSpec& spec, const Clock& clock) {
  auto store = OpenStore(spec, StoreOpenOptions{}, clock);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(store).value();
}

TEST_CASE("one of two candidates leads; the other names it; a resignation hands over") {
  REQUIRE(EtcdServer::Shared().error().empty());
  StoreSpec spec = Spec("handover");
  Candidate a(spec, "controller-a");
  REQUIRE(a.WaitElected(1, absl::Seconds(5)));
  Candidate b(spec, "controller-b");
  absl::SleepFor(absl::Seconds(1));
  CHECK(a.election->leading());
  CHECK_FALSE(b.election->leading());
  CHECK(b.election->leader() == "controller-a");

  absl::Time resigned = absl::Now();
  a.election->Stop();
  REQUIRE(a.WaitLost(1, absl::Seconds(1)));
  REQUIRE(b.WaitElected(1, absl::Seconds(5)));
  // A resignation deletes the key: the successor does not wait for the lease (2 s) to expire.
  CHECK(absl::Now() - resigned < absl::Milliseconds(1500));
  CHECK(b.election->leader() == "controller-b");
  CHECK(b.Fence()->term > 0);
}

TEST_CASE("a deposed leader's fenced writes are refused by etcd; unfenced writes go on") {
  REQUIRE(EtcdServer::Shared().error().empty());
  StoreSpec spec = Spec("fence");
  RealClock clock;
  std::unique_ptr<ObjectStore> store = OpenStoreFor(spec, clock);
  Candidate a(spec, "controller-a");
  REQUIRE(a.WaitElected(1, absl::Seconds(5)));
  std::shared_ptr<WriteFence> old_term = a.Fence();

  Json obj;
  {
    FenceScope fenced(old_term);
    auto created = store->Create(MakeObject("VirtualDisk", "ns", "d1"));
    INFO(created.status().ToString());
    REQUIRE(created.ok());
    obj = *created;
  }
  CHECK(old_term->committed.load() == 1);
  {
    // The counter shows the term under way, not only ended terms.
    metrics::Registry registry;
    a.election->ExportMetrics(registry);
    CHECK(absl::StrContains(registry.Render(),
                            "berth_leader_fenced_writes_total{result=\"committed\"} 1\n"));
  }
  CHECK(old_term->last_committed.load() ==
        std::stoll(obj["metadata"]["resourceVersion"].get<std::string>()));

  // The key disappears, as when the leader's lease expires while it is paused: another
  // controller takes it and a new term begins.
  auto client = store::EtcdClient::Create(spec.endpoints, {}, absl::Seconds(3));
  REQUIRE(client.ok());
  etcdserverpb::TxnRequest drop;
  drop.add_success()->mutable_request_delete_range()->set_key(spec.prefix + "leader");
  REQUIRE((*client)->Txn(drop).ok());
  Candidate b(spec, "controller-b");
  REQUIRE(b.WaitElected(1, absl::Seconds(5)));
  // The old leader notices the key changed hands and stops.
  REQUIRE(a.WaitLost(1, absl::Seconds(5)));
  CHECK(b.Fence()->term > old_term->term);

  // A straggling write of the old term: refused, nothing changed.
  Json changed = obj;
  changed["spec"]["size"] = "2Gi";
  {
    FenceScope fenced(old_term);
    auto refused = store->Update(changed);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(absl::StrContains(refused.status().message(), "no longer the leader"));
    auto create = store->Create(MakeObject("VirtualDisk", "ns", "d2"));
    CHECK(create.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(store->Delete(ObjectKey{"VirtualDisk", "ns", "d1"}).status().code() ==
          absl::StatusCode::kFailedPrecondition);
  }
  CHECK(old_term->refused.load() == 3);
  CHECK(store->Get(ObjectKey{"VirtualDisk", "ns", "d1"})->at("spec") == obj["spec"]);
  CHECK(absl::IsNotFound(store->Get(ObjectKey{"VirtualDisk", "ns", "d2"}).status()));

  // The new term's writes and unfenced (API) writes commit.
  {
    FenceScope fenced(b.Fence());
    CHECK(store->Update(changed).ok());
  }
  CHECK(store->Create(MakeObject("VirtualDisk", "ns", "d3")).ok());
  // A conflict under a valid fence stays a conflict, not a refusal.
  {
    FenceScope fenced(b.Fence());
    auto stale = store->Update(changed);
    CHECK(stale.status().code() == absl::StatusCode::kAborted);
  }
  CHECK(b.Fence()->refused.load() == 0);
}

TEST_CASE("an etcd prefix holding something else is refused; a Berth prefix opens again") {
  REQUIRE(EtcdServer::Shared().error().empty());
  StoreSpec spec = Spec("foreign");
  auto client = store::EtcdClient::Create(spec.endpoints, {}, absl::Seconds(3));
  REQUIRE(client.ok());
  etcdserverpb::TxnRequest put;
  auto* p = put.add_success()->mutable_request_put();
  p->set_key(spec.prefix + "someone-elses-key");
  p->set_value("x");
  REQUIRE((*client)->Txn(put).ok());
  RealClock clock;
  auto refused = OpenStore(spec, StoreOpenOptions{}, clock);
  REQUIRE_FALSE(refused.ok());
  CHECK(absl::StrContains(refused.status().message(), "is not empty"));
  CHECK(absl::StrContains(refused.status().message(), spec.prefix));

  StoreSpec mine = Spec("mine");
  { OpenStoreFor(mine, clock)->Create(MakeObject("VirtualDisk", "ns", "d")).IgnoreError(); }
  std::unique_ptr<ObjectStore> again = OpenStoreFor(mine, clock);
  CHECK(again->Get(ObjectKey{"VirtualDisk", "ns", "d"}).ok());
}

TEST_CASE("store specs parse, and bad ones name what is wrong") {
  auto etcd = ParseStoreSpec("etcd:https://h1:2379,https://h2:2379,https://h3:2379/prod/");
  REQUIRE(etcd.ok());
  CHECK(etcd->is_etcd());
  CHECK(etcd->endpoints ==
        std::vector<std::string>{"https://h1:2379", "https://h2:2379", "https://h3:2379"});
  CHECK(etcd->prefix == "/prod/");
  auto sqlite = ParseStoreSpec("sqlite:/var/lib/berth/controller");
  REQUIRE(sqlite.ok());
  CHECK(sqlite->path == "/var/lib/berth/controller");
  CHECK(sqlite->ToString() == "sqlite:/var/lib/berth/controller");
  CHECK(absl::StrContains(ParseStoreSpec("mysql:x").status().message(), "want sqlite:PATH"));
  CHECK(absl::StrContains(ParseStoreSpec("etcd:h1:2379").status().message(), "https://"));
  CHECK(absl::StrContains(ParseStoreSpec("etcd:https://h1").status().message(), "HOST:PORT"));

  testing::TempDir dir;
  {
    std::FILE* f = std::fopen((dir.path() + "/notes.txt").c_str(), "w");
    REQUIRE(f);
    std::fclose(f);
  }
  RealClock clock;
  auto foreign = OpenStore(*ParseStoreSpec("sqlite:" + dir.path()), StoreOpenOptions{}, clock);
  REQUIRE_FALSE(foreign.ok());
  CHECK(absl::StrContains(foreign.status().message(), "not empty"));
}

}  // namespace
}  // namespace berth::controller
