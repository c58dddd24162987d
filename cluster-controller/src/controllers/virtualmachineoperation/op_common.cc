#include "controllers/virtualmachineoperation/op_common.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "berth/controller/status_util.h"
#include "berth/kinds.h"
#include "berth/quantity.h"
#include "berth/status_macros.h"
#include "controllers/common/vm_common.h"
#include "controllers/virtualmachineoperation/vmop_machine.h"

namespace berth::controller {

Mode ParseMode(const std::string& mode) {
  if (mode == "DryRun") return Mode::kDryRun;
  if (mode == "BestEffort") return Mode::kBestEffort;
  return Mode::kStrict;
}

void ResourceList::Add(const std::string& kind, const std::string& name, ResourceState status,
                       const std::string& message) {
  Json e = {{"apiVersion", kind == kinds::kSecret ? "v1" : kApiVersion},
            {"kind", kind},
            {"name", name},
            {"status", types::Name(status)}};
  if (!message.empty()) e["message"] = message;
  if (status == ResourceState::kFailed) ++conflicts_;
  entries_.push_back(std::move(e));
}

std::string ResourceList::ConflictSummary() const {
  std::vector<std::string> out;
  for (const Json& e : entries_) {
    types::VirtualMachineOperationResource entry(e);
    if (entry.status() == ResourceState::kFailed) out.push_back(entry.message());
  }
  return absl::StrJoin(out, "; ");
}

namespace {

absl::StatusOr<Json> Decode(const Json& secret, const char* key) {
  std::string text = JsonString(secret, (std::string("/data/") + key).c_str());
  if (text.empty()) return Json();
  std::string raw;
  if (!absl::Base64Unescape(text, &raw)) {
    return absl::DataLossError(absl::StrCat("snapshot Secret \"",
                                            JsonString(secret, "/metadata/name"), "\": data.", key,
                                            " is not base64"));
  }
  Json parsed = Json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::DataLossError(absl::StrCat("snapshot Secret \"",
                                            JsonString(secret, "/metadata/name"), "\": data.", key,
                                            " is not JSON"));
  }
  return parsed;
}

// Rebuilds a disk from its snapshot when the payload predates stored disk specs.
Json DiskFromSnapshot(const std::string& name, const Json& vds) {
  Json size = JsonAt(vds, "/status/sizeBytes");
  return {{"apiVersion", kApiVersion},
          {"kind", "VirtualDisk"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"persistentVolumeClaim",
             {{"size", FormatQuantity(size.is_number() ? size.get<uint64_t>() : 0)}}}}}};
}

}  // namespace

absl::StatusOr<SnapshotPayload> LoadPayload(ObjectStore& store, const Json& snap) {
  std::string ns = JsonString(snap, "/metadata/namespace");
  std::string name = JsonString(snap, "/metadata/name");
  if (JsonString(snap, "/status/phase") != "Ready") {
    return absl::FailedPreconditionError(
        absl::StrCat("VirtualMachineSnapshot \"", name, "\" is not Ready"));
  }
  SnapshotPayload p;
  p.snapshot_name = name;
  p.snapshot_uid = JsonString(snap, "/metadata/uid");
  std::string secret_name = JsonString(snap, "/status/virtualMachineSnapshotSecretName");
  auto secret = store.Get(ObjectKey{"Secret", ns, secret_name});
  if (absl::IsNotFound(secret.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the Secret \"", secret_name, "\" of VirtualMachineSnapshot \"", name, "\" is gone"));
  }
  if (!secret.ok()) return secret.status();
  BERTH_ASSIGN_OR_RETURN(p.vm, Decode(*secret, "vm"));
  BERTH_ASSIGN_OR_RETURN(p.ip, Decode(*secret, "vmip"));
  BERTH_ASSIGN_OR_RETURN(p.mac, Decode(*secret, "vmmac"));
  BERTH_ASSIGN_OR_RETURN(p.provisioning, Decode(*secret, "provisioning"));
  BERTH_ASSIGN_OR_RETURN(Json disks, Decode(*secret, "disks"));
  if (!p.vm.is_object()) {
    return absl::DataLossError(absl::StrCat("snapshot Secret \"", secret_name, "\" has no VM"));
  }
  p.vm_uid = JsonString(snap, "/status/virtualMachineUID", JsonString(p.vm, "/metadata/uid"));
  std::map<std::string, Json> stored;
  for (const Json& d : disks.is_array() ? disks : Json::array()) {
    stored[JsonString(d, "/metadata/name")] = d;
  }
  for (const std::string& disk : VmDiskNames(p.vm)) {
    std::string vds_name = absl::StrCat(disk, "-", p.snapshot_uid);
    auto vds = store.Get(ObjectKey{"VirtualDiskSnapshot", ns, vds_name});
    if (!vds.ok() || JsonString(*vds, "/status/phase") != "Ready") {
      return absl::FailedPreconditionError(absl::StrCat("VirtualDiskSnapshot \"", vds_name,
                                                        "\" of VirtualMachineSnapshot \"", name,
                                                        "\" is ", vds.ok() ? "not Ready" : "gone"));
    }
    auto it = stored.find(disk);
    p.disks.push_back(it != stored.end() ? it->second : DiskFromSnapshot(disk, *vds));
    p.disk_snapshots[disk] = vds_name;
  }
  return p;
}

absl::StatusOr<SnapshotPayload> LivePayload(ObjectStore& store, const Json& vm) {
  std::string ns = JsonString(vm, "/metadata/namespace");
  SnapshotPayload p;
  p.vm = Copyable(vm);
  p.vm["metadata"]["uid"] = JsonString(vm, "/metadata/uid");
  p.vm_uid = JsonString(vm, "/metadata/uid");
  for (const std::string& disk : VmDiskNames(vm)) {
    auto d = store.Get(ObjectKey{"VirtualDisk", ns, disk});
    if (absl::IsNotFound(d.status())) {
      return absl::FailedPreconditionError(
          absl::StrCat("VirtualDisk \"", disk, "\" of VirtualMachine \"",
                       JsonString(vm, "/metadata/name"), "\" does not exist"));
    }
    if (!d.ok()) return d.status();
    p.disks.push_back(Copyable(*d));
  }
  if (JsonString(vm, "/spec/provisioning/type") == "UserDataRef") {
    auto s =
        store.Get(ObjectKey{"Secret", ns, JsonString(vm, "/spec/provisioning/userDataRef/name")});
    if (s.ok()) p.provisioning = Copyable(*s);
  }
  return p;
}

Json Copyable(const Json& obj) {
  Json out = {{"apiVersion", obj.value("apiVersion", "")}, {"kind", obj.value("kind", "")}};
  out["metadata"] = {{"name", JsonString(obj, "/metadata/name")}};
  std::string ns = JsonString(obj, "/metadata/namespace");
  if (!ns.empty()) out["metadata"]["namespace"] = ns;
  for (const char* f : {"labels", "annotations"}) {
    Json v = JsonAt(obj, (std::string("/metadata/") + f).c_str());
    if (v.is_object() && !v.empty()) out["metadata"][f] = v;
  }
  if (out["metadata"].contains("annotations")) {
    out["metadata"]["annotations"].erase(kOperationAnnotation);
    out["metadata"]["annotations"].erase(kRestoreResultAnnotation);
    if (out["metadata"]["annotations"].empty()) out["metadata"].erase("annotations");
  }
  for (const char* f : {"spec", "data", "type"}) {
    if (obj.contains(f)) out[f] = obj[f];
  }
  return out;
}

bool StampedBy(const Json& obj, const std::string& op_uid) {
  Json ann = JsonAt(obj, "/metadata/annotations");
  return !op_uid.empty() && ann.is_object() && ann.value(kOperationAnnotation, "") == op_uid;
}

void Stamp(Json& obj, const std::string& op_uid) {
  obj["metadata"]["annotations"][kOperationAnnotation] = op_uid;
}

std::vector<std::pair<std::string, std::string>> MissingDependencies(ObjectStore& store,
                                                                     const std::string& ns,
                                                                     const Json& vm) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Json& ref : JsonAt(vm, "/spec/blockDeviceRefs")) {
    std::string kind = ref.value("kind", "");
    if (kind != "VirtualImage" && kind != "ClusterVirtualImage") continue;
    std::string name = ref.value("name", "");
    ObjectKey key{kind, kind == "ClusterVirtualImage" ? "" : ns, name};
    if (absl::IsNotFound(store.Get(key).status())) out.emplace_back(kind, name);
  }
  std::string cls = JsonString(vm, "/spec/virtualMachineClassName");
  if (!cls.empty() &&
      absl::IsNotFound(store.Get(ObjectKey{"VirtualMachineClass", "", cls}).status())) {
    out.emplace_back("VirtualMachineClass", cls);
  }
  return out;
}

void DropImageRefs(Json& vm, const std::vector<std::pair<std::string, std::string>>& missing) {
  Json kept = Json::array();
  for (const Json& ref : JsonAt(vm, "/spec/blockDeviceRefs")) {
    bool drop = false;
    for (const auto& [kind, name] : missing) {
      drop = drop || (ref.value("kind", "") == kind && ref.value("name", "") == name);
    }
    if (!drop) kept.push_back(ref);
  }
  vm["spec"]["blockDeviceRefs"] = kept;
}

absl::Status StoreOpStatus(ObjectStore& store, const Json& op, const std::optional<Json>& status,
                           bool add_finalizer) {
  if (!status) return absl::OkStatus();
  Json written;
  if (add_finalizer) {
    BERTH_ASSIGN_OR_RETURN(Json held, AddFinalizer(store, op, kOperationFinalizer));
    BERTH_ASSIGN_OR_RETURN(written, WriteStatus(store, held, *status));
  } else {
    BERTH_ASSIGN_OR_RETURN(written, WriteStatus(store, op, *status));
  }
  // The phase names of VirtualMachineSnapshotOperation are the same.
  if (!vmop::Terminal(types::VirtualMachineOperationStatus(*status).phase())) {
    return absl::OkStatus();
  }
  return RemoveFinalizer(store, written, kOperationFinalizer).status();
}

std::vector<ObjectKey> ActiveOperations(ObjectStore& store, const std::string& kind,
                                        const std::string& ns, bool (*terminal)(const Json&)) {
  std::vector<ObjectKey> keys;
  auto ops = store.List(kind, ns);
  if (!ops.ok()) return keys;
  for (const Json& op : *ops) {
    if (!terminal(op) || IsDeleting(op)) keys.push_back(ObjectKey::Of(op));
  }
  return keys;
}

absl::StatusOr<bool> OtherOperationInProgress(ObjectStore& store, const Json& op) {
  types::VirtualMachineOperation self(op);
  BERTH_ASSIGN_OR_RETURN(std::vector<Json> ops,
                         store.List(kinds::kVirtualMachineOperation, self.namespace_()));
  for (const Json& json : ops) {
    types::VirtualMachineOperation other(json);
    if (other.uid() == self.uid()) continue;
    if (other.spec().virtual_machine_name() != self.spec().virtual_machine_name()) continue;
    if (other.status().phase() == vmop::Phase::kInProgress) return true;
  }
  return false;
}

}  // namespace berth::controller
