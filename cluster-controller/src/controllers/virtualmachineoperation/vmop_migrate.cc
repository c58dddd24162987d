// Migrate and Evict: observe (the VM, its disks, the nodes, the agents' view of the migration),
// plan (migrate_machine.h), act (prepare the target, start the migration, switch the disks and
// the VM over, or roll back), store.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "berth/controller/usb.h"
#include "berth/status_macros.h"
#include "controllers/common/vm_common.h"
#include "controllers/virtualmachine/vm_machine.h"
#include "controllers/virtualmachineoperation/migrate_machine.h"
#include "controllers/virtualmachineoperation/vmop_internal.h"

namespace berth::controller {
namespace {

namespace mig = vmop::migrate;
using types::VirtualMachineOperation;

class Migration {
 public:
  Migration(ObjectStore& store, AgentDirectory& agents, UsbAgents* usb, const Json& op,
            absl::Time now)
      : store_(store),
        agents_(agents),
        usb_(usb),
        op_(op),
        view_(op),
        ns_(view_.namespace_()),
        now_(now) {}

  absl::StatusOr<ReconcileResult> Run() {
    switch (vmop::Preamble(view_)) {
      case vmop::Held::kDone:
        return ReconcileResult{};
      case vmop::Held::kCancel:  // not for Migrate: it finishes or rolls back first
      case vmop::Held::kRemoveFinalizer:
        BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, op_, kOperationFinalizer).status());
        return ReconcileResult{};
      case vmop::Held::kRun:
        break;
    }
    mig::Observation obs;
    BERTH_RETURN_IF_ERROR(ObserveVm(obs));
    const bool started = view_.status().phase() == vmop::Phase::kInProgress;
    Step<mig::Action> step;
    if (!started) {
      BERTH_RETURN_IF_ERROR(ObserveNodes(obs));
      step = mig::PlanStart(view_, obs, now_);
    } else {
      ObserveAgents(obs);
      step = mig::PlanStep(view_, obs, now_);
    }
    // Write-ahead: what the step is about to do is stored (with the finalizer) first.
    BERTH_ASSIGN_OR_RETURN(Json stored, StoreStep(store_, op_, step, kOperationFinalizer));
    VirtualMachineOperation op(stored);
    switch (step.action) {
      case mig::Action::kNone:
        return step.Result();
      case mig::Action::kPrepare:
        return Prepare(op, obs);
      case mig::Action::kSwitch:
        return Switch(op, obs);
      case mig::Action::kRollBack:
        return RollBack(op, obs);
    }
    return step.Result();
  }

 private:
  std::string Source() const { return view_.status().migration().source_node(); }
  std::string Target() const { return view_.status().migration().target_node(); }

  absl::Status ObserveVm(mig::Observation& obs) {
    auto got =
        store_.Get(ObjectKey{kinds::kVirtualMachine, ns_, view_.spec().virtual_machine_name()});
    if (absl::IsNotFound(got.status())) return absl::OkStatus();
    if (!got.ok()) return got.status();
    vm_ = *std::move(got);
    obs.vm = &*vm_;
    domain_ = DomainName(*vm_);
    for (const auto& ref : types::VirtualMachine(*vm_).spec().block_device_refs()) {
      if (ref.kind() != types::VirtualMachineSpecBlockDeviceRefKind::kVirtualDisk) {
        obs.has_images = true;
        continue;
      }
      BERTH_ASSIGN_OR_RETURN(Json disk,
                             store_.Get(ObjectKey{kinds::kVirtualDisk, ns_, ref.name()}));
      types::VirtualDisk vd(disk);
      mig::Disk d;
      d.name = vd.name();
      d.uid = vd.uid();
      d.pool = vd.status().pool();
      d.path = vd.status().path();
      d.size_bytes = static_cast<uint64_t>(vd.status().size_bytes());
      obs.disks.push_back(d);
      disks_.push_back(std::move(disk));
    }
    return absl::OkStatus();
  }

  absl::Status ObserveNodes(mig::Observation& obs) {
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> nodes, store_.List(kinds::kNode, ""));
    for (const Json& json : nodes) {
      types::Node node(json);
      mig::Node n;
      n.name = node.name();
      n.ready = GetCondition(json, "Ready").value("status", "") == "True";
      n.unschedulable = node.spec().unschedulable();
      const Json& labels = JsonAt(json, "/metadata/labels");
      if (labels.is_object()) {
        for (const auto& [k, v] : labels.items()) {
          if (v.is_string()) n.labels[k] = v.get<std::string>();
        }
      }
      const Json& taints = JsonAt(json, "/spec/taints");
      if (taints.is_array()) n.taints = taints;
      const Json& pools = JsonAt(json, "/status/pools");
      if (pools.is_array()) {
        for (const Json& p : pools) n.pools.insert(p.value("name", ""));
      }
      obs.nodes.push_back(std::move(n));
    }
    return absl::OkStatus();
  }

  // What the agents say; an agent that does not answer leaves its field unset. While the source
  // reports the migration running, that is all: the domains are not looked at (GetDomain asks
  // each guest's agent, work the guests had better not do while they migrate).
  void ObserveAgents(mig::Observation& obs) {
    if (domain_.empty()) return;
    auto src = agents_.ForNode(Source());
    if (src.ok()) {
      if (auto m = (*src)->GetMigration(domain_); m.ok()) obs.source = *m;
    }
    const std::string step = view_.status().step();
    if (step == mig::kStepMigrate && !view_.deleting() && obs.source &&
        (obs.source->state() == "Running" || obs.source->state() == "Completed" ||
         obs.source->state() == "Failed")) {
      return;
    }
    if (src.ok()) {
      if (auto d = (*src)->GetDomain(domain_); d.ok()) obs.source_domain = *d;
    }
    if (auto dst = agents_.ForNode(Target()); dst.ok()) {
      if (auto d = (*dst)->GetDomain(domain_); d.ok()) obs.target_domain = *d;
    }
  }

  // Marks the VM as moving (its reconciler then leaves the domain alone); refuses when another
  // operation holds it. The write compares the VM's resourceVersion: one holder at a time.
  absl::Status MarkVm() {
    types::VirtualMachine vm(*vm_);
    std::string holder = vm.status().migration().operation();
    if (holder == view_.name()) return absl::OkStatus();
    if (!holder.empty()) {
      return absl::AbortedError(
          absl::StrCat("VirtualMachine ", vm.name(), " is being moved by operation ", holder));
    }
    Json status = vm.status().json();
    status["migration"] =
        Json{{"operation", view_.name()}, {"sourceNode", Source()}, {"targetNode", Target()}};
    status["phase"] = types::Name(types::VirtualMachinePhase::kMigrating);
    if (HasUsb()) {
      status["usbMigration"] =
          Json{{"phase", "InProgress"}, {"source", Source()}, {"target", Target()}};
    }
    BERTH_ASSIGN_OR_RETURN(vm_, WriteStatus(store_, *vm_, std::move(status)));
    return absl::OkStatus();
  }

  bool HasUsb() const { return vm_ && !types::VirtualMachine(*vm_).spec().usb_devices().empty(); }

  // Before the switch-over: every USB device detached from the guest on the source, each entry
  // DetachedForMigration (usbMigration InProgress makes the entries' machine say so).
  absl::Status DetachUsb() {
    if (!HasUsb()) return absl::OkStatus();
    Json status = types::VirtualMachine(*vm_).status().json();
    BERTH_RETURN_IF_ERROR(
        ReconcileVmUsbDevices(store_, usb_, *vm_, status, Source(), domain_, true, now_));
    BERTH_ASSIGN_OR_RETURN(vm_, WriteStatus(store_, *vm_, std::move(status)));
    return absl::OkStatus();
  }

  // Releases the VM (on `node`, its node now). Its reconciler then attaches the USB devices
  // again where the guest runs (usbMigration Completed: the target; Failed: the source).
  absl::Status ReleaseVm(const std::string& node, bool migrated) {
    if (!vm_) return absl::OkStatus();
    types::VirtualMachine vm(*vm_);
    if (vm.status().migration().operation() != view_.name()) return absl::OkStatus();
    Json status = vm.status().json();
    status.erase("migration");
    if (status.contains("usbMigration") && status["usbMigration"].is_object()) {
      status["usbMigration"]["phase"] = migrated ? "Completed" : "Failed";
    }
    status["node"] = node;
    status["phase"] = types::Name(types::VirtualMachinePhase::kRunning);
    return WriteStatus(store_, *vm_, std::move(status)).status();
  }

  // Prepare, where an error that retrying cannot cure (the target refuses the domain or a
  // volume, the guest stopped meanwhile) ends the migration: roll back, Failed.
  absl::StatusOr<ReconcileResult> Prepare(const VirtualMachineOperation& op,
                                          const mig::Observation& obs) {
    absl::StatusOr<ReconcileResult> r = TryPrepare(op, obs);
    if (r.ok() || Retryable(r.status().code())) return r;
    auto fresh = store_.Get(ObjectKey::Of(op.json()));
    if (!fresh.ok()) return fresh.status();
    Json failed =
        mig::AtStep(VirtualMachineOperation(*fresh), mig::kStepRollBack,
                    vmop::kReasonMigrationFailed, std::string(r.status().message()), now_);
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, *fresh, std::move(failed)).status());
    return ReconcileResult{vmop::kPoll};
  }

  absl::StatusOr<ReconcileResult> TryPrepare(const VirtualMachineOperation& op,
                                             const mig::Observation& obs) {
    BERTH_RETURN_IF_ERROR(MarkVm());
    BERTH_RETURN_IF_ERROR(DetachUsb());
    BERTH_ASSIGN_OR_RETURN(auto src, agents_.ForNode(op.status().migration().source_node()));
    BERTH_ASSIGN_OR_RETURN(auto dst, agents_.ForNode(op.status().migration().target_node()));
    types::VirtualMachine vm(*vm_);
    agentpb::DefineDomainRequest def;
    def.set_name(domain_);
    def.set_uuid(vm.uid());
    vm::Observation vm_obs;
    std::optional<Json> secret;
    types::VirtualMachineSpecProvisioning prov = vm.spec().provisioning();
    if (prov.type() == types::VirtualMachineSpecProvisioningType::kUserDataRef) {
      auto got = store_.Get(ObjectKey{kinds::kSecret, ns_, prov.user_data_ref().name()});
      if (got.ok()) secret = *std::move(got);
      if (secret) vm_obs.user_data_secret = &*secret;
    }
    def.set_cloud_init_user_data(vm::UserData(vm, vm_obs));
    BERTH_ASSIGN_OR_RETURN(agentpb::PreparedMigration prepared, dst->PrepareMigration(def));

    agentpb::MigrateDomainRequest req;
    req.set_name(domain_);
    *req.mutable_target() = prepared;
    Json status = op.status().json();
    Json volumes = Json::array();
    for (const mig::Disk& d : obs.disks) {
      agentpb::CreateVolumeRequest create;
      create.set_pool(d.pool);
      create.set_id(d.uid);
      create.set_size_bytes(d.size_bytes);
      BERTH_ASSIGN_OR_RETURN(agentpb::Volume vol, dst->CreateVolume(create));
      agentpb::PathRewrite* rw = req.add_disks();
      rw->set_from(d.path);
      rw->set_to(vol.path());
      volumes.push_back(Json{{"disk", d.name},
                             {"pool", d.pool},
                             {"id", d.uid},
                             {"sourcePath", d.path},
                             {"path", vol.path()}});
    }
    types::VirtualMachineOperationSpecMigrate spec = op.spec().migrate();
    req.set_max_downtime_ms(static_cast<uint32_t>(spec.has_max_downtime_milliseconds()
                                                      ? spec.max_downtime_milliseconds()
                                                      : mig::kDefaultMaxDowntimeMs));
    req.set_timeout_seconds(static_cast<uint32_t>(
        spec.has_timeout_seconds() ? spec.timeout_seconds() : mig::kDefaultTimeoutSeconds));
    status["migration"]["volumes"] = volumes;
    Json at =
        mig::AtStep(VirtualMachineOperation(op.json()), mig::kStepMigrate, vmop::kReasonMigrating,
                    absl::StrCat("migrating to ", op.status().migration().target_node()), now_);
    at["migration"] = status["migration"];
    // The volumes are recorded before the migration starts: a roll back finds them.
    BERTH_ASSIGN_OR_RETURN(Json stored, WriteStatus(store_, op.json(), std::move(at)));
    BERTH_ASSIGN_OR_RETURN(agentpb::MigrationStatus started, src->MigrateDomain(req));
    if (started.state() == "Failed") {
      Json failed = mig::AtStep(VirtualMachineOperation(stored), mig::kStepRollBack,
                                vmop::kReasonMigrationFailed, started.error(), now_);
      BERTH_RETURN_IF_ERROR(WriteStatus(store_, stored, std::move(failed)).status());
    }
    return ReconcileResult{mig::kMigratePoll};
  }

  absl::StatusOr<ReconcileResult> Switch(const VirtualMachineOperation& op,
                                         const mig::Observation& obs) {
    const std::string source = op.status().migration().source_node();
    const std::string target = op.status().migration().target_node();
    BERTH_ASSIGN_OR_RETURN(auto dst, agents_.ForNode(target));
    // The disks first: once the VM is released its reconciler finds them on the target.
    std::map<std::string, std::string> paths;  // disk -> its volume on the target
    for (const auto& v : op.status().migration().volumes()) paths[v.disk()] = v.path();
    for (Json& disk : disks_) {
      types::VirtualDisk vd(disk);
      if (vd.status().node() == target) continue;
      auto path = paths.find(vd.name());
      if (path == paths.end() || path->second.empty()) {
        return absl::InternalError(absl::StrCat("no target volume recorded for VirtualDisk ",
                                                vd.name(), " in status.migration.volumes"));
      }
      Json status = vd.status().json();
      status["node"] = target;
      status["path"] = path->second;
      BERTH_ASSIGN_OR_RETURN(disk, WriteStatus(store_, disk, std::move(status)));
    }
    BERTH_RETURN_IF_ERROR(ReleaseVm(target, true));
    // Only now the source's copies go.
    BERTH_ASSIGN_OR_RETURN(auto src, agents_.ForNode(source));
    for (const mig::Disk& d : obs.disks) {
      BERTH_RETURN_IF_ERROR(src->DeleteVolume(d.pool, d.uid).status());
    }
    BERTH_RETURN_IF_ERROR(src->DeleteDomain(domain_).status());  // its seed image, if left
    Json status = op.status().json();
    if (auto m = dst->GetMigration(domain_); m.ok() && m->downtime_ms() > 0) {
      status["migration"]["downtimeMilliseconds"] = m->downtime_ms();
    }
    int64_t downtime = JsonAt(status, "/migration/downtimeMilliseconds").is_number()
                           ? JsonAt(status, "/migration/downtimeMilliseconds").get<int64_t>()
                           : -1;
    std::string message = absl::StrCat("migrated from ", source, " to ", target);
    if (downtime >= 0) absl::StrAppend(&message, "; downtime ", downtime, " ms");
    Step<mig::Action> done =
        mig::Conclude(op, std::move(status), true, vmop::kReasonCompleted, message, now_);
    BERTH_RETURN_IF_ERROR(StoreStep(store_, op.json(), done).status());
    return done.Result();
  }

  absl::StatusOr<ReconcileResult> RollBack(const VirtualMachineOperation& op,
                                           const mig::Observation& obs) {
    const std::string target = op.status().migration().target_node();
    BERTH_ASSIGN_OR_RETURN(auto src, agents_.ForNode(op.status().migration().source_node()));
    if (!domain_.empty()) {
      auto aborted = src->AbortMigration(domain_);
      if (!aborted.ok()) return aborted.status();  // unsure whether it still runs: retry
    }
    if (!target.empty()) {
      BERTH_ASSIGN_OR_RETURN(auto dst, agents_.ForNode(target));
      if (!domain_.empty()) {
        BERTH_ASSIGN_OR_RETURN(agentpb::DomainStatus there, dst->GetDomain(domain_));
        if (there.state() == "Running" || there.state() == "Paused") {
          return absl::AbortedError(absl::StrCat("domain ", domain_, " runs on ", target,
                                                 " after all: the next pass switches over"));
        }
        BERTH_RETURN_IF_ERROR(dst->DeleteDomain(domain_).status());
      }
      for (const Json& disk : disks_) {
        types::VirtualDisk vd(disk);
        if (vd.status().node() == target) continue;  // never the disk's own volume
        BERTH_RETURN_IF_ERROR(dst->DeleteVolume(vd.status().pool(), vd.uid()).status());
      }
    }
    BERTH_RETURN_IF_ERROR(ReleaseVm(op.status().migration().source_node(), false));
    Json cond = GetCondition(op.json(), vmop::kCompleted);
    std::string reason = cond.value("reason", vmop::kReasonMigrationFailed);
    std::string message = cond.value("message", "");
    Json status = op.status().json();
    status.erase("progress");
    Step<mig::Action> done =
        mig::Conclude(op, std::move(status), false, reason,
                      absl::StrCat(message, message.empty() ? "" : "; ", "the guest stays on ",
                                   op.status().migration().source_node()),
                      now_);
    BERTH_RETURN_IF_ERROR(StoreStep(store_, op.json(), done).status());
    return done.Result();
  }

  ObjectStore& store_;
  AgentDirectory& agents_;
  UsbAgents* usb_;  // null: USB off
  const Json& op_;
  VirtualMachineOperation view_;
  const std::string ns_;
  const absl::Time now_;
  std::optional<Json> vm_;
  std::string domain_;
  std::vector<Json> disks_;
};

}  // namespace

absl::StatusOr<ReconcileResult> ReconcileMigrate(ObjectStore& store, AgentDirectory& agents,
                                                 UsbAgents* usb, const Json& op, absl::Time now) {
  return Migration(store, agents, usb, op, now).Run();
}

}  // namespace berth::controller
