// VirtualMachineSnapshot: stores the VM's configuration in a Secret, creates one
// VirtualDiskSnapshot per disk (named <disk>-<vmsnapshot uid>, owned by the VM snapshot), and
// cuts all of them at one instant through the agent — with the guest's filesystems frozen when
// consistency is required. The agent thaws as soon as the cuts exist; the disk snapshots then
// complete on their own.
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/kinds.h"
#include "berth/quantity.h"
#include "berth/status_macros.h"
#include "controllers/common/vm_common.h"

namespace berth::controller {
namespace {

constexpr char kReady[] = "VirtualMachineSnapshotReady";
constexpr char kManagedBy[] = "virtualization.deckhouse.io/berth-vmsnapshot";
constexpr absl::Duration kPoll = absl::Seconds(1);

Json OwnerRef(const Json& owner) {
  return Json::array({{{"apiVersion", kApiVersion},
                       {"kind", owner.value("kind", "")},
                       {"name", JsonString(owner, "/metadata/name")},
                       {"uid", JsonString(owner, "/metadata/uid")},
                       {"controller", true}}});
}

// Keeps what a restore needs of an object: identity, labels, annotations, spec (and Secret data).
Json Stripped(const Json& obj) {
  Json out = {{"apiVersion", obj.value("apiVersion", "")}, {"kind", obj.value("kind", "")}};
  out["metadata"] = {{"name", JsonString(obj, "/metadata/name")},
                     {"namespace", JsonString(obj, "/metadata/namespace")},
                     {"uid", JsonString(obj, "/metadata/uid")}};
  for (const char* f : {"labels", "annotations"}) {
    if (obj["metadata"].contains(f)) out["metadata"][f] = obj["metadata"][f];
  }
  for (const char* f : {"spec", "data", "type"}) {
    if (obj.contains(f)) out[f] = obj[f];
  }
  return out;
}

class VmSnapshotReconciler : public Reconciler {
 public:
  VmSnapshotReconciler(ObjectStore& store, AgentDirectory& agents, const Clock& clock)
      : store_(store), agents_(agents), clock_(clock) {}

  std::string Kind() const override { return "VirtualMachineSnapshot"; }

  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    if (event.object().value("kind", "") != "VirtualDiskSnapshot") return {};
    for (const Json& ref : JsonAt(event.object(), "/metadata/ownerReferences")) {
      if (ref.value("kind", "") == "VirtualMachineSnapshot") {
        return {ObjectKey{"VirtualMachineSnapshot",
                          JsonString(event.object(), "/metadata/namespace"),
                          ref.value("name", "")}};
      }
    }
    return {};
  }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    Json snap = *std::move(got);
    Json status = snap.value("status", Json::object());
    std::string phase = status.value("phase", "");
    if (IsDeleting(snap) || phase == "Failed") return ReconcileResult{};
    if (phase == "Ready") return CheckLost(snap, status);
    auto vm = store_.Get(
        ObjectKey{"VirtualMachine", key.ns, JsonString(snap, "/spec/virtualMachineName")});
    if (!vm.ok()) {
      SetCondition(status, "VirtualMachineReady", false, "VirtualMachineNotFound",
                   "the VM does not exist", snap, clock_.Now());
      SetCondition(status, kReady, false, "WaitingForTheVirtualMachine", "", snap, clock_.Now());
      return Write(snap, status, "Pending", absl::Seconds(2));
    }
    SetCondition(status, "VirtualMachineReady", true, "VirtualMachineReady", "", snap,
                 clock_.Now());
    if (!status.value("cutDone", false)) return Prepare(snap, status, *vm);
    return Complete(snap, status, *vm);
  }

 private:
  absl::StatusOr<ReconcileResult> Write(const Json& snap, Json status, const std::string& phase,
                                        absl::Duration requeue = absl::ZeroDuration()) {
    status["phase"] = phase;
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, snap, std::move(status)).status());
    return ReconcileResult{requeue};
  }

  absl::StatusOr<ReconcileResult> Fail(const Json& snap, Json status, const std::string& reason,
                                       const std::string& msg) {
    status.erase("consistent");
    SetCondition(status, kReady, false, reason, msg, snap, clock_.Now());
    return Write(snap, status, "Failed");
  }

  // Returns the VM's disks when every one is Ready and none is resizing; else a problem text.
  absl::StatusOr<std::vector<Json>> Disks(const Json& vm, std::string& problem) {
    std::vector<Json> disks;
    std::vector<std::string> bad;
    for (const std::string& name : VmDiskNames(vm)) {
      auto d = store_.Get(ObjectKey{"VirtualDisk", JsonString(vm, "/metadata/namespace"), name});
      if (!d.ok() || JsonString(*d, "/status/phase") != "Ready") {
        bad.push_back(absl::StrCat("VirtualDisk \"", name, "\" is not Ready"));
        continue;
      }
      auto want = ParseQuantity(JsonString(*d, "/spec/persistentVolumeClaim/size", "0"));
      Json have = JsonAt(*d, "/status/sizeBytes");
      if (want.ok() && have.is_number() && *want > have.get<uint64_t>()) {
        bad.push_back(absl::StrCat("VirtualDisk \"", name, "\" is resizing"));
      }
      disks.push_back(*std::move(d));
    }
    problem = absl::StrJoin(bad, "; ");
    return disks;
  }

  absl::StatusOr<ReconcileResult> Prepare(const Json& snap, Json status, const Json& vm) {
    std::string problem;
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> disks, Disks(vm, problem));
    if (!problem.empty()) return Fail(snap, status, "BlockDevicesNotReady", problem);
    std::string vm_phase = JsonString(vm, "/status/phase");
    bool required = snap["spec"].value("requiredConsistency", true);
    bool agent = GetCondition(vm, "AgentReady").value("status", "") == "True";
    bool freeze = VmActive(vm_phase) && required;
    if (freeze && (vm_phase != "Running" || !agent)) {
      return Fail(snap, status, "PotentiallyInconsistent",
                  absl::StrCat("VirtualMachine \"", JsonString(vm, "/metadata/name"), "\" is ",
                               vm_phase, " and its guest agent is not ready (",
                               GetCondition(vm, "AgentReady").value("message", "no report"),
                               "): a consistent snapshot needs the filesystems frozen"));
    }
    if (status.value("phase", "") != "InProgress") {
      status["virtualMachineUID"] = JsonString(vm, "/metadata/uid");
      SetCondition(status, kReady, false, freeze ? "FileSystemFreezing" : "Snapshotting", "", snap,
                   clock_.Now());
      return Write(snap, status, "InProgress");
    }
    BERTH_RETURN_IF_ERROR(StoreSecret(snap, status, vm, disks));
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> vds, EnsureDiskSnapshots(snap, disks));
    agentpb::SnapshotVolumesRequest req;
    req.set_freeze(freeze);
    if (freeze) req.set_domain(DomainName(vm));
    std::vector<std::string> names;
    for (size_t i = 0; i < disks.size(); ++i) {
      agentpb::VolumeRef* v = req.add_volumes();
      v->set_pool(JsonString(disks[i], "/status/pool"));
      v->set_volume_id(JsonString(disks[i], "/metadata/uid"));
      v->set_snapshot_id(JsonString(vds[i], "/metadata/uid"));
      names.push_back(JsonString(vds[i], "/metadata/name"));
    }
    status["virtualDiskSnapshotNames"] = names;
    if (!disks.empty()) {
      BERTH_ASSIGN_OR_RETURN(auto client, agents_.ForNode(JsonString(disks[0], "/status/node")));
      auto cut = client->SnapshotVolumes(req);
      if (absl::IsFailedPrecondition(cut.status()) || absl::IsInvalidArgument(cut.status()) ||
          absl::IsNotFound(cut.status())) {
        return Fail(snap, status, "VirtualMachineSnapshotFailed",
                    std::string(cut.status().message()));
      }
      if (!cut.ok()) return cut.status();
      status["freezeWindowMicros"] = cut->freeze_window_us();
    }
    if (VmActive(vm_phase) && !required) {
      status.erase("consistent");
    } else {
      status["consistent"] = true;
    }
    status["cutDone"] = true;
    SetCondition(status, kReady, false, "Snapshotting", "waiting for the disk snapshots", snap,
                 clock_.Now());
    return Write(snap, status, "InProgress", kPoll);
  }

  absl::Status StoreSecret(const Json& snap, Json& status, const Json& vm,
                           const std::vector<Json>& disks) {
    std::string ns = JsonString(snap, "/metadata/namespace");
    std::string name = absl::StrCat(JsonString(snap, "/metadata/name"), "-",
                                    JsonString(snap, "/metadata/uid").substr(0, 8));
    Json data = {{"vm", absl::Base64Escape(Stripped(vm).dump())}};
    Json resources = Json::array({{{"apiVersion", kApiVersion},
                                   {"kind", "VirtualMachine"},
                                   {"name", JsonString(vm, "/metadata/name")}}});
    std::string ip_name = JsonString(vm, "/status/virtualMachineIPAddressName");
    auto ip = store_.Get(ObjectKey{"VirtualMachineIPAddress", ns, ip_name});
    if (ip.ok() && snap["spec"].value("keepIPAddress", "Always") == "Always") {
      Json kept = Stripped(*ip);
      std::string address = JsonString(*ip, "/status/address");
      if (!address.empty()) kept["spec"] = {{"type", "Static"}, {"staticIP", address}};
      data["vmip"] = absl::Base64Escape(kept.dump());
      resources.push_back(
          {{"apiVersion", kApiVersion}, {"kind", "VirtualMachineIPAddress"}, {"name", ip_name}});
    }
    auto mac = store_.Get(ObjectKey{"VirtualMachineMACAddress", ns,
                                    JsonString(vm, "/status/virtualMachineMACAddressName")});
    if (mac.ok()) {
      Json kept = Stripped(*mac);
      std::string address = JsonString(*mac, "/status/address");
      if (!address.empty()) kept["spec"]["address"] = address;  // restore brings it back
      data["vmmac"] = absl::Base64Escape(kept.dump());
      resources.push_back({{"apiVersion", kApiVersion},
                           {"kind", "VirtualMachineMACAddress"},
                           {"name", JsonString(*mac, "/metadata/name")}});
    }
    if (JsonString(vm, "/spec/provisioning/type") == "UserDataRef") {
      std::string secret = JsonString(vm, "/spec/provisioning/userDataRef/name");
      auto prov = store_.Get(ObjectKey{"Secret", ns, secret});
      if (prov.ok()) {
        data["provisioning"] = absl::Base64Escape(Stripped(*prov).dump());
        resources.push_back({{"apiVersion", "v1"}, {"kind", "Secret"}, {"name", secret}});
      }
    }
    Json stored_disks = Json::array();
    for (const Json& d : disks) stored_disks.push_back(Stripped(d));
    data["disks"] = absl::Base64Escape(stored_disks.dump());  // specs and labels for clones
    for (const std::string& d : VmDiskNames(vm)) {
      resources.push_back({{"apiVersion", kApiVersion}, {"kind", "VirtualDisk"}, {"name", d}});
    }
    Json secret = {
        {"apiVersion", "v1"},
        {"kind", "Secret"},
        {"metadata", {{"name", name}, {"namespace", ns}, {"ownerReferences", OwnerRef(snap)}}},
        {"type", "virtualization.deckhouse.io/snapshot"},
        {"data", data}};
    auto created = store_.Create(secret);
    if (!created.ok() && !absl::IsAlreadyExists(created.status())) return created.status();
    status["virtualMachineSnapshotSecretName"] = name;
    status["pendingResources"] = resources;
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Json>> EnsureDiskSnapshots(const Json& snap,
                                                        const std::vector<Json>& disks) {
    std::vector<Json> out;
    std::string ns = JsonString(snap, "/metadata/namespace");
    for (const Json& disk : disks) {
      std::string name =
          absl::StrCat(JsonString(disk, "/metadata/name"), "-", JsonString(snap, "/metadata/uid"));
      Json vds = {{"apiVersion", kApiVersion},
                  {"kind", "VirtualDiskSnapshot"},
                  {"metadata",
                   {{"name", name},
                    {"namespace", ns},
                    {"annotations", {{kManagedBy, JsonString(snap, "/metadata/name")}}},
                    {"ownerReferences", OwnerRef(snap)}}},
                  {"spec",
                   {{"virtualDiskName", JsonString(disk, "/metadata/name")},
                    {"requiredConsistency", snap["spec"].value("requiredConsistency", true)}}}};
      auto created = store_.Create(vds);
      if (absl::IsAlreadyExists(created.status())) created = store_.Get(ObjectKey::Of(vds));
      if (!created.ok()) return created.status();
      out.push_back(*std::move(created));
    }
    return out;
  }

  absl::StatusOr<ReconcileResult> Complete(const Json& snap, Json status, const Json& vm) {
    std::string ns = JsonString(snap, "/metadata/namespace");
    for (const Json& n : status.value("virtualDiskSnapshotNames", Json::array())) {
      auto vds = store_.Get(ObjectKey{"VirtualDiskSnapshot", ns, n.get<std::string>()});
      std::string phase = vds.ok() ? JsonString(*vds, "/status/phase") : "Missing";
      if (phase == "Failed" || phase == "Missing") {
        return Fail(snap, status, "VirtualDiskSnapshotLost",
                    absl::StrCat("VirtualDiskSnapshot \"", n.get<std::string>(), "\" is ", phase));
      }
      if (phase != "Ready") return ReconcileResult{kPoll};
    }
    status["resources"] = status.value("pendingResources", Json::array());
    status.erase("pendingResources");
    SetCondition(status, kReady, true, "VirtualMachineSnapshotReady", "", snap, clock_.Now());
    return Write(snap, status, "Ready", absl::Seconds(20));
  }

  absl::StatusOr<ReconcileResult> CheckLost(const Json& snap, Json status) {
    std::string ns = JsonString(snap, "/metadata/namespace");
    for (const Json& n : status.value("virtualDiskSnapshotNames", Json::array())) {
      auto vds = store_.Get(ObjectKey{"VirtualDiskSnapshot", ns, n.get<std::string>()});
      if (!vds.ok() || JsonString(*vds, "/status/phase") == "Failed") {
        return Fail(snap, status, "VirtualDiskSnapshotLost",
                    absl::StrCat("VirtualDiskSnapshot \"", n.get<std::string>(), "\" is lost"));
      }
    }
    return ReconcileResult{absl::Seconds(20)};
  }

  ObjectStore& store_;
  AgentDirectory& agents_;
  const Clock& clock_;
};

}  // namespace

std::unique_ptr<Reconciler> NewVirtualMachineSnapshotReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<VmSnapshotReconciler>(deps.store, deps.agents, deps.clock);
}

}  // namespace berth::controller
