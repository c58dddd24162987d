// The DataExport reconciler against a real SQLite store and a fake NodeExport: a disk used by a
// running VM is refused with a message to stop it, a snapshot is always exported, the lease is
// followed to Expired (data released), deletion releases through the finalizer; and
// DiskHasActiveExport.
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>

#include "berth/controller/controllers.h"
#include "berth/controller/data_export.h"
#include "berth/controller/status_util.h"
#include "berth/kinds.h"

namespace berth::controller {
namespace {

// The NodeAgent service, which these tests never reach.
class NoAgents : public AgentDirectory {
 public:
  absl::StatusOr<std::shared_ptr<AgentClient>> ForNode(const std::string& node) override {
    return absl::UnavailableError("no NodeAgent service in this test");
  }
};

class FakeExports : public ExportAgents {
 public:
  explicit FakeExports(const Clock& clock) : clock_(clock) {}
  absl::StatusOr<agentpb::ExportInfo> StartExport(const std::string&,
                                                  const agentpb::StartExportRequest& r) override {
    auto& e = live[r.id()];
    if (e.id().empty()) {
      e.set_id(r.id());
      e.set_url("https://127.0.0.1:1/exports/" + r.id());
      e.set_public_url("https://public:1/exports/" + r.id());
      e.set_token("t-" + r.id());
      e.set_state("Serving");
      e.set_expires_at_unix(absl::ToUnixSeconds(clock_.Now()) + r.ttl_seconds());
      requests[r.id()] = r;
    }
    return e;
  }
  absl::StatusOr<agentpb::ExportInfo> GetExport(const std::string&,
                                                const std::string& id) override {
    auto it = live.find(id);
    if (it == live.end()) return absl::NotFoundError("no export");
    if (absl::ToUnixSeconds(clock_.Now()) > it->second.expires_at_unix()) {
      it->second.set_state("Expired");
    }
    return it->second;
  }
  absl::StatusOr<bool> StopExport(const std::string&, const std::string& id) override {
    stopped.push_back(id);
    return live.erase(id) > 0;
  }
  std::map<std::string, agentpb::ExportInfo> live;
  std::map<std::string, agentpb::StartExportRequest> requests;
  std::vector<std::string> stopped;

 private:
  const Clock& clock_;
};

struct World {
  std::string dir = MakeDir();
  SimulatedClock clock{absl::FromUnixSeconds(1700000000)};
  std::unique_ptr<ObjectStore> store = *OpenSqliteStore(dir, clock);
  FakeExports exports{clock};
  NoAgents agents;
  ControllerConfig config;
  NodeTracker tracker{clock};
  std::unique_ptr<Reconciler> rec =
      NewDataExportReconciler({*store, agents, clock, config, tracker, &exports});
  ~World() { std::filesystem::remove_all(dir); }

  static std::string MakeDir() {
    char tmpl[] = "/tmp/berth-dex-test.XXXXXX";
    return mkdtemp(tmpl);
  }
  Json Create(const std::string& kind, const std::string& name, Json spec, Json status = {}) {
    Json obj{{"apiVersion", kApiVersion},
             {"kind", kind},
             {"metadata", {{"name", name}, {"namespace", "default"}}},
             {"spec", spec}};
    if (!status.is_null()) obj["status"] = status;
    auto created = store->Create(obj);
    REQUIRE(created.ok());
    return *created;
  }
  Json Get(const std::string& kind, const std::string& name) {
    return *store->Get(ObjectKey{kind, "default", name});
  }
  void Settle(const std::string& name) {
    for (int i = 0; i < 10; ++i) {
      auto r = rec->Reconcile(ObjectKey{"DataExport", "default", name});
      REQUIRE(r.ok());
    }
  }
  Json Export(const std::string& name, const std::string& kind, const std::string& target) {
    Create("DataExport", name, {{"targetRef", {{"kind", kind}, {"name", target}}}, {"ttl", "2m"}});
    Settle(name);
    return Get("DataExport", name);
  }
};

Json ReadyAt(const std::string& node) {
  return {{"phase", "Ready"}, {"node", node}, {"pool", "reflink"}};
}

}  // namespace

TEST_CASE("a disk attached to a running VM is refused; a snapshot is exported") {
  World w;
  w.Create("VirtualDisk", "root", {{"persistentVolumeClaim", {{"size", "1Gi"}}}}, ReadyAt("n1"));
  w.Create("VirtualMachine", "vm",
           {{"blockDeviceRefs", Json::array({{{"kind", "VirtualDisk"}, {"name", "root"}}})}},
           {{"phase", "Running"}});
  Json refused = w.Export("e1", "VirtualDisk", "root");
  CHECK(JsonString(refused, "/status/phase") == "Failed");
  CHECK(GetCondition(refused, "Ready")["message"].get<std::string>().find("stop the VM first") !=
        std::string::npos);
  CHECK(w.exports.requests.empty());

  w.Create("VirtualDiskSnapshot", "snap", {{"virtualDiskName", "root"}}, ReadyAt("n1"));
  Json ok = w.Export("e2", "VirtualDiskSnapshot", "snap");
  CHECK(JsonString(ok, "/status/phase") == "Ready");
  CHECK(JsonString(ok, "/status/publicURL").find("https://public:1/") == 0);
  CHECK(!JsonString(ok, "/status/token").empty());
  CHECK(w.exports.requests.begin()->second.snapshot_id() ==
        JsonString(w.Get("VirtualDiskSnapshot", "snap"), "/metadata/uid"));
}

TEST_CASE("a stopped VM's disk is exported, followed to Expired, and released on delete") {
  World w;
  w.Create("VirtualDisk", "root", {{"persistentVolumeClaim", {{"size", "1Gi"}}}}, ReadyAt("n1"));
  w.Create("VirtualMachine", "vm",
           {{"blockDeviceRefs", Json::array({{{"kind", "VirtualDisk"}, {"name", "root"}}})}},
           {{"phase", "Stopped"}});
  Json e = w.Export("e1", "VirtualDisk", "root");
  REQUIRE(JsonString(e, "/status/phase") == "Ready");
  std::vector<Json> all = *w.store->List("DataExport", "default");
  CHECK(DiskHasActiveExport(all, "root"));
  CHECK(!DiskHasActiveExport(all, "other"));

  w.clock.Advance(absl::Minutes(3));
  w.Settle("e1");
  e = w.Get("DataExport", "e1");
  CHECK(JsonString(e, "/status/phase") == "Expired");
  CHECK(w.exports.stopped.size() == 1);
  all = *w.store->List("DataExport", "default");
  CHECK(!DiskHasActiveExport(all, "root"));

  REQUIRE(w.store->Delete(ObjectKey{"DataExport", "default", "e1"}).ok());
  w.Settle("e1");
  CHECK(absl::IsNotFound(w.store->Get(ObjectKey{"DataExport", "default", "e1"}).status()));
  CHECK(w.exports.stopped.size() == 2);
}

TEST_CASE("a missing target fails with a clear message") {
  World w;
  Json e = w.Export("e1", "VirtualDisk", "nope");
  CHECK(JsonString(e, "/status/phase") == "Failed");
  CHECK(GetCondition(e, "Ready")["message"] == "VirtualDisk \"nope\" not found");
}

}  // namespace berth::controller
