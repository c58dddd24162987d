#include "controllers/virtualimage/vi_machine.h"

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "berth/quantity.h"
#include "berth/status_macros.h"

namespace berth::controller::vi {
namespace {

// What an ObjectRef source says about its data.
struct Source {
  bool ready = false;
  std::string node, pool, uid;
  uint64_t size_bytes = 0;
};

template <typename View>
Source SourceAs(const Json& obj) {
  View v(obj);
  auto st = v.status();
  return Source{st.phase() == View::Phase::kReady, st.node(), st.pool(), v.uid(),
                static_cast<uint64_t>(st.size_bytes())};
}

Source SourceOf(const std::string& kind, const Json& obj) {
  if (kind == kinds::kVirtualDiskSnapshot) return SourceAs<types::VirtualDiskSnapshot>(obj);
  if (kind == kinds::kVirtualDisk) return SourceAs<types::VirtualDisk>(obj);
  if (kind == kinds::kVirtualImage) return SourceAs<types::VirtualImage>(obj);
  return SourceAs<types::ClusterVirtualImage>(obj);
}

// A VirtualImage's sources are in its namespace (admission refuses objectRef.namespace); a
// ClusterVirtualImage names theirs.
std::string SourceNamespace(const types::VirtualImage& image) { return image.namespace_(); }
std::string SourceNamespace(const types::ClusterVirtualImage& image) {
  return image.spec().data_source().object_ref().namespace_();
}

// spec.persistentVolumeClaim.storageClassName, else the default class. ClusterVirtualImages
// have no spec.persistentVolumeClaim.
std::string StorageClass(const types::VirtualImage& image, const ControllerConfig& config) {
  types::VirtualImageSpecPersistentVolumeClaim pvc = image.spec().persistent_volume_claim();
  return pvc.has_storage_class_name() ? pvc.storage_class_name() : config.default_storage_class;
}
std::string StorageClass(const types::ClusterVirtualImage&, const ControllerConfig& config) {
  return config.default_storage_class;
}

template <typename Image>
bool IsObjectRef(const Image& image) {
  using Type = decltype(image.spec().data_source().type());
  return image.spec().data_source().type() == Type::kObjectRef;
}

// The stored status Pending, its Ready condition false with `reason`.
template <typename Image>
Planned Pending(const Image& image, const char* reason, const std::string& message, absl::Time now,
                absl::Duration requeue = absl::ZeroDuration()) {
  Json status = image.status().json();
  StatusWriter<Image> w(status);
  w.set_phase(decltype(w.phase())::kPending);
  SetCondition(status, kReady, false, reason, message, image.json(), now);
  Planned p;
  p.status = std::move(status);
  p.requeue = requeue;
  return p;
}

// A copy of another disk, snapshot or image, on the node and in the pool that hold it.
template <typename Image>
absl::StatusOr<Planned> PlanCopy(const Image& image, const Observation& obs, absl::Time now) {
  auto ref = image.spec().data_source().object_ref();
  const std::string kind(types::Name(ref.kind()));
  const std::string name = ref.name();
  BERTH_RETURN_IF_ERROR(obs.source_error);
  Source src = obs.source != nullptr ? SourceOf(kind, *obs.source) : Source{};
  if (!src.ready) {
    return Pending(
        image, kReasonWaitingForSource,
        absl::StrCat(kind, " \"", name, "\" is ", obs.source != nullptr ? "not Ready" : "missing"),
        now, kPendingPoll);
  }
  if (kind == kinds::kVirtualDisk) {
    BERTH_RETURN_IF_ERROR(obs.vms_error);
    if (obs.running_vm != nullptr) {
      return Pending(
          image, kReasonSourceInUse,
          absl::StrCat("VirtualDisk \"", name, "\" is attached to running VirtualMachine \"",
                       types::VirtualMachine(*obs.running_vm).name(),
                       "\"; stop it to make an image of the disk"),
          now, kPendingPoll);
    }
  }
  Planned p;
  p.add_finalizer = true;
  if (image.status().node().empty()) {  // recorded before any agent call
    Json status = image.status().json();
    StatusWriter<Image> w(status);
    w.set_node(src.node);
    w.set_pool(src.pool);
    w.set_phase(decltype(w.phase())::kProvisioning);
    SetCondition(status, kReady, false, kReasonProvisioning,
                 absl::StrCat("copying ", kind, " \"", name, "\""), image.json(), now);
    p.status = std::move(status);
    return p;
  }
  p.action = Action::kCopy;
  p.copy.node = src.node;
  p.copy.volume.set_pool(src.pool);
  p.copy.volume.set_id(image.uid());
  p.copy.volume.set_size_bytes(src.size_bytes);
  p.copy.volume.set_source_snapshot_pool(src.pool);
  if (kind == kinds::kVirtualDiskSnapshot) {
    p.copy.volume.set_source_snapshot_id(src.uid);
  } else {
    p.copy.cut_volume_id = src.uid;
    p.copy.temp_snapshot_id = absl::StrCat("image-", image.uid());
  }
  return p;
}

}  // namespace

template <typename Image>
bool Finished(const Image& image) {
  auto phase = image.status().phase();
  using Phase = decltype(phase);
  return phase == Phase::kReady || phase == Phase::kFailed;
}

template <typename Image>
bool IsUpload(const Image& image) {
  using Type = decltype(image.spec().data_source().type());
  return image.spec().data_source().type() == Type::kUpload;
}

template <typename Image>
ObjectKey SourceKey(const Image& image) {
  if (!IsObjectRef(image)) return ObjectKey{};
  auto ref = image.spec().data_source().object_ref();
  std::string kind(types::Name(ref.kind()));
  return ObjectKey{kind, kind == kinds::kClusterVirtualImage ? "" : SourceNamespace(image),
                   ref.name()};
}

template <typename Image>
absl::StatusOr<Planned> Plan(const Image& image, const Observation& obs,
                             const ControllerConfig& config, bool uploads, absl::Time now) {
  if (IsObjectRef(image)) return PlanCopy(image, obs, now);
  if (!IsUpload(image) || !uploads) {
    return Pending(image, kReasonDataSourceNotSupported,
                   absl::StrCat("dataSource type \"",
                                std::string(types::Name(image.spec().data_source().type())),
                                "\" is not supported by Berth yet; use Upload"),
                   now);
  }
  Planned p;
  if (image.status().node().empty()) {
    // The pool and node are chosen and recorded before any agent call.
    std::string cls = StorageClass(image, config);
    auto pool = config.storage_classes.find(cls);
    if (pool == config.storage_classes.end()) {
      p = Pending(image, kReasonStorageClassNotFound,
                  absl::StrCat("storage class \"", cls, "\" is not configured"), now,
                  kStorageClassPoll);
    } else {
      p.action = Action::kPickNode;
      p.pool = pool->second;
      p.storage_class = cls;
    }
  } else {
    p.action = Action::kUpload;
    p.upload = UploadVolume{kPlaceholderSize, /*resizable=*/true, config.upload_ttl,
                            /*since_snapshot_id=*/""};
  }
  p.add_finalizer = true;
  return p;
}

std::string FirstServing(const std::vector<Json>& nodes, const std::string& pool) {
  for (const Json& n : nodes) {
    types::Node node(n);
    if (!node.status().conditions().IsTrue(node::kReady)) continue;
    for (const Json& p : node.status().pools()) {
      if (p.is_object() && p.value("name", "") == pool) return node.name();
    }
  }
  return "";
}

template <typename Image>
Step<Action> Place(const Image& image, const std::vector<Json>& nodes, const std::string& pool,
                   const std::string& storage_class, absl::Time now) {
  std::string best = FirstServing(nodes, pool);
  if (best.empty()) {
    return Pending(image, kReasonWaitingForNode,
                   absl::StrCat("no Ready node serves storage pool \"", pool, "\""), now,
                   kPendingPoll);
  }
  Json status = image.status().json();
  StatusWriter<Image> w(status);
  w.set_node(best);
  w.set_pool(pool);
  w.set_storage_class_name(storage_class);
  w.set_phase(decltype(w.phase())::kProvisioning);
  SetCondition(status, kReady, false, kReasonProvisioning, "creating the volume", image.json(),
               now);
  Step<Action> step;
  step.status = std::move(status);
  return step;
}

template <typename Image>
absl::StatusOr<Step<Action>> FinishCopy(const Image& image,
                                        const absl::StatusOr<agentpb::Volume>& vol,
                                        absl::Time now) {
  const absl::Status& s = vol.status();
  if (absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) || absl::IsNotFound(s)) {
    Json status = image.status().json();
    StatusWriter<Image> w(status);
    w.set_phase(decltype(w.phase())::kFailed);
    SetCondition(status, kReady, false, kReasonProvisioningFailed, std::string(s.message()),
                 image.json(), now);
    Step<Action> step;
    step.status = std::move(status);
    return step;
  }
  if (!vol.ok()) return s;
  Json status = image.status().json();
  StatusWriter<Image> w(status);
  w.set_phase(decltype(w.phase())::kReady);
  w.set_path(vol->path());
  w.set_size_bytes(static_cast<int64_t>(vol->size_bytes()));
  std::string size = FormatQuantity(vol->size_bytes());
  w.set_size(Json{{"stored", size}, {"unpacked", size}});
  SetCondition(status, kReady, true, kReasonReady, "", image.json(), now);
  Step<Action> step;
  step.status = std::move(status);
  return step;
}

template <typename Image>
Step<Action> WithSize(const Image& image) {
  Step<Action> step;
  using Phase = decltype(image.status().phase());
  if (image.status().phase() != Phase::kReady) return step;
  Json status = image.status().json();
  std::string size = FormatQuantity(static_cast<uint64_t>(image.status().size_bytes()));
  StatusWriter<Image>(status).set_size(Json{{"stored", size}, {"unpacked", size}});
  step.status = std::move(status);
  return step;
}

template <typename Image>
Step<Action> PlanDeletion(const Image& image) {
  Step<Action> step;
  step.action = !image.status().node().empty() && image.metadata().HasFinalizer(kVolumeFinalizer)
                    ? Action::kDelete
                    : Action::kRemoveFinalizer;
  return step;
}

#define BERTH_VI_INSTANTIATE(Image)                                                                \
  template bool Finished(const Image&);                                                            \
  template bool IsUpload(const Image&);                                                            \
  template ObjectKey SourceKey(const Image&);                                                      \
  template absl::StatusOr<Planned> Plan(const Image&, const Observation&, const ControllerConfig&, \
                                        bool, absl::Time);                                         \
  template Step<Action> Place(const Image&, const std::vector<Json>&, const std::string&,          \
                              const std::string&, absl::Time);                                     \
  template absl::StatusOr<Step<Action>> FinishCopy(                                                \
      const Image&, const absl::StatusOr<agentpb::Volume>&, absl::Time);                           \
  template Step<Action> WithSize(const Image&);                                                    \
  template Step<Action> PlanDeletion(const Image&);

BERTH_VI_INSTANTIATE(types::VirtualImage)
BERTH_VI_INSTANTIATE(types::ClusterVirtualImage)
#undef BERTH_VI_INSTANTIATE

}  // namespace berth::controller::vi
