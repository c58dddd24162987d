// DataExport: asks the agent holding a VirtualDisk's or VirtualDiskSnapshot's data to serve it
// over HTTPS for a while. Pending -> Ready -> Expired (or Failed). The agent's lease is idle
// time: each request extends it, so a long download does not expire mid-way; the controller
// follows the agent's expiry and releases the export (StopExport) when it has run out or when
// the object is deleted (finalizer).
#include "absl/strings/str_cat.h"
#include "berth/controller/controllers.h"
#include "berth/controller/data_export.h"
#include "berth/controller/status_util.h"
#include "berth/status_macros.h"
#include "berth/time_util.h"

namespace berth::controller {
namespace {

constexpr absl::Duration kPendingPoll = absl::Seconds(1);
constexpr absl::Duration kMaxReadyPoll = absl::Seconds(10);

// Where the data lives, once the target is resolved.
struct Target {
  std::string node;
  agentpb::StartExportRequest request;
};

class DataExportReconciler : public Reconciler {
 public:
  DataExportReconciler(ObjectStore& store, ExportAgents& exports, const Clock& clock)
      : store_(store), exports_(exports), clock_(clock) {}

  std::string Kind() const override { return "DataExport"; }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    Json obj = *std::move(got);
    if (IsDeleting(obj)) return Finalize(obj);
    std::string phase = JsonString(obj, "/status/phase");
    if (phase == "Failed" || phase == "Expired") return ReconcileResult{};
    BERTH_ASSIGN_OR_RETURN(obj, AddFinalizer(store_, obj, kExportFinalizer));
    if (phase == "Ready") return FollowLease(obj);
    return StartServing(obj);
  }

 private:
  absl::StatusOr<ReconcileResult> Finalize(const Json& obj) {
    std::string node = JsonString(obj, "/status/node");
    if (!node.empty() && HasFinalizer(obj, kExportFinalizer)) {
      auto stopped = exports_.StopExport(node, JsonString(obj, "/metadata/uid"));
      // A node that no longer exists holds no data to release.
      bool node_gone = absl::IsNotFound(store_.Get(ObjectKey{"Node", "", node}).status());
      if (!stopped.ok() && !node_gone) return stopped.status();
    }
    BERTH_RETURN_IF_ERROR(RemoveFinalizer(store_, obj, kExportFinalizer).status());
    return ReconcileResult{};
  }

  absl::StatusOr<ReconcileResult> SetPhase(const Json& obj, const std::string& phase,
                                           const std::string& reason, const std::string& msg,
                                           absl::Duration requeue = absl::ZeroDuration()) {
    Json status = obj.value("status", Json::object());
    status["phase"] = phase;
    SetCondition(status, "Ready", phase == "Ready", reason, msg, obj, clock_.Now());
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, obj, status).status());
    return ReconcileResult{requeue};
  }

  // Returns the VirtualMachine that has `disk` attached and is not stopped, if any.
  absl::StatusOr<std::string> RunningVmUsing(const std::string& ns, const std::string& disk) {
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> vms, store_.List("VirtualMachine", ns));
    for (const Json& vm : vms) {
      std::string phase = JsonString(vm, "/status/phase");
      if (phase.empty() || phase == "Stopped") continue;
      for (const Json& ref : JsonAt(vm, "/spec/blockDeviceRefs")) {
        if (ref.is_object() && ref.value("kind", "") == "VirtualDisk" &&
            ref.value("name", "") == disk) {
          return absl::StrCat(JsonString(vm, "/metadata/name"), "\" is ", phase);
        }
      }
    }
    return std::string();
  }

  // FailedPrecondition: wait; InvalidArgument: Failed with the message.
  absl::StatusOr<Target> ResolveTarget(const Json& obj) {
    std::string ns = JsonString(obj, "/metadata/namespace");
    std::string kind = JsonString(obj, "/spec/targetRef/kind");
    std::string name = JsonString(obj, "/spec/targetRef/name");
    auto target = store_.Get(ObjectKey{kind, ns, name});
    if (absl::IsNotFound(target.status())) {
      return absl::InvalidArgumentError(absl::StrCat(kind, " \"", name, "\" not found"));
    }
    if (!target.ok()) return target.status();
    if (JsonString(*target, "/status/phase") != "Ready") {
      return absl::FailedPreconditionError(
          absl::StrCat("waiting for ", kind, " \"", name, "\" to be Ready"));
    }
    Target t;
    t.node = JsonString(*target, "/status/node");
    t.request.set_id(JsonString(obj, "/metadata/uid"));
    t.request.set_pool(JsonString(*target, "/status/pool"));
    BERTH_RETURN_IF_ERROR(ResolveSince(obj, *target, t));
    if (kind == "VirtualDiskSnapshot") {
      t.request.set_snapshot_id(JsonString(*target, "/metadata/uid"));
      return t;
    }
    BERTH_ASSIGN_OR_RETURN(std::string vm, RunningVmUsing(ns, name));
    if (!vm.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "VirtualDisk \"", name, "\" is in use: VirtualMachine \"", vm,
          "; stop the VM first (or export a VirtualDiskSnapshot of the disk, which is always "
          "allowed)"));
    }
    t.request.set_volume_id(JsonString(*target, "/metadata/uid"));
    return t;
  }

  // spec.since: the snapshot an incremental export is compared with. On the target's node and
  // pool the agent compares with it directly (extent maps); elsewhere the client's leaf digests
  // do. FailedPrecondition: wait; InvalidArgument: Failed with the message.
  absl::Status ResolveSince(const Json& obj, const Json& target, Target& t) {
    std::string name = JsonString(obj, "/spec/since/name");
    if (name.empty()) return absl::OkStatus();
    std::string ns = JsonString(obj, "/metadata/namespace");
    auto since = store_.Get(ObjectKey{"VirtualDiskSnapshot", ns, name});
    if (absl::IsNotFound(since.status())) {
      return absl::InvalidArgumentError(absl::StrCat("spec.since: VirtualDiskSnapshot \"", name,
                                                     "\" not found in namespace \"", ns, "\""));
    }
    if (!since.ok()) return since.status();
    if (JsonString(*since, "/status/phase") != "Ready") {
      return absl::FailedPreconditionError(
          absl::StrCat("waiting for VirtualDiskSnapshot \"", name, "\" (spec.since) to be Ready"));
    }
    if (JsonString(target, "/kind") == "VirtualDiskSnapshot" &&
        ParseRfc3339(JsonString(*since, "/metadata/creationTimestamp")) >
            ParseRfc3339(JsonString(target, "/metadata/creationTimestamp"))) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.since: VirtualDiskSnapshot \"", name, "\" was taken after \"",
                       JsonString(target, "/metadata/name"),
                       "\"; an incremental export goes from an older snapshot to a newer one"));
    }
    if (JsonString(*since, "/status/node") == t.node &&
        JsonString(*since, "/status/pool") == t.request.pool()) {
      t.request.set_since_snapshot_id(JsonString(*since, "/metadata/uid"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ReconcileResult> StartServing(const Json& obj) {
    absl::Duration ttl;
    if (!absl::ParseDuration(JsonString(obj, "/spec/ttl", "2m"), &ttl) ||
        ttl <= absl::ZeroDuration()) {
      return SetPhase(obj, "Failed", "InvalidTTL", "spec.ttl is not a positive duration");
    }
    auto target = ResolveTarget(obj);
    if (absl::IsFailedPrecondition(target.status())) {
      return SetPhase(obj, "Pending", "WaitingForTarget", std::string(target.status().message()),
                      kPendingPoll);
    }
    if (absl::IsInvalidArgument(target.status())) {
      return SetPhase(obj, "Failed", "ExportRefused", std::string(target.status().message()));
    }
    if (!target.ok()) return target.status();
    target->request.set_ttl_seconds(std::max<int64_t>(1, absl::ToInt64Seconds(ttl)));
    auto info = exports_.StartExport(target->node, target->request);
    if (absl::IsNotFound(info.status()) || absl::IsInvalidArgument(info.status())) {
      return SetPhase(obj, "Failed", "ExportFailed", std::string(info.status().message()));
    }
    if (!info.ok()) return info.status();
    Json status = obj.value("status", Json::object());
    status["node"] = target->node;
    status["url"] = info->url();
    status["publicURL"] = info->public_url();
    status["token"] = info->token();
    status["caCert"] = info->ca_cert();
    status["sizeBytes"] = info->size_bytes();
    return WriteReady(obj, status, *info);
  }

  absl::StatusOr<ReconcileResult> WriteReady(const Json& obj, Json status,
                                             const agentpb::ExportInfo& info) {
    absl::Time expires = absl::FromUnixSeconds(info.expires_at_unix());
    status["phase"] = "Ready";
    status["expiresAt"] = FormatRfc3339(expires);
    SetCondition(status, "Ready", true, "Serving", "", obj, clock_.Now());
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, obj, status).status());
    return ReconcileResult{NextCheck(expires)};
  }

  absl::Duration NextCheck(absl::Time expires) const {
    absl::Duration d = expires - clock_.Now() + absl::Seconds(1);
    return std::clamp(d, absl::Seconds(1), kMaxReadyPoll);
  }

  // Follows the agent's idle lease; releases the export once it has run out.
  absl::StatusOr<ReconcileResult> FollowLease(const Json& obj) {
    std::string node = JsonString(obj, "/status/node");
    std::string uid = JsonString(obj, "/metadata/uid");
    auto info = exports_.GetExport(node, uid);
    if (absl::IsUnavailable(info.status())) return ReconcileResult{kMaxReadyPoll};
    bool gone = absl::IsNotFound(info.status());
    if (!gone && !info.ok()) return info.status();
    if (gone || info->state() == "Expired") {
      BERTH_RETURN_IF_ERROR(exports_.StopExport(node, uid).status());
      return SetPhase(obj, "Expired", "Expired",
                      gone ? "the node no longer serves this export (agent restarted?)"
                           : "the export's time to live ran out; create a new export");
    }
    return WriteReady(obj, obj.value("status", Json::object()), *info);
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
