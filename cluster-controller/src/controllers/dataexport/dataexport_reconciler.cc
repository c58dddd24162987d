// DataExport: asks the agent holding a VirtualDisk's or VirtualDiskSnapshot's data to serve it
// over HTTPS for a while. Pending -> Ready -> Expired (or Failed). The state machine itself is
// dataexport_machine.h; this file observes and acts.
#include <optional>

#include "berth/controller/controllers.h"
#include "berth/controller/data_export.h"
#include "berth/controller/status_util.h"
#include "berth/status_macros.h"
#include "controllers/dataexport/dataexport_machine.h"

namespace berth::controller {
namespace {

using types::DataExport;

class DataExportReconciler : public Reconciler {
 public:
  DataExportReconciler(ObjectStore& store, ExportAgents& exports, const Clock& clock)
      : store_(store), exports_(exports), clock_(clock) {}

  std::string Kind() const override { return kinds::kDataExport; }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    Json obj = *std::move(got);
    if (DataExport(obj).deleting()) return Delete(obj);
    if (dataexport::Finished(DataExport(obj))) return ReconcileResult{};
    BERTH_ASSIGN_OR_RETURN(obj, AddFinalizer(store_, obj, kExportFinalizer));
    DataExport e(obj);

    Observed seen;
    if (e.status().phase() == dataexport::Phase::kReady) {
      seen.obs.lease = exports_.GetExport(e.status().node(), e.uid());
    } else {
      Observe(e, seen);
    }

    BERTH_ASSIGN_OR_RETURN(dataexport::Planned planned,
                           dataexport::Plan(e, seen.obs, clock_.Now()));
    if (planned.action == dataexport::Action::kStart) {
      auto info = exports_.StartExport(planned.node, planned.request);
      BERTH_ASSIGN_OR_RETURN(Step<dataexport::Action> done,
                             dataexport::FinishStart(e, planned.node, info, clock_.Now()));
      BERTH_RETURN_IF_ERROR(StoreStep(store_, obj, done).status());
      return done.Result();
    }
    if (planned.action == dataexport::Action::kRelease) {
      BERTH_RETURN_IF_ERROR(exports_.StopExport(e.status().node(), e.uid()).status());
    }
    BERTH_RETURN_IF_ERROR(StoreStep(store_, obj, planned).status());
    return planned.Result();
  }

 private:
  // What a pass read; obs points into the rest.
  struct Observed {
    dataexport::Observation obs;
    std::optional<Json> target, since;
    std::vector<Json> vms;
  };

  // The target, spec.since and, for a VirtualDisk target, the VMs of the namespace.
  void Observe(const DataExport& e, Observed& seen) {
    dataexport::Observation& obs = seen.obs;
    const std::string ns = e.namespace_();
    types::DataExportSpecTargetRef ref = e.spec().target_ref();
    auto got = store_.Get(ObjectKey{std::string(types::Name(ref.kind())), ns, ref.name()});
    if (got.ok()) {
      seen.target = *std::move(got);
      obs.target = &*seen.target;
    } else if (!absl::IsNotFound(got.status())) {
      obs.target_error = got.status();
    }
    std::string since_name = e.spec().since().name();
    if (!since_name.empty()) {
      auto s = store_.Get(ObjectKey{kinds::kVirtualDiskSnapshot, ns, since_name});
      if (s.ok()) {
        seen.since = *std::move(s);
        obs.since = &*seen.since;
      } else if (!absl::IsNotFound(s.status())) {
        obs.since_error = s.status();
      }
    }
    if (ref.kind() != types::DataExportSpecTargetRefKind::kVirtualDiskSnapshot) {
      auto vms = store_.List(kinds::kVirtualMachine, ns);
      if (vms.ok()) {
        seen.vms = *std::move(vms);
        obs.vm_using = dataexport::FindVmUsing(seen.vms, ref.name());
      } else {
        obs.vms_error = vms.status();
      }
    }
  }

  absl::StatusOr<ReconcileResult> Delete(const Json& obj) {
    DataExport e(obj);
    Step<dataexport::Action> step = dataexport::PlanDeletion(e);
    if (step.action == dataexport::Action::kRelease) {
      const std::string node = e.status().node();
      absl::Status stopped = exports_.StopExport(node, e.uid()).status();
      bool node_gone =
          !stopped.ok() && absl::IsNotFound(store_.Get(ObjectKey{kinds::kNode, "", node}).status());
      BERTH_RETURN_IF_ERROR(dataexport::Released(stopped, node_gone));
    }
    BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, obj, kExportFinalizer).status());
    return step.Result();
  }

  ObjectStore& store_;
  ExportAgents& exports_;
  const Clock& clock_;
};

}  // namespace

std::unique_ptr<Reconciler> NewDataExportReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<DataExportReconciler>(deps.store, *deps.exports, deps.clock);
}

}  // namespace berth::controller
