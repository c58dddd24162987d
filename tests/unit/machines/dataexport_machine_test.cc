// The DataExport state machine (dataexport_machine.h) as a table of
// (export, observations) -> (next phase, reason, action, requeue).
#include "controllers/dataexport/dataexport_machine.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

namespace berth::controller::dataexport {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

Json Export(const std::string& kind, const std::string& phase = "", const std::string& since = "",
            const std::string& ttl = "2m") {
  Json e = {{"kind", "DataExport"},
            {"metadata", {{"name", "e"}, {"namespace", "ns"}, {"uid", "e-uid"}}},
            {"spec", {{"targetRef", {{"kind", kind}, {"name", "t"}}}, {"ttl", ttl}}}};
  if (!since.empty()) e["spec"]["since"] = {{"kind", "VirtualDiskSnapshot"}, {"name", since}};
  if (!phase.empty()) e["status"] = {{"phase", phase}, {"node", "n1"}};
  return e;
}

Json Target(const std::string& kind, const std::string& phase, const std::string& name = "t",
            const std::string& created = "2026-01-02T00:00:00Z", const std::string& node = "n1") {
  return {{"kind", kind},
          {"metadata",
           {{"name", name},
            {"namespace", "ns"},
            {"uid", name + "-uid"},
            {"creationTimestamp", created}}},
          {"status", {{"phase", phase}, {"node", node}, {"pool", "p"}}}};
}

Json Vm(const std::string& phase) {
  return {{"kind", "VirtualMachine"},
          {"metadata", {{"name", "vm"}, {"namespace", "ns"}}},
          {"spec", {{"blockDeviceRefs", Json::array({{{"kind", "VirtualDisk"}, {"name", "t"}}})}}},
          {"status", {{"phase", phase}}}};
}

agentpb::ExportInfo Info(const std::string& state, int64_t expires_in_seconds = 60) {
  agentpb::ExportInfo info;
  info.set_state(state);
  info.set_url("https://n1/e");
  info.set_public_url("https://public/e");
  info.set_token("tok");
  info.set_ca_cert("CA");
  info.set_size_bytes(4096);
  info.set_expires_at_unix(absl::ToUnixSeconds(kNow) + expires_in_seconds);
  return info;
}

struct Row {
  const char* name;
  Json e;
  std::optional<Json> target;
  std::optional<Json> since;
  std::optional<Json> vm;
  std::optional<absl::StatusOr<agentpb::ExportInfo>> lease;
  // Expected:
  std::string phase;   // of the status to store; "" when nothing is stored
  std::string reason;  // of the Ready condition
  Action action;
  absl::Duration requeue;
};

TEST_CASE("DataExport: Plan, row by row") {
  const absl::Duration poll = kPendingPoll, none = absl::ZeroDuration();
  const std::string vd = "VirtualDisk", vds = "VirtualDiskSnapshot";
  std::vector<Row> rows = {
      {"bad ttl", Export(vd, "", "", "soon"), Target(vd, "Ready"), std::nullopt, std::nullopt,
       std::nullopt, "Failed", kReasonInvalidTTL, Action::kNone, none},
      {"zero ttl", Export(vd, "", "", "0s"), Target(vd, "Ready"), std::nullopt, std::nullopt,
       std::nullopt, "Failed", kReasonInvalidTTL, Action::kNone, none},
      {"target missing", Export(vd), std::nullopt, std::nullopt, std::nullopt, std::nullopt,
       "Failed", kReasonExportRefused, Action::kNone, none},
      {"target not Ready", Export(vds, "Pending"), Target(vds, "InProgress"), std::nullopt,
       std::nullopt, std::nullopt, "Pending", kReasonWaitingForTarget, Action::kNone, poll},
      {"since missing", Export(vds, "", "old"), Target(vds, "Ready"), std::nullopt, std::nullopt,
       std::nullopt, "Failed", kReasonExportRefused, Action::kNone, none},
      {"since not Ready", Export(vds, "", "old"), Target(vds, "Ready"),
       Target(vds, "InProgress", "old"), std::nullopt, std::nullopt, "Pending",
       kReasonWaitingForTarget, Action::kNone, poll},
      {"since newer than the target", Export(vds, "", "new"), Target(vds, "Ready"),
       Target(vds, "Ready", "new", "2026-02-01T00:00:00Z"), std::nullopt, std::nullopt, "Failed",
       kReasonExportRefused, Action::kNone, none},
      {"disk used by a running VM", Export(vd), Target(vd, "Ready"), std::nullopt, Vm("Running"),
       std::nullopt, "Failed", kReasonExportRefused, Action::kNone, none},
      {"a snapshot, even of a running VM's disk", Export(vds), Target(vds, "Ready"), std::nullopt,
       Vm("Running"), std::nullopt, "", "", Action::kStart, none},
      {"a disk", Export(vd), Target(vd, "Ready"), std::nullopt, std::nullopt, std::nullopt, "", "",
       Action::kStart, none},
      {"Ready, agent unreachable", Export(vd, "Ready"), std::nullopt, std::nullopt, std::nullopt,
       absl::UnavailableError("down"), "", "", Action::kNone, kMaxReadyPoll},
      {"Ready, agent lost the export", Export(vd, "Ready"), std::nullopt, std::nullopt,
       std::nullopt, absl::NotFoundError("no export"), "Expired", kReasonExpired, Action::kRelease,
       none},
      {"Ready, expired", Export(vd, "Ready"), std::nullopt, std::nullopt, std::nullopt,
       Info("Expired"), "Expired", kReasonExpired, Action::kRelease, none},
      {"Ready, serving", Export(vd, "Ready"), std::nullopt, std::nullopt, std::nullopt,
       Info("Serving", 3), "Ready", kReasonServing, Action::kNone, absl::Seconds(4)},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    Observation obs;
    if (row.target) obs.target = &*row.target;
    if (row.since) obs.since = &*row.since;
    if (row.vm) obs.vm_using = &*row.vm;
    obs.lease = row.lease;
    auto planned = Plan(types::DataExport(row.e), obs, kNow);
    REQUIRE(planned.ok());
    CHECK(planned->action == row.action);
    CHECK(planned->requeue == row.requeue);
    CHECK(!planned->add_finalizer);  // the reconciler stores it before every pass
    if (row.phase.empty()) {
      CHECK(!planned->status.has_value());
      continue;
    }
    REQUIRE(planned->status.has_value());
    types::DataExportStatus st(*planned->status);
    CHECK(std::string(types::Name(st.phase())) == row.phase);
    types::Condition ready = st.conditions().Get(kReady);
    CHECK(ready.reason() == row.reason);
    CHECK(ready.is_true() == (row.phase == "Ready"));
  }
}

TEST_CASE("DataExport: the export request") {
  Json target = Target("VirtualDiskSnapshot", "Ready");
  Json same_place = Target("VirtualDiskSnapshot", "Ready", "old", "2026-01-01T00:00:00Z");
  Json elsewhere = Target("VirtualDiskSnapshot", "Ready", "old", "2026-01-01T00:00:00Z", "n9");
  Json e = Export("VirtualDiskSnapshot", "", "old", "90s");
  Observation obs;
  obs.target = &target;
  obs.since = &same_place;
  auto p = Plan(types::DataExport(e), obs, kNow);
  REQUIRE(p.ok());
  CHECK(p->node == "n1");
  CHECK(p->request.id() == "e-uid");
  CHECK(p->request.pool() == "p");
  CHECK(p->request.snapshot_id() == "t-uid");
  CHECK(p->request.volume_id().empty());
  CHECK(p->request.ttl_seconds() == 90);
  // On the same node and pool the agent compares with the since snapshot itself.
  CHECK(p->request.since_snapshot_id() == "old-uid");
  obs.since = &elsewhere;
  p = Plan(types::DataExport(e), obs, kNow);
  CHECK(p->request.since_snapshot_id().empty());

  Json disk = Target("VirtualDisk", "Ready");
  Json de = Export("VirtualDisk", "", "", "100ms");
  Observation dobs;
  dobs.target = &disk;
  p = Plan(types::DataExport(de), dobs, kNow);
  CHECK(p->request.volume_id() == "t-uid");
  CHECK(p->request.snapshot_id().empty());
  CHECK(p->request.ttl_seconds() == 1);  // at least a second
}

TEST_CASE("DataExport: messages") {
  auto message = [](const absl::StatusOr<Planned>& p) {
    REQUIRE(p.ok());
    REQUIRE(p->status.has_value());
    return types::DataExportStatus(*p->status).conditions().Get(kReady).message();
  };
  Json e = Export("VirtualDisk");
  CHECK(message(Plan(types::DataExport(e), {}, kNow)) == "VirtualDisk \"t\" not found");
  Json disk = Target("VirtualDisk", "Ready"), vm = Vm("Stopping");
  Observation obs;
  obs.target = &disk;
  obs.vm_using = &vm;
  CHECK(message(Plan(types::DataExport(e), obs, kNow)) ==
        "VirtualDisk \"t\" is in use: VirtualMachine \"vm\" is Stopping; stop the VM first (or "
        "export a VirtualDiskSnapshot of the disk, which is always allowed)");
  Json s = Export("VirtualDisk", "", "old");
  CHECK(message(Plan(types::DataExport(s), obs, kNow)) ==
        "spec.since: VirtualDiskSnapshot \"old\" not found in namespace \"ns\"");
  Observation lease;
  lease.lease = Info("Expired");
  Json ready = Export("VirtualDisk", "Ready");
  CHECK(message(Plan(types::DataExport(ready), lease, kNow)) ==
        "the export's time to live ran out; create a new export");
}

TEST_CASE("DataExport: observation errors are returned where the pass needs what failed") {
  Json e = Export("VirtualDisk", "", "old");
  Observation obs;
  obs.target_error = absl::UnavailableError("store");
  CHECK(absl::IsUnavailable(Plan(types::DataExport(e), obs, kNow).status()));
  Json disk = Target("VirtualDisk", "Ready"), since = Target("VirtualDiskSnapshot", "Ready", "old");
  obs = Observation();
  obs.target = &disk;
  obs.since_error = absl::UnavailableError("store");
  CHECK(absl::IsUnavailable(Plan(types::DataExport(e), obs, kNow).status()));
  obs.since_error = absl::OkStatus();
  obs.since = &since;
  obs.vms_error = absl::UnavailableError("list");
  CHECK(absl::IsUnavailable(Plan(types::DataExport(e), obs, kNow).status()));
  // A bad ttl is decided before anything is read.
  Json bad = Export("VirtualDisk", "", "", "x");
  obs.target_error = absl::UnavailableError("store");
  CHECK(Plan(types::DataExport(bad), obs, kNow).ok());
  // Other GetExport errors are retried.
  Json ready = Export("VirtualDisk", "Ready");
  Observation lease;
  lease.lease = absl::PermissionDeniedError("no");
  CHECK(absl::IsPermissionDenied(Plan(types::DataExport(ready), lease, kNow).status()));
}

TEST_CASE("DataExport: FinishStart") {
  Json e = Export("VirtualDisk");
  auto ready = FinishStart(types::DataExport(e), "n1", Info("Serving", 120), kNow);
  REQUIRE(ready.ok());
  types::DataExportStatus st(*ready->status);
  CHECK(st.phase() == Phase::kReady);
  CHECK(st.node() == "n1");
  CHECK(st.url() == "https://n1/e");
  CHECK(st.public_url() == "https://public/e");
  CHECK(st.token() == "tok");
  CHECK(st.ca_cert() == "CA");
  CHECK(st.size_bytes() == 4096);
  CHECK(st.expires_at() == "2023-11-14T22:15:20Z");
  CHECK(st.conditions().Get(kReady).reason() == kReasonServing);
  CHECK(ready->requeue == kMaxReadyPoll);  // capped
  auto soon = FinishStart(types::DataExport(e), "n1", Info("Serving", -5), kNow);
  CHECK(soon->requeue == absl::Seconds(1));  // at least a second

  for (absl::Status refused : {absl::NotFoundError("no volume"), absl::InvalidArgumentError("x")}) {
    auto f = FinishStart(types::DataExport(e), "n1", refused, kNow);
    REQUIRE(f.ok());
    types::DataExportStatus fs(*f->status);
    CHECK(fs.phase() == Phase::kFailed);
    CHECK(fs.conditions().Get(kReady).reason() == kReasonExportFailed);
    CHECK(fs.conditions().Get(kReady).message() == refused.message());
    CHECK(!fs.has_node());
  }
  CHECK(absl::IsUnavailable(
      FinishStart(types::DataExport(e), "n1", absl::UnavailableError("down"), kNow).status()));
}

TEST_CASE("DataExport: deletion releases the data, unless its node is gone") {
  Json e = Export("VirtualDisk", "Ready");
  CHECK(PlanDeletion(types::DataExport(e)).action == Action::kRemoveFinalizer);
  e["metadata"]["finalizers"] = Json::array({kExportFinalizer});
  CHECK(PlanDeletion(types::DataExport(e)).action == Action::kRelease);
  CHECK(!PlanDeletion(types::DataExport(e)).status.has_value());
  e["status"].erase("node");
  CHECK(PlanDeletion(types::DataExport(e)).action == Action::kRemoveFinalizer);

  CHECK(Released(absl::OkStatus(), false).ok());
  CHECK(Released(absl::UnavailableError("down"), true).ok());
  CHECK(absl::IsUnavailable(Released(absl::UnavailableError("down"), false)));
}

TEST_CASE("DataExport: finished exports, and the VM found using a disk") {
  CHECK(Finished(types::DataExport(Export("VirtualDisk", "Failed"))));
  CHECK(Finished(types::DataExport(Export("VirtualDisk", "Expired"))));
  CHECK(!Finished(types::DataExport(Export("VirtualDisk", "Ready"))));
  std::vector<Json> vms = {Vm("Stopped"), Vm(""), Vm("Pausing")};
  CHECK(FindVmUsing(vms, "t") == &vms[2]);
  CHECK(FindVmUsing(vms, "other") == nullptr);
  vms.pop_back();
  CHECK(FindVmUsing(vms, "t") == nullptr);
}

}  // namespace
}  // namespace berth::controller::dataexport
