// Admission for storage kinds: VirtualDisk, VirtualDiskSnapshot, VirtualImage,
// ClusterVirtualImage, and the dataSource block they share.
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/admission_internal.h"
#include "berth/quantity.h"

namespace berth::controller::admission_internal {
namespace {

enum class SourceOwner { kDisk, kImage, kClusterImage };

const Strings& ObjectRefKinds(SourceOwner owner) {
  static const Strings kDisk = {"VirtualDiskSnapshot", "VirtualImage", "ClusterVirtualImage"};
  static const Strings kImage = {"ClusterVirtualImage", "VirtualImage", "VirtualDisk",
                                 "VirtualDiskSnapshot"};
  return owner == SourceOwner::kDisk ? kDisk : kImage;
}

NameRule RuleForKind(const std::string& kind) {
  return kind == "VirtualDisk" ? NameRule::kLabel : NameRule::kSubdomain;
}

void ValidateHttpSource(Obj& http) {
  http.Allow({"url", "checksum", "caBundle"});
  if (const std::string* url = http.Str("url", Need::kRequired)) {
    if (!absl::StartsWith(*url, "http://") && !absl::StartsWith(*url, "https://")) {
      http.Error("url", InvalidValue(*url, "must be an http:// or https:// URL"));
    }
  }
  if (std::optional<Obj> sum = http.Sub("checksum", Need::kOptional)) {
    sum->Allow({"md5", "sha256"});
    sum->Str("md5", Need::kOptional);
    sum->Str("sha256", Need::kOptional);
  }
  http.Str("caBundle", Need::kOptional);
}

void ValidateContainerImageSource(Obj& image) {
  image.Allow({"image", "imagePullSecret", "caBundle"});
  image.Str("image", Need::kRequired);
  if (std::optional<Obj> secret = image.Sub("imagePullSecret", Need::kOptional)) {
    secret->Allow({"name"});
    secret->Name("name", NameRule::kSubdomain, Need::kRequired);
  }
  image.Str("caBundle", Need::kOptional);
}

void ValidateObjectRef(Obj& ref, SourceOwner owner) {
  if (owner == SourceOwner::kClusterImage) {
    ref.Allow({"kind", "name", "namespace"});
  } else {
    ref.Allow({"kind", "name"});
  }
  const std::string* kind = ref.Enum("kind", ObjectRefKinds(owner), Need::kRequired);
  ref.Name("name", kind != nullptr ? RuleForKind(*kind) : NameRule::kSubdomain, Need::kRequired);
  if (owner != SourceOwner::kClusterImage || kind == nullptr) return;
  // A cluster-wide image may copy a namespaced object, which then needs its namespace.
  if (*kind == "ClusterVirtualImage") {
    if (ref.Has("namespace")) {
      ref.Error("namespace", "Forbidden: ClusterVirtualImage is cluster-scoped");
    }
  } else {
    ref.Name("namespace", NameRule::kLabel, Need::kRequired);
  }
}

// Checks the member `key` required when type == `type_value` and forbidden otherwise.
std::optional<Obj> SourceBlock(Obj& ds, const char* key, const std::string* type,
                               const char* type_value) {
  bool wanted = type != nullptr && *type == type_value;
  if (!wanted) {
    if (type != nullptr && ds.Has(key)) ds.Error(key, ForbiddenUnlessType(type_value));
    return std::nullopt;
  }
  return ds.Sub(key, Need::kRequired);
}

void ValidateDataSource(Obj& ds, SourceOwner owner) {
  ds.Allow({"type", "http", "containerImage", "objectRef", "upload"});
  const std::string* type =
      ds.Enum("type", {"HTTP", "ContainerImage", "ObjectRef", "Upload"}, Need::kRequired);
  if (std::optional<Obj> http = SourceBlock(ds, "http", type, "HTTP")) ValidateHttpSource(*http);
  if (std::optional<Obj> image = SourceBlock(ds, "containerImage", type, "ContainerImage")) {
    ValidateContainerImageSource(*image);
  }
  if (std::optional<Obj> ref = SourceBlock(ds, "objectRef", type, "ObjectRef")) {
    ValidateObjectRef(*ref, owner);
  }
  // Berth's incremental upload (docs/export.md): the disk starts as a snapshot's data.
  if (ds.Has("upload")) {
    if (type == nullptr || *type != "Upload") {
      ds.Error("upload", ForbiddenUnlessType("Upload"));
    } else if (owner != SourceOwner::kDisk) {
      ds.Error("upload", "Forbidden: only a VirtualDisk upload may start from a snapshot");
    } else if (std::optional<Obj> upload = ds.Sub("upload", Need::kOptional)) {
      upload->Allow({"since"});
      if (std::optional<Obj> since = upload->Sub("since", Need::kRequired)) {
        since->Allow({"kind", "name"});
        since->Enum("kind", {"VirtualDiskSnapshot"}, Need::kRequired);
        since->Name("name", NameRule::kSubdomain, Need::kRequired);
      }
    }
  }
}

void ValidateImage(Obj& top, SourceOwner owner) {
  top.Allow({"apiVersion", "kind", "metadata", "spec"});
  std::optional<Obj> spec = top.Sub("spec", Need::kDefault);
  if (!spec) return;
  if (owner == SourceOwner::kImage) {
    spec->Allow({"storage", "persistentVolumeClaim", "dataSource"});
    if (std::optional<Obj> pvc = spec->Sub("persistentVolumeClaim", Need::kOptional)) {
      pvc->Allow({"storageClassName"});
      pvc->Str("storageClassName", Need::kOptional);
    }
  } else {
    spec->Allow({"storage", "dataSource"});
  }
  spec->Enum("storage", {"ContainerRegistry", "PersistentVolumeClaim", "Kubernetes"},
             Need::kOptional);
  if (std::optional<Obj> ds = spec->Sub("dataSource", Need::kRequired)) {
    ValidateDataSource(*ds, owner);
  }
}

std::string SizeText(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

void ValidateVirtualDisk(Obj& top) {
  top.Allow({"apiVersion", "kind", "metadata", "spec"});
  std::optional<Obj> spec = top.Sub("spec", Need::kDefault);
  if (!spec) return;
  spec->Allow({"persistentVolumeClaim", "dataSource"});
  bool has_size = false;
  if (std::optional<Obj> pvc = spec->Sub("persistentVolumeClaim", Need::kOptional)) {
    pvc->Allow({"size", "storageClassName"});
    has_size = pvc->Has("size");
    pvc->Quantity("size", Need::kOptional);
    pvc->Str("storageClassName", Need::kOptional);
  }
  bool has_source = spec->Has("dataSource");
  if (std::optional<Obj> ds = spec->Sub("dataSource", Need::kOptional)) {
    ValidateDataSource(*ds, SourceOwner::kDisk);
  }
  if (!has_size && !has_source) {
    spec->errs().Add(spec->path(),
                     "Required value: set persistentVolumeClaim.size or dataSource (or both)");
  }
}

void CheckVirtualDiskUpdate(const Json& incoming, const Json& existing, Errors& errs) {
  for (const char* path : {"spec.dataSource", "spec.persistentVolumeClaim.storageClassName"}) {
    if (!SameAt(incoming, existing, path)) errs.Add(path, kImmutable);
  }
  const char kSize[] = "spec.persistentVolumeClaim.size";
  const Json* old_size = AtPath(existing, kSize);
  if (old_size == nullptr) return;
  absl::StatusOr<uint64_t> old_bytes = ParseQuantity(SizeText(*old_size));
  if (!old_bytes.ok()) return;  // the stored object predates a rule; nothing to compare
  const Json* new_size = AtPath(incoming, kSize);
  if (new_size == nullptr) {
    errs.Add(kSize, absl::StrCat("Forbidden: may not be removed once set (current size ",
                                 SizeText(*old_size), ")"));
    return;
  }
  absl::StatusOr<uint64_t> new_bytes = ParseQuantity(SizeText(*new_size));
  if (new_bytes.ok() && *new_bytes < *old_bytes) {
    errs.Add(kSize, InvalidValue(SizeText(*new_size),
                                 absl::StrCat("the disk size may only grow, it cannot shrink below "
                                              "the current size ",
                                              SizeText(*old_size))));
  }
}

void ValidateVirtualDiskSnapshot(Obj& top) {
  top.Allow({"apiVersion", "kind", "metadata", "spec"});
  std::optional<Obj> spec = top.Sub("spec", Need::kDefault);
  if (!spec) return;
  spec->Allow({"virtualDiskName", "requiredConsistency"});
  spec->Name("virtualDiskName", NameRule::kLabel, Need::kRequired);
  spec->Bool("requiredConsistency", true);
}

void CheckSpecImmutable(const Json& incoming, const Json& existing, Errors& errs) {
  if (!SameAt(incoming, existing, "spec")) errs.Add("spec", kImmutable);
}

void ValidateVirtualImage(Obj& top) { ValidateImage(top, SourceOwner::kImage); }

void ValidateClusterVirtualImage(Obj& top) { ValidateImage(top, SourceOwner::kClusterImage); }

}  // namespace berth::controller::admission_internal
