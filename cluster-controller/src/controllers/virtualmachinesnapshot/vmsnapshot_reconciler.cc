// VirtualMachineSnapshot: stores the VM's configuration in a Secret, creates one
// VirtualDiskSnapshot per disk (named <disk>-<vmsnapshot uid>, owned by the VM snapshot), and
// cuts all of them at one instant through the agent — with the guest's filesystems frozen when
// consistency is required. The agent thaws as soon as the cuts exist; the disk snapshots then
// complete on their own. The state machine itself is vmsnapshot_machine.h; this file observes
// and acts.
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/kinds.h"
#include "berth/status_macros.h"
#include "controllers/common/vm_common.h"
#include "controllers/virtualmachinesnapshot/vmsnapshot_machine.h"

namespace berth::controller {
namespace {

using types::VirtualMachineSnapshot;

Json OwnerRef(const Json& owner) {
  types::VirtualMachineSnapshot o(owner);
  return Json::array({{{"apiVersion", kApiVersion},
                       {"kind", o.kind()},
                       {"name", o.name()},
                       {"uid", o.uid()},
                       {"controller", true}}});
}

// Keeps what a restore needs of an object: identity, labels, annotations, spec (and Secret data).
Json Stripped(const Json& obj) {
  types::VirtualMachine o(obj);  // any kind: only the envelope and metadata are read
  Json out = {{"apiVersion", obj.value("apiVersion", "")}, {"kind", o.kind()}};
  out["metadata"] = {{"name", o.name()}, {"namespace", o.namespace_()}, {"uid", o.uid()}};
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

  std::string Kind() const override { return kinds::kVirtualMachineSnapshot; }

  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    types::VirtualDiskSnapshot vds(event.object());  // any kind: only metadata and kind are read
    if (vds.kind() != kinds::kVirtualDiskSnapshot) return {};
    for (const Json& ref : vds.metadata().owner_references()) {
      if (ref.value("kind", "") == kinds::kVirtualMachineSnapshot) {
        return {ObjectKey{kinds::kVirtualMachineSnapshot, vds.namespace_(), ref.value("name", "")}};
      }
    }
    return {};
  }

  // Observe -> Plan -> (Secret, disk snapshots, cut -> Finish) -> store.
  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Peek(key);  // read-only: every write below copies what it changes
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    std::shared_ptr<const Json> obj = *std::move(got);
    VirtualMachineSnapshot snap(*obj);
    if (vmsnapshot::Done(snap)) return ReconcileResult{};

    // Observe. Any error reading an object counts as its absence, as it always has.
    vmsnapshot::Observation obs;
    std::optional<Json> vm;
    std::vector<std::optional<Json>> found;  // backs obs.disks / obs.disk_snapshots
    auto look = [&](const char* kind, const std::string& name) {
      auto o = store_.Get(ObjectKey{kind, key.ns, name});
      found.push_back(o.ok() ? std::optional<Json>(*std::move(o)) : std::nullopt);
    };
    const bool ready = snap.status().phase() == vmsnapshot::Phase::kReady;
    if (!ready) {
      auto v =
          store_.Get(ObjectKey{kinds::kVirtualMachine, key.ns, snap.spec().virtual_machine_name()});
      if (v.ok()) vm = *std::move(v);
      if (vm) obs.vm = &*vm;
    }
    std::vector<std::string> names;
    const char* kind = kinds::kVirtualDiskSnapshot;
    if (ready || (vm && snap.status().cut_done())) {
      names = snap.status().virtual_disk_snapshot_names();
    } else if (vm) {
      names = VmDiskNames(*vm);
      kind = kinds::kVirtualDisk;
    }
    found.reserve(names.size());
    for (const std::string& n : names) look(kind, n);
    auto& into = kind == kinds::kVirtualDisk ? obs.disks : obs.disk_snapshots;
    for (size_t i = 0; i < names.size(); ++i) {
      into.emplace_back(names[i], found[i] ? &*found[i] : nullptr);
    }

    Step<vmsnapshot::Action> step = vmsnapshot::Plan(snap, obs, clock_.Now());
    if (step.action == vmsnapshot::Action::kNone) {
      BERTH_RETURN_IF_ERROR(StoreStep(store_, *obj, step).status());
      return step.Result();
    }
    // Cut: every disk Ready (Plan checked), InProgress stored by an earlier pass.
    std::vector<Json> disks;
    for (const auto& [name, disk] : obs.disks) disks.push_back(*disk);
    BERTH_ASSIGN_OR_RETURN(vmsnapshot::Cut cut, StoreSecret(snap, *vm, disks));
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> vds, EnsureDiskSnapshots(snap, disks));
    const bool freeze = step.action == vmsnapshot::Action::kCutFrozen;
    agentpb::SnapshotVolumesRequest req;
    req.set_freeze(freeze);
    if (freeze) req.set_domain(DomainName(*vm));
    for (size_t i = 0; i < disks.size(); ++i) {
      types::VirtualDisk disk(disks[i]);
      types::VirtualDiskSnapshot made(vds[i]);
      agentpb::VolumeRef* v = req.add_volumes();
      v->set_pool(disk.status().pool());
      v->set_volume_id(disk.uid());
      v->set_snapshot_id(made.uid());
      cut.disk_snapshot_names.push_back(made.name());
    }
    if (!disks.empty()) {
      BERTH_ASSIGN_OR_RETURN(auto client,
                             agents_.ForNode(types::VirtualDisk(disks[0]).status().node()));
      auto resp = client->SnapshotVolumes(req);
      if (resp.ok()) {
        cut.freeze_window_us = std::optional<int64_t>(resp->freeze_window_us());
      } else {
        cut.freeze_window_us = resp.status();
      }
    }
    BERTH_ASSIGN_OR_RETURN(Step<vmsnapshot::Action> done,
                           vmsnapshot::Finish(snap, types::VirtualMachine(*vm),
                                              std::move(*step.status), cut, clock_.Now()));
    BERTH_RETURN_IF_ERROR(StoreStep(store_, *obj, done).status());
    return done.Result();
  }

 private:
  // Stores the Secret holding the VM's configuration (and its IP, MAC and provisioning Secret);
  // returns its name and what it captured.
  absl::StatusOr<vmsnapshot::Cut> StoreSecret(const VirtualMachineSnapshot& snap, const Json& vm,
                                              const std::vector<Json>& disks) {
    types::VirtualMachine v(vm);
    const std::string ns = snap.namespace_();
    vmsnapshot::Cut cut;
    cut.secret_name = absl::StrCat(snap.name(), "-", snap.uid().substr(0, 8));
    Json data = {{"vm", absl::Base64Escape(Stripped(vm).dump())}};
    Json& resources = cut.resources;
    resources.push_back(
        {{"apiVersion", kApiVersion}, {"kind", kinds::kVirtualMachine}, {"name", v.name()}});
    // The VM's status names its address objects (fields the VirtualMachine CRD leaves open).
    std::string ip_name = JsonString(vm, "/status/virtualMachineIPAddressName");
    auto ip = store_.Get(ObjectKey{kinds::kVirtualMachineIPAddress, ns, ip_name});
    if (ip.ok() &&
        snap.spec().keep_ip_address() == types::VirtualMachineSnapshotSpecKeepIPAddress::kAlways) {
      Json kept = Stripped(*ip);
      std::string address = types::VirtualMachineIPAddress(*ip).status().address();
      if (!address.empty()) kept["spec"] = {{"type", "Static"}, {"staticIP", address}};
      data["vmip"] = absl::Base64Escape(kept.dump());
      resources.push_back({{"apiVersion", kApiVersion},
                           {"kind", kinds::kVirtualMachineIPAddress},
                           {"name", ip_name}});
    }
    auto mac = store_.Get(ObjectKey{kinds::kVirtualMachineMACAddress, ns,
                                    JsonString(vm, "/status/virtualMachineMACAddressName")});
    if (mac.ok()) {
      types::VirtualMachineMACAddress m(*mac);
      Json kept = Stripped(*mac);
      std::string address = m.status().address();
      if (!address.empty()) kept["spec"]["address"] = address;  // restore brings it back
      data["vmmac"] = absl::Base64Escape(kept.dump());
      resources.push_back({{"apiVersion", kApiVersion},
                           {"kind", kinds::kVirtualMachineMACAddress},
                           {"name", m.name()}});
    }
    if (v.spec().provisioning().type() == types::VirtualMachineSpecProvisioningType::kUserDataRef) {
      std::string secret = v.spec().provisioning().user_data_ref().name();
      auto prov = store_.Get(ObjectKey{kinds::kSecret, ns, secret});
      if (prov.ok()) {
        data["provisioning"] = absl::Base64Escape(Stripped(*prov).dump());
        resources.push_back({{"apiVersion", "v1"}, {"kind", kinds::kSecret}, {"name", secret}});
      }
    }
    Json stored_disks = Json::array();
    for (const Json& d : disks) stored_disks.push_back(Stripped(d));
    data["disks"] = absl::Base64Escape(stored_disks.dump());  // specs and labels for clones
    for (const std::string& d : VmDiskNames(vm)) {
      resources.push_back(
          {{"apiVersion", kApiVersion}, {"kind", kinds::kVirtualDisk}, {"name", d}});
    }
    Json secret = {{"apiVersion", "v1"},
                   {"kind", kinds::kSecret},
                   {"metadata",
                    {{"name", cut.secret_name},
                     {"namespace", ns},
                     {"ownerReferences", OwnerRef(snap.json())}}},
                   {"type", "virtualization.deckhouse.io/snapshot"},
                   {"data", data}};
    auto created = store_.Create(secret);
    if (!created.ok() && !absl::IsAlreadyExists(created.status())) return created.status();
    return cut;
  }

  absl::StatusOr<std::vector<Json>> EnsureDiskSnapshots(const VirtualMachineSnapshot& snap,
                                                        const std::vector<Json>& disks) {
    std::vector<Json> out;
    for (const Json& disk : disks) {
      std::string disk_name = types::VirtualDisk(disk).name();
      Json vds = {{"apiVersion", kApiVersion},
                  {"kind", kinds::kVirtualDiskSnapshot},
                  {"metadata",
                   {{"name", absl::StrCat(disk_name, "-", snap.uid())},
                    {"namespace", snap.namespace_()},
                    {"annotations", {{vds::kManagedByAnnotation, snap.name()}}},
                    {"ownerReferences", OwnerRef(snap.json())}}},
                  {"spec",
                   {{"virtualDiskName", disk_name},
                    {"requiredConsistency", snap.spec().required_consistency()}}}};
      auto created = store_.Create(vds);
      if (absl::IsAlreadyExists(created.status())) created = store_.Get(ObjectKey::Of(vds));
      if (!created.ok()) return created.status();
      out.push_back(*std::move(created));
    }
    return out;
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
