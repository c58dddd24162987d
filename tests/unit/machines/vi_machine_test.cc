// The VirtualImage and ClusterVirtualImage state machine (vi_machine.h) as a table of
// (image, observations) -> (next phase, reason, action, finalizer), run for both kinds.
#include "controllers/virtualimage/vi_machine.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

namespace berth::controller::vi {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

ControllerConfig Config() {
  ControllerConfig c;
  c.storage_classes = {{"local", "p"}};
  c.default_storage_class = "local";
  c.upload_ttl = absl::Minutes(3);
  return c;
}

template <typename Image>
Json ImageJson(Json data_source, const std::string& phase = "", const std::string& node = "") {
  Json i = {{"kind", Image::kKind},
            {"metadata", {{"name", "img"}, {"uid", "i-uid"}}},
            {"spec", {{"dataSource", std::move(data_source)}}}};
  if (std::string(Image::kKind) == kinds::kVirtualImage) i["metadata"]["namespace"] = "ns";
  if (!phase.empty()) i["status"]["phase"] = phase;
  if (!node.empty()) {
    i["status"]["node"] = node;
    i["status"]["pool"] = "p";
  }
  return i;
}

Json Ref(const std::string& kind) {
  Json r = {{"type", "ObjectRef"}, {"objectRef", {{"kind", kind}, {"name", "src"}}}};
  if (kind != kinds::kClusterVirtualImage) r["objectRef"]["namespace"] = "ns";
  return r;
}
const Json kUpload = {{"type", "Upload"}};
const Json kHttp = {{"type", "HTTP"}, {"http", {{"url", "https://x"}}}};

Json Source(const std::string& kind, const std::string& phase) {
  return {{"kind", kind},
          {"metadata", {{"name", "src"}, {"namespace", "ns"}, {"uid", "src-uid"}}},
          {"status", {{"phase", phase}, {"node", "n2"}, {"pool", "q"}, {"sizeBytes", 4096}}}};
}
const Json kVm = {{"kind", "VirtualMachine"},
                  {"metadata", {{"name", "vm"}, {"namespace", "ns"}}},
                  {"status", {{"phase", "Running"}}}};

Observation Saw(const Json* source, const Json* running_vm = nullptr) {
  Observation obs;
  obs.source = source;
  obs.running_vm = running_vm;
  return obs;
}

struct Row {
  const char* name;
  Json image;
  std::optional<Json> source;
  bool vm_running;
  bool uploads;
  // Expected:
  std::string phase;   // of the status to store; "" when nothing is stored
  std::string reason;  // of the Ready condition
  Action action;
  bool add_finalizer;
  absl::Duration requeue;
};

template <typename Image>
void PlanRows() {
  const absl::Duration poll = kPendingPoll, none = absl::ZeroDuration();
  auto I = [](Json ds, const std::string& phase = "", const std::string& node = "") {
    return ImageJson<Image>(std::move(ds), phase, node);
  };
  std::vector<Row> rows = {
      {"source missing", I(Ref("VirtualDisk")), std::nullopt, false, true, "Pending",
       kReasonWaitingForSource, Action::kNone, false, poll},
      {"source not Ready", I(Ref("VirtualDiskSnapshot")), Source("VirtualDiskSnapshot", "Pending"),
       false, true, "Pending", kReasonWaitingForSource, Action::kNone, false, poll},
      {"source disk in use", I(Ref("VirtualDisk")), Source("VirtualDisk", "Ready"), true, true,
       "Pending", kReasonSourceInUse, Action::kNone, false, poll},
      {"source Ready, no node", I(Ref("VirtualDisk")), Source("VirtualDisk", "Ready"), false, true,
       "Provisioning", kReasonProvisioning, Action::kNone, true, none},
      {"source Ready, placed", I(Ref("VirtualImage"), "Provisioning", "n2"),
       Source("VirtualImage", "Ready"), false, true, "", "", Action::kCopy, true, none},
      {"a snapshot source in use is fine", I(Ref("VirtualDiskSnapshot")),
       Source("VirtualDiskSnapshot", "Ready"), true, true, "Provisioning", kReasonProvisioning,
       Action::kNone, true, none},
      {"HTTP", I(kHttp), std::nullopt, false, true, "Pending", kReasonDataSourceNotSupported,
       Action::kNone, false, none},
      {"upload, uploads off", I(kUpload), std::nullopt, false, false, "Pending",
       kReasonDataSourceNotSupported, Action::kNone, false, none},
      {"upload, no node", I(kUpload), std::nullopt, false, true, "", "", Action::kPickNode, true,
       none},
      {"upload, placed", I(kUpload, "Provisioning", "n1"), std::nullopt, false, true, "", "",
       Action::kUpload, true, none},
      {"upload, waiting for the data", I(kUpload, "WaitForUserUpload", "n1"), std::nullopt, false,
       true, "", "", Action::kUpload, true, none},
  };
  ControllerConfig config = Config();
  for (const Row& row : rows) {
    INFO(Image::kKind << ": " << row.name);
    Observation obs;
    if (row.source) obs.source = &*row.source;
    if (row.vm_running) obs.running_vm = &kVm;
    auto planned = Plan(Image(row.image), obs, config, row.uploads, kNow);
    REQUIRE(planned.ok());
    CHECK(planned->action == row.action);
    CHECK(planned->add_finalizer == row.add_finalizer);
    CHECK(planned->requeue == row.requeue);
    if (row.phase.empty()) {
      CHECK(!planned->status.has_value());
      continue;
    }
    REQUIRE(planned->status.has_value());
    Json status = *planned->status;
    CHECK(status["phase"] == row.phase);
    Json ready = GetCondition(Json{{"status", status}}, kReady);
    CHECK(ready["reason"] == row.reason);
    CHECK(ready["status"] == "False");
  }
}

TEST_CASE("images: Plan, row by row") {
  PlanRows<types::VirtualImage>();
  PlanRows<types::ClusterVirtualImage>();
}

TEST_CASE("images: messages and what the actions are planned with") {
  ControllerConfig config = Config();
  using VI = types::VirtualImage;
  Json disk = Source("VirtualDisk", "Ready");

  Json missing = ImageJson<VI>(Ref("VirtualDisk"));
  auto p = Plan(VI(missing), {}, config, true, kNow);
  CHECK(GetCondition(Json{{"status", *p->status}}, kReady)["message"] ==
        "VirtualDisk \"src\" is missing");
  Json not_ready = Source("VirtualDisk", "Provisioning");
  p = Plan(VI(missing), Saw(&not_ready), config, true, kNow);
  CHECK(GetCondition(Json{{"status", *p->status}}, kReady)["message"] ==
        "VirtualDisk \"src\" is not Ready");
  p = Plan(VI(missing), Saw(&disk, &kVm), config, true, kNow);
  CHECK(GetCondition(Json{{"status", *p->status}}, kReady)["message"] ==
        "VirtualDisk \"src\" is attached to running VirtualMachine \"vm\"; stop it to make an "
        "image of the disk");
  Json http = ImageJson<VI>(kHttp);
  p = Plan(VI(http), {}, config, true, kNow);
  CHECK(GetCondition(Json{{"status", *p->status}}, kReady)["message"] ==
        "dataSource type \"HTTP\" is not supported by Berth yet; use Upload");

  // Placed where the source is, before any agent call.
  p = Plan(VI(missing), Saw(&disk), config, true, kNow);
  types::VirtualImageStatus st(*p->status);
  CHECK(st.node() == "n2");
  CHECK(st.pool() == "q");
  CHECK(st.conditions().Get(kReady).message() == "copying VirtualDisk \"src\"");

  // A volume source is cut through a temporary snapshot; a snapshot source is copied directly.
  Json placed = ImageJson<VI>(Ref("VirtualDisk"), "Provisioning", "n2");
  p = Plan(VI(placed), Saw(&disk), config, true, kNow);
  REQUIRE(p->action == Action::kCopy);
  CHECK(p->copy.node == "n2");
  CHECK(p->copy.volume.pool() == "q");
  CHECK(p->copy.volume.id() == "i-uid");
  CHECK(p->copy.volume.size_bytes() == 4096);
  CHECK(p->copy.volume.source_snapshot_pool() == "q");
  CHECK(p->copy.volume.source_snapshot_id().empty());
  CHECK(p->copy.cut_volume_id == "src-uid");
  CHECK(p->copy.temp_snapshot_id == "image-i-uid");
  Json snap = Source("VirtualDiskSnapshot", "Ready");
  Json from_snap = ImageJson<VI>(Ref("VirtualDiskSnapshot"), "Provisioning", "n2");
  p = Plan(VI(from_snap), Saw(&snap), config, true, kNow);
  CHECK(p->copy.volume.source_snapshot_id() == "src-uid");
  CHECK(p->copy.temp_snapshot_id.empty());

  // Uploads: the pool of the image's storage class, a resizable placeholder volume.
  Json up = ImageJson<VI>(kUpload);
  up["spec"]["persistentVolumeClaim"]["storageClassName"] = "local";
  p = Plan(VI(up), {}, config, true, kNow);
  CHECK(p->pool == "p");
  CHECK(p->storage_class == "local");
  up["spec"]["persistentVolumeClaim"]["storageClassName"] = "nope";
  p = Plan(VI(up), {}, config, true, kNow);
  REQUIRE(p->status.has_value());
  CHECK(types::VirtualImageStatus(*p->status).conditions().Get(kReady).reason() ==
        kReasonStorageClassNotFound);
  CHECK(p->requeue == kStorageClassPoll);
  CHECK(p->add_finalizer);
  Json up_placed = ImageJson<VI>(kUpload, "Provisioning", "n1");
  p = Plan(VI(up_placed), {}, config, true, kNow);
  CHECK(p->upload.size_bytes == kPlaceholderSize);
  CHECK(p->upload.resizable);
  CHECK(p->upload.ttl == absl::Minutes(3));
}

TEST_CASE("images: observation errors are returned where the pass needs what failed") {
  ControllerConfig config = Config();
  using VI = types::VirtualImage;
  Json img = ImageJson<VI>(Ref("VirtualDisk"));
  Observation failed;
  failed.source_error = absl::UnavailableError("store");
  CHECK(absl::IsUnavailable(Plan(VI(img), failed, config, true, kNow).status()));
  Json disk = Source("VirtualDisk", "Ready");
  Observation vms;
  vms.source = &disk;
  vms.vms_error = absl::UnavailableError("list");
  CHECK(absl::IsUnavailable(Plan(VI(img), vms, config, true, kNow).status()));
  Json not_ready = Source("VirtualDisk", "Pending");
  vms.source = &not_ready;  // not Ready: the VMs are not needed
  CHECK(Plan(VI(img), vms, config, true, kNow).ok());
}

TEST_CASE("images: a ClusterVirtualImage's sources are where its objectRef says") {
  using CVI = types::ClusterVirtualImage;
  Json disk = ImageJson<CVI>(Ref("VirtualDisk"));
  ObjectKey k = SourceKey(CVI(disk));
  CHECK(k.kind == "VirtualDisk");
  CHECK(k.ns == "ns");
  CHECK(k.name == "src");
  Json cvi = ImageJson<CVI>(Ref("ClusterVirtualImage"));
  CHECK(SourceKey(CVI(cvi)).ns.empty());
  CHECK(SourceKey(CVI(ImageJson<CVI>(kUpload))).kind.empty());
  using VI = types::VirtualImage;
  CHECK(SourceKey(VI(ImageJson<VI>(Ref("VirtualDiskSnapshot")))).ns == "ns");
}

TEST_CASE("images: placement, copy, size and deletion") {
  using VI = types::VirtualImage;
  auto node = [](const std::string& name, bool ready, const std::string& pool) {
    return Json{
        {"kind", "Node"},
        {"metadata", {{"name", name}}},
        {"status",
         {{"conditions", Json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}})},
          {"pools", Json::array({{{"name", pool}}})}}}};
  };
  std::vector<Json> nodes = {node("a", false, "p"), node("b", true, "q"), node("c", true, "p"),
                             node("d", true, "p")};
  CHECK(FirstServing(nodes, "p") == "c");
  CHECK(FirstServing(nodes, "r").empty());

  Json img = ImageJson<VI>(kUpload);
  Step<Action> placed = Place(VI(img), nodes, "p", "local", kNow);
  types::VirtualImageStatus st(*placed.status);
  CHECK(st.phase() == types::VirtualImagePhase::kProvisioning);
  CHECK(st.node() == "c");
  CHECK(st.pool() == "p");
  CHECK(st.storage_class_name() == "local");
  Step<Action> waiting = Place(VI(img), nodes, "r", "other", kNow);
  types::VirtualImageStatus w(*waiting.status);
  CHECK(w.phase() == types::VirtualImagePhase::kPending);
  CHECK(w.conditions().Get(kReady).reason() == kReasonWaitingForNode);
  CHECK(w.conditions().Get(kReady).message() == "no Ready node serves storage pool \"r\"");
  CHECK(waiting.requeue == kPendingPoll);

  agentpb::Volume vol;
  vol.set_size_bytes(1 << 20);
  vol.set_path("/q/i-uid");
  auto ready = FinishCopy(VI(img), vol, kNow);
  REQUIRE(ready.ok());
  types::VirtualImageStatus r(*ready->status);
  CHECK(r.phase() == types::VirtualImagePhase::kReady);
  CHECK(r.path() == "/q/i-uid");
  CHECK(r.size_bytes() == 1 << 20);
  CHECK(r.size_json() == Json{{"stored", "1Mi"}, {"unpacked", "1Mi"}});
  CHECK(r.conditions().IsTrue(kReady));
  for (absl::Status refused : {absl::InvalidArgumentError("a"), absl::FailedPreconditionError("b"),
                               absl::NotFoundError("c")}) {
    auto f = FinishCopy(VI(img), refused, kNow);
    REQUIRE(f.ok());
    CHECK(types::VirtualImageStatus(*f->status).phase() == types::VirtualImagePhase::kFailed);
    CHECK(types::VirtualImageStatus(*f->status).conditions().Get(kReady).reason() ==
          kReasonProvisioningFailed);
  }
  // Images have no pool-full refusal: ResourceExhausted is retried.
  CHECK(absl::IsResourceExhausted(
      FinishCopy(VI(img), absl::ResourceExhaustedError("full"), kNow).status()));

  CHECK(!WithSize(VI(ImageJson<VI>(kUpload, "WaitForUserUpload"))).status.has_value());
  Json uploaded = ImageJson<VI>(kUpload, "Ready", "n1");
  uploaded["status"]["sizeBytes"] = 2 << 20;
  Step<Action> sized = WithSize(VI(uploaded));
  REQUIRE(sized.status.has_value());
  CHECK((*sized.status)["size"] == Json{{"stored", "2Mi"}, {"unpacked", "2Mi"}});

  Json del = ImageJson<VI>(kUpload, "Ready", "n1");
  CHECK(PlanDeletion(VI(del)).action == Action::kRemoveFinalizer);
  del["metadata"]["finalizers"] = Json::array({kVolumeFinalizer});
  Step<Action> d = PlanDeletion(VI(del));
  CHECK(d.action == Action::kDelete);
  CHECK(!d.status.has_value());  // no Terminating phase
  del["status"].erase("node");
  CHECK(PlanDeletion(VI(del)).action == Action::kRemoveFinalizer);

  CHECK(Finished(VI(ImageJson<VI>(kUpload, "Ready"))));
  CHECK(Finished(
      types::ClusterVirtualImage(ImageJson<types::ClusterVirtualImage>(kUpload, "Failed"))));
  CHECK(!Finished(VI(ImageJson<VI>(kUpload, "Provisioning"))));
}

}  // namespace
}  // namespace berth::controller::vi
