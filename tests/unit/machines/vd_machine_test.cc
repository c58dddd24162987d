// The VirtualDisk state machine (vd_machine.h) and the upload flow's Finish (upload_flow.h) as
// tables of (disk, observations) -> (next phase, reason, action).
#include "controllers/virtualdisk/vd_machine.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

namespace berth::controller::vd {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

ControllerConfig Config() {
  ControllerConfig c;
  c.storage_classes = {{"local", "p"}};
  c.default_storage_class = "local";
  c.upload_ttl = absl::Minutes(3);
  return c;
}

Json Disk(Json spec, const std::string& phase = "", const std::string& node = "") {
  Json d = {{"kind", "VirtualDisk"},
            {"metadata", {{"name", "d"}, {"namespace", "ns"}, {"uid", "d-uid"}}},
            {"spec", std::move(spec)}};
  if (!phase.empty()) d["status"]["phase"] = phase;
  if (!node.empty()) {
    d["status"]["node"] = node;
    d["status"]["pool"] = "p";
  }
  return d;
}

Json Blank(const std::string& size = "1Gi") {
  return {{"persistentVolumeClaim", {{"size", size}}}};
}
Json Restored(const std::string& size = "") {
  Json s = {
      {"dataSource",
       {{"type", "ObjectRef"}, {"objectRef", {{"kind", "VirtualDiskSnapshot"}, {"name", "s"}}}}}};
  if (!size.empty()) s["persistentVolumeClaim"]["size"] = size;
  return s;
}
Json Upload(const std::string& size = "1Gi", bool since = false) {
  Json s = {{"dataSource", {{"type", "Upload"}}}};
  if (!size.empty()) s["persistentVolumeClaim"]["size"] = size;
  if (since) s["dataSource"]["upload"]["since"] = {{"kind", "VirtualDiskSnapshot"}, {"name", "s"}};
  return s;
}

Json Snapshot(const std::string& phase, int64_t size = 1 << 30) {
  return {
      {"kind", "VirtualDiskSnapshot"},
      {"metadata", {{"name", "s"}, {"namespace", "ns"}, {"uid", "s-uid"}}},
      {"status", {{"phase", phase}, {"node", "n2"}, {"pool", "snap-pool"}, {"sizeBytes", size}}}};
}

struct Row {
  const char* name;
  Json disk;
  std::optional<Json> snapshot;
  bool uploads;
  // Expected:
  std::string phase;   // of the status to store; "" when nothing is stored
  std::string reason;  // of the Ready condition
  Action action;
  absl::Duration requeue;
};

TEST_CASE("VirtualDisk: Plan, row by row") {
  const absl::Duration poll = kPendingPoll, none = absl::ZeroDuration();
  Json other_class = Blank();
  other_class["persistentVolumeClaim"]["storageClassName"] = "nope";
  Json http = {{"dataSource", {{"type", "HTTP"}, {"http", {{"url", "https://x"}}}}}};
  std::vector<Row> rows = {
      {"storage class not configured", Disk(other_class), std::nullopt, true, "Pending",
       kReasonStorageClassNotFound, Action::kNone, kStorageClassPoll},
      {"storage class not configured, even placed", Disk(other_class, "Provisioning", "n1"),
       std::nullopt, true, "Pending", kReasonStorageClassNotFound, Action::kNone,
       kStorageClassPoll},
      {"HTTP data source", Disk(http), std::nullopt, true, "Failed", kReasonProvisioningFailed,
       Action::kNone, none},
      {"snapshot missing", Disk(Restored()), std::nullopt, true, "Pending",
       kReasonWaitingForDataSource, Action::kNone, poll},
      {"snapshot not Ready", Disk(Restored()), Snapshot("InProgress"), true, "Pending",
       kReasonWaitingForDataSource, Action::kNone, poll},
      {"size below the snapshot's", Disk(Restored("1Mi")), Snapshot("Ready"), true, "Failed",
       kReasonProvisioningFailed, Action::kNone, none},
      {"restored, no node", Disk(Restored()), Snapshot("Ready"), true, "Provisioning",
       kReasonProvisioning, Action::kNone, none},
      {"blank, no node", Disk(Blank()), std::nullopt, true, "", "", Action::kPickNode, none},
      {"blank, placed", Disk(Blank(), "Provisioning", "n1"), std::nullopt, true, "", "",
       Action::kCreateVolume, none},
      {"restored, placed", Disk(Restored("2Gi"), "Provisioning", "n2"), Snapshot("Ready"), true, "",
       "", Action::kCreateVolume, none},
      {"upload, uploads off", Disk(Upload()), std::nullopt, false, "Failed",
       kReasonProvisioningFailed, Action::kNone, none},
      {"upload, no size", Disk(Upload("")), std::nullopt, true, "Failed", kReasonProvisioningFailed,
       Action::kNone, none},
      {"upload, size 0", Disk(Upload("0")), std::nullopt, true, "Failed", kReasonProvisioningFailed,
       Action::kNone, none},
      {"upload since a missing snapshot", Disk(Upload("1Gi", true)), std::nullopt, true, "Failed",
       kReasonProvisioningFailed, Action::kNone, none},
      {"upload since a snapshot not Ready", Disk(Upload("1Gi", true)), Snapshot("Pending"), true,
       "Pending", kReasonWaitingForDataSource, Action::kNone, poll},
      {"upload smaller than its since snapshot", Disk(Upload("1Mi", true)), Snapshot("Ready"), true,
       "Failed", kReasonProvisioningFailed, Action::kNone, none},
      {"upload since a snapshot, no node", Disk(Upload("1Gi", true)), Snapshot("Ready"), true,
       "Provisioning", kReasonProvisioning, Action::kNone, none},
      {"upload, no node", Disk(Upload()), std::nullopt, true, "", "", Action::kPickNode, none},
      {"upload, placed", Disk(Upload(), "Provisioning", "n1"), std::nullopt, true, "", "",
       Action::kUpload, none},
      {"upload, waiting for the data", Disk(Upload(), "WaitForUserUpload", "n1"), std::nullopt,
       true, "", "", Action::kUpload, none},
  };
  ControllerConfig config = Config();
  for (const Row& row : rows) {
    INFO(row.name);
    Observation obs;
    if (row.snapshot) obs.snapshot = &*row.snapshot;
    auto planned = Plan(types::VirtualDisk(row.disk), obs, config, row.uploads, kNow);
    REQUIRE(planned.ok());
    CHECK(planned->action == row.action);
    CHECK(planned->requeue == row.requeue);
    CHECK(!planned->add_finalizer);  // the reconciler stores it before every pass
    if (row.phase.empty()) {
      CHECK(!planned->status.has_value());
      continue;
    }
    REQUIRE(planned->status.has_value());
    types::VirtualDiskStatus st(*planned->status);
    CHECK(std::string(types::Name(st.phase())) == row.phase);
    types::Condition ready = st.conditions().Get(kReady);
    CHECK(ready.reason() == row.reason);
    CHECK(!ready.is_true());
  }
}

TEST_CASE("VirtualDisk: what the actions are planned with") {
  ControllerConfig config = Config();
  Json snap = Snapshot("Ready", 1 << 20);

  SECTION("a restored disk lives on the snapshot's node, in the class's pool") {
    Json disk = Disk(Restored());
    auto p = Plan(types::VirtualDisk(disk), {&snap, {}}, config, true, kNow);
    REQUIRE(p.ok());
    types::VirtualDiskStatus st(*p->status);
    CHECK(st.node() == "n2");
    CHECK(st.pool() == "p");
    CHECK(st.storage_class_name() == "local");
    CHECK(st.conditions().Get(kReady).message() == "creating the volume");
  }
  SECTION("its volume is a copy of the snapshot, at least the snapshot's size") {
    Json disk = Disk(Restored(), "Provisioning", "n2");
    auto p = Plan(types::VirtualDisk(disk), {&snap, {}}, config, true, kNow);
    REQUIRE(p.ok());
    CHECK(p->volume.pool() == "p");
    CHECK(p->volume.id() == "d-uid");
    CHECK(p->volume.size_bytes() == (1u << 20));
    CHECK(p->volume.source_snapshot_pool() == "snap-pool");
    CHECK(p->volume.source_snapshot_id() == "s-uid");
  }
  SECTION("a blank disk's volume has the spec size, in status.pool") {
    Json disk = Disk(Blank("2Mi"), "Provisioning", "n1");
    disk["status"]["pool"] = "recorded";
    auto p = Plan(types::VirtualDisk(disk), {}, config, true, kNow);
    REQUIRE(p.ok());
    CHECK(p->volume.pool() == "recorded");
    CHECK(p->volume.size_bytes() == (2u << 20));
    CHECK(p->volume.source_snapshot_id().empty());
  }
  SECTION("a node to pick serves the class's pool") {
    Json disk = Disk(Blank());
    auto p = Plan(types::VirtualDisk(disk), {}, config, true, kNow);
    REQUIRE(p.ok());
    CHECK(p->pool == "p");
  }
  SECTION("an incremental upload starts as its snapshot, on its node and in its pool") {
    Json disk = Disk(Upload("1Gi", true));
    auto p = Plan(types::VirtualDisk(disk), {&snap, {}}, config, true, kNow);
    REQUIRE(p.ok());
    types::VirtualDiskStatus st(*p->status);
    CHECK(st.node() == "n2");
    CHECK(st.pool() == "snap-pool");

    Json placed = Disk(Upload("1Gi", true), "Provisioning", "n2");
    p = Plan(types::VirtualDisk(placed), {&snap, {}}, config, true, kNow);
    REQUIRE(p.ok());
    CHECK(p->action == Action::kUpload);
    CHECK(p->upload.size_bytes == (1u << 30));
    CHECK(!p->upload.resizable);
    CHECK(p->upload.ttl == absl::Minutes(3));
    CHECK(p->upload.since_snapshot_id == "s-uid");
  }
  SECTION("messages") {
    Json disk = Disk(Restored("1Mi"));
    Json big = Snapshot("Ready", int64_t{1} << 30);
    auto p = Plan(types::VirtualDisk(disk), {&big, {}}, config, true, kNow);
    REQUIRE(p.ok());
    CHECK(types::VirtualDiskStatus(*p->status).conditions().Get(kReady).message() ==
          "spec.persistentVolumeClaim.size 1Mi is smaller than VirtualDiskSnapshot \"s\" (1Gi); "
          "use at least 1Gi");
    Json up = Disk(Upload("1Gi", true));
    p = Plan(types::VirtualDisk(up), {}, config, true, kNow);
    REQUIRE(p.ok());
    CHECK(types::VirtualDiskStatus(*p->status).conditions().Get(kReady).message() ==
          "spec.dataSource.upload.since: VirtualDiskSnapshot \"s\" not found");
  }
}

TEST_CASE("VirtualDisk: errors Plan returns") {
  ControllerConfig config = Config();
  Json bad = Disk(Blank("lots"));
  CHECK(absl::IsInvalidArgument(Plan(types::VirtualDisk(bad), {}, config, true, kNow).status()));
  // A since snapshot that cannot be read is retried; a restore's source just waits.
  Json up = Disk(Upload("1Gi", true));
  Observation unreadable{nullptr, absl::UnavailableError("store down")};
  CHECK(absl::IsUnavailable(Plan(types::VirtualDisk(up), unreadable, config, true, kNow).status()));
  Json restored = Disk(Restored());
  auto p = Plan(types::VirtualDisk(restored), unreadable, config, true, kNow);
  REQUIRE(p.ok());
  CHECK(types::VirtualDiskStatus(*p->status).phase() == Phase::kPending);
  // An unsupported storage class wins over everything else.
  Json nope = Disk(Blank("lots"));
  nope["spec"]["persistentVolumeClaim"]["storageClassName"] = "nope";
  CHECK(Plan(types::VirtualDisk(nope), {}, config, true, kNow).ok());
}

TEST_CASE("VirtualDisk: placement") {
  auto node = [](const std::string& name, bool ready, const std::string& pool) {
    return Json{
        {"kind", "Node"},
        {"metadata", {{"name", name}}},
        {"status",
         {{"conditions", Json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}})},
          {"pools", Json::array({{{"name", pool}}})}}}};
  };
  std::vector<Json> nodes = {node("a", true, "p"), node("b", true, "p"), node("c", false, "p"),
                             node("d", true, "q")};
  CHECK(*LeastLoaded(nodes, {}, "p") == "a");
  CHECK(*LeastLoaded(nodes, {{"a", 2}, {"b", 1}, {"c", 0}}, "p") == "b");
  CHECK(*LeastLoaded(nodes, {}, "q") == "d");
  CHECK(absl::IsFailedPrecondition(LeastLoaded(nodes, {}, "r").status()));
  // Cordoned nodes get nothing; the VMs using the disk restrict the nodes by their selector.
  nodes[0]["spec"] = {{"unschedulable", true}};
  CHECK(*LeastLoaded(nodes, {}, "p") == "b");
  nodes[0].erase("spec");
  nodes[1]["metadata"]["labels"] = {{"zone", "z"}};
  auto sel = [](NodeSelector s) {
    NodeConstraints c;
    c.selector = std::move(s);
    return c;
  };
  CHECK(*LeastLoaded(nodes, {}, "p", {Consumer{"vm", sel({{"zone", "z"}})}}) == "b");
  CHECK(*LeastLoaded(nodes, {}, "p", {Consumer{"vm", sel({{"kubernetes.io/hostname", "a"}})}}) ==
        "a");
  auto none = LeastLoaded(nodes, {}, "p", {Consumer{"vm", sel({{"zone", "mars"}})}});
  CHECK(absl::IsFailedPrecondition(none.status()));
  CHECK_THAT(std::string(none.status().message()),
             Catch::Contains("node constraints of VirtualMachine \"vm\" (zone=mars)"));

  ControllerConfig config = Config();
  Json disk = Disk(Blank());
  Step<Action> placed = Place(types::VirtualDisk(disk), std::string("b"), "p", config, kNow);
  REQUIRE(placed.status.has_value());
  types::VirtualDiskStatus st(*placed.status);
  CHECK(st.phase() == Phase::kProvisioning);
  CHECK(st.node() == "b");
  CHECK(st.pool() == "p");
  CHECK(st.storage_class_name() == "local");
  CHECK(placed.requeue == absl::ZeroDuration());

  Step<Action> waiting = Place(types::VirtualDisk(disk),
                               absl::FailedPreconditionError("no Ready node"), "p", config, kNow);
  types::VirtualDiskStatus w(*waiting.status);
  CHECK(w.phase() == Phase::kPending);
  CHECK(w.conditions().Get(kReady).reason() == kReasonWaitingForNode);
  CHECK(w.conditions().Get(kReady).message() == "no Ready node");
  CHECK(!w.has_node());
  CHECK(waiting.requeue == kPendingPoll);
}

TEST_CASE("VirtualDisk: FinishCreate folds the volume in") {
  Json disk = Disk(Blank(), "Provisioning", "n1");
  agentpb::Volume vol;
  vol.set_size_bytes(1 << 30);
  vol.set_path("/p/d-uid");
  auto ready = FinishCreate(types::VirtualDisk(disk), vol, kNow);
  REQUIRE(ready.ok());
  types::VirtualDiskStatus st(*ready->status);
  CHECK(st.phase() == Phase::kReady);
  CHECK(st.capacity() == "1Gi");
  CHECK(st.size_bytes() == (1 << 30));
  CHECK(st.path() == "/p/d-uid");
  CHECK(st.node() == "n1");
  CHECK(st.conditions().IsTrue(kReady));
  CHECK(st.conditions().Get(kReady).reason() == kReasonReady);

  for (absl::Status refused :
       {absl::InvalidArgumentError("bad"), absl::FailedPreconditionError("no"),
        absl::NotFoundError("no snapshot"), absl::ResourceExhaustedError("pool full")}) {
    auto failed = FinishCreate(types::VirtualDisk(disk), refused, kNow);
    REQUIRE(failed.ok());
    types::VirtualDiskStatus f(*failed->status);
    CHECK(f.phase() == Phase::kFailed);
    CHECK(f.conditions().Get(kReady).reason() == kReasonProvisioningFailed);
    CHECK(f.conditions().Get(kReady).message() == refused.message());
  }
  CHECK(absl::IsUnavailable(
      FinishCreate(types::VirtualDisk(disk), absl::UnavailableError("down"), kNow).status()));
}

TEST_CASE("VirtualDisk: the upload flow's Finish") {
  Json disk = Disk(Upload(), "Provisioning", "n1");
  Json status = disk["status"];
  auto finish = [&](const UploadProgress& p) {
    Step<Action> step = FinishUpload<types::VirtualDiskStatusWriter, Action>(disk, status, p, kNow);
    REQUIRE(step.status.has_value());
    return std::make_pair(*step.status, step.requeue);
  };
  UploadProgress refused;
  refused.refused = absl::InvalidArgumentError("bad size");
  auto [failed, r1] = finish(refused);
  CHECK(failed["phase"] == "Failed");
  CHECK(GetCondition(Json{{"status", failed}}, kReady)["reason"] == "ProvisioningFailed");

  UploadProgress serving;
  serving.path = "/p/d-uid";
  serving.info.set_state("Serving");
  serving.info.set_url("https://n1/u");
  serving.info.set_token("t");
  auto [waiting, r2] = finish(serving);
  CHECK(waiting["phase"] == "WaitForUserUpload");
  CHECK(waiting["path"] == "/p/d-uid");
  CHECK(waiting["upload"]["url"] == "https://n1/u");
  CHECK(waiting["upload"]["token"] == "t");
  CHECK(r2 == kUploadPoll);

  status = waiting;
  UploadProgress done;
  done.info.set_state("Completed");
  done.info.set_size_bytes(1 << 20);
  done.info.set_message("sha256 ok");
  auto [ready, r3] = finish(done);
  CHECK(ready["phase"] == "Ready");
  CHECK(!ready.contains("upload"));
  CHECK(ready["sizeBytes"] == 1 << 20);
  CHECK(ready["capacity"] == "1Mi");
  CHECK(ready["path"] == "/p/d-uid");  // from the pass that made the volume
  Json cond = GetCondition(Json{{"status", ready}}, kReady);
  CHECK(cond["status"] == "True");
  CHECK(cond["message"] == "sha256 ok");
  CHECK(r3 == absl::ZeroDuration());

  UploadProgress expired;
  expired.info.set_state("Expired");
  auto [gone, r4] = finish(expired);
  CHECK(gone["phase"] == "Failed");
  CHECK(!gone.contains("upload"));
  CHECK(GetCondition(Json{{"status", gone}}, kReady)["reason"] == "UploadExpired");
}

TEST_CASE("VirtualDisk: deletion marks Terminating, then deletes what the node has") {
  Json disk = Disk(Blank(), "Ready", "n1");
  Step<Action> step = PlanDeletion(types::VirtualDisk(disk));
  REQUIRE(step.status.has_value());
  CHECK(types::VirtualDiskStatus(*step.status).phase() == Phase::kTerminating);
  CHECK(step.action == Action::kNone);

  disk["status"]["phase"] = "Terminating";
  CHECK(PlanDeletion(types::VirtualDisk(disk)).action == Action::kRemoveFinalizer);
  disk["metadata"]["finalizers"] = Json::array({kVolumeFinalizer});
  CHECK(PlanDeletion(types::VirtualDisk(disk)).action == Action::kDelete);
  CHECK(!PlanDeletion(types::VirtualDisk(disk)).status.has_value());
  disk["status"].erase("node");  // never placed
  CHECK(PlanDeletion(types::VirtualDisk(disk)).action == Action::kRemoveFinalizer);
}

TEST_CASE("VirtualDisk: finished disks and the snapshot a pass reads") {
  CHECK(Finished(types::VirtualDisk(Disk(Blank(), "Ready"))));
  CHECK(Finished(types::VirtualDisk(Disk(Blank(), "Failed"))));
  CHECK(!Finished(types::VirtualDisk(Disk(Blank(), "WaitForUserUpload"))));
  CHECK(SnapshotName(types::VirtualDisk(Disk(Restored()))) == "s");
  CHECK(SnapshotName(types::VirtualDisk(Disk(Upload("1Gi", true)))) == "s");
  CHECK(SnapshotName(types::VirtualDisk(Disk(Upload()))).empty());
  CHECK(SnapshotName(types::VirtualDisk(Disk(Blank()))).empty());
}

}  // namespace
}  // namespace berth::controller::vd
