#include "store/object_meta.h"

#include <algorithm>
#include <random>

#include "absl/random/distributions.h"
#include "absl/strings/str_cat.h"
#include "berth/time_util.h"

namespace berth::controller {

ObjectKey ObjectKey::Of(const Json& obj) {
  return ObjectKey{JsonString(obj, "/kind"), JsonString(obj, "/metadata/namespace"),
                   JsonString(obj, "/metadata/name")};
}

const char* EventTypeName(StoreEvent::Type t) {
  switch (t) {
    case StoreEvent::Type::kAdded:
      return "ADDED";
    case StoreEvent::Type::kModified:
      return "MODIFIED";
    case StoreEvent::Type::kDeleted:
      return "DELETED";
  }
  return "UNKNOWN";
}

namespace store {
namespace {

// Returns metadata.<field> or null; never throws (callers validated that metadata is an object).
Json MetaField(const Json& obj, const char* field) {
  auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return Json();
  auto it = meta->find(field);
  return it == meta->end() ? Json() : *it;
}

// Renders a resourceVersion for a conflict message.
std::string VersionText(const Json& v) {
  if (v.is_null()) return "none";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

absl::Status ValidateOwnerReferences(const Json& refs) {
  if (refs.is_null()) return absl::OkStatus();
  if (!refs.is_array()) return absl::InvalidArgumentError("metadata.ownerReferences: not an array");
  for (size_t i = 0; i < refs.size(); ++i) {
    const Json& ref = refs[i];
    auto uid = ref.is_object() ? ref.find("uid") : ref.end();
    if (!ref.is_object() || uid == ref.end() || !uid->is_string() ||
        uid->get_ref<const std::string&>().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata.ownerReferences[", i, "].uid: required string"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string Describe(const ObjectKey& key) {
  if (key.ns.empty()) return absl::StrCat(key.kind, " \"", key.name, "\"");
  return absl::StrCat(key.kind, " \"", key.ns, "/", key.name, "\"");
}

absl::Status ValidateShape(const Json& obj) {
  if (!obj.is_object()) return absl::InvalidArgumentError("object: not a JSON object");
  auto kind = obj.find("kind");
  if (kind == obj.end() || !kind->is_string() || kind->get_ref<const std::string&>().empty()) {
    return absl::InvalidArgumentError("kind: required string");
  }
  auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) {
    return absl::InvalidArgumentError("metadata: required object");
  }
  Json name = MetaField(obj, "name");
  if (!name.is_string() || name.get_ref<const std::string&>().empty()) {
    return absl::InvalidArgumentError("metadata.name: required string");
  }
  Json ns = MetaField(obj, "namespace");
  if (!ns.is_null() && !ns.is_string()) {
    return absl::InvalidArgumentError("metadata.namespace: not a string");
  }
  Json finalizers = MetaField(obj, "finalizers");
  if (!finalizers.is_null()) {
    bool ok = finalizers.is_array() && std::all_of(finalizers.begin(), finalizers.end(),
                                                   [](const Json& f) { return f.is_string(); });
    if (!ok) return absl::InvalidArgumentError("metadata.finalizers: not an array of strings");
  }
  return ValidateOwnerReferences(MetaField(obj, "ownerReferences"));
}

absl::StatusOr<std::string> CheckImport(const ObjectKey& key, const Json& obj) {
  std::string uid = UidOf(obj);
  if (uid.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(key), ": import needs metadata.uid"));
  }
  if (IsDeleting(obj) && !HasFinalizers(obj)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(key), ": deletionTimestamp without finalizers: nothing to import"));
  }
  return uid;
}

std::string NewUuid(absl::BitGen& gen) {
  uint64_t hi = absl::Uniform<uint64_t>(gen);
  uint64_t lo = absl::Uniform<uint64_t>(gen);
  hi = (hi & ~0xf000ULL) | 0x4000ULL;              // version 4
  lo = (lo & ~(0xc0ULL << 56)) | (0x80ULL << 56);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
    uint64_t word = i < 16 ? hi : lo;
    int shift = 60 - 4 * (i % 16);
    out.push_back(kHex[(word >> shift) & 0xf]);
  }
  return out;
}

absl::BitGen SeededBitGen() {
  std::random_device device;  // getrandom(2) on Linux
  std::seed_seq seq{device(), device(), device(), device(), device(), device()};
  return absl::BitGen(seq);
}

void InitNewObject(const std::string& uid, absl::Time now, Json* obj) {
  Json& meta = (*obj)["metadata"];
  meta["uid"] = uid;
  meta["generation"] = 1;
  meta["creationTimestamp"] = FormatRfc3339(now);
  meta.erase("resourceVersion");
  meta.erase("deletionTimestamp");
}

absl::Status CheckResourceVersion(const ObjectKey& key, const Json& stored, const Json& obj) {
  Json have = MetaField(obj, "resourceVersion");
  Json want = MetaField(stored, "resourceVersion");
  if (have.is_string() && have == want) return absl::OkStatus();
  return absl::AbortedError(absl::StrCat("conflict: ", Describe(key), " was modified (have ",
                                         VersionText(have), ", stored ", VersionText(want),
                                         "); re-read and retry"));
}

absl::Status MergeStoreOwned(const ObjectKey& key, const Json& stored, Json* obj) {
  bool was_deleting = IsDeleting(stored);
  bool now_deleting = IsDeleting(*obj);
  if (was_deleting && !now_deleting) {
    return absl::InvalidArgumentError(absl::StrCat(
        Describe(key),
        ": metadata.deletionTimestamp cannot be cleared; the object is being deleted"));
  }
  if (!was_deleting && now_deleting) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(key), ": metadata.deletionTimestamp is set only by Delete"));
  }
  Json& meta = (*obj)["metadata"];
  if (was_deleting) {
    Json old = MetaField(stored, "finalizers");
    for (const Json& f : MetaField(*obj, "finalizers")) {
      if (!old.is_array() || std::find(old.begin(), old.end(), f) == old.end()) {
        return absl::InvalidArgumentError(absl::StrCat(Describe(key), ": cannot add finalizer ",
                                                       f.dump(), " while the object is deleted"));
      }
    }
    meta["deletionTimestamp"] = MetaField(stored, "deletionTimestamp");
  } else {
    meta.erase("deletionTimestamp");  // drops an explicit null
  }
  meta["uid"] = MetaField(stored, "uid");
  meta["creationTimestamp"] = MetaField(stored, "creationTimestamp");
  Json gen = MetaField(stored, "generation");
  int64_t generation = gen.is_number_integer() ? gen.get<int64_t>() : 1;
  if (JsonAt(stored, "/spec") != JsonAt(*obj, "/spec")) ++generation;
  meta["generation"] = generation;
  return absl::OkStatus();
}

bool HasFinalizers(const Json& obj) {
  Json f = MetaField(obj, "finalizers");
  return f.is_array() && !f.empty();
}

bool IsDeleting(const Json& obj) { return !MetaField(obj, "deletionTimestamp").is_null(); }

std::vector<std::string> OwnerUids(const Json& obj) {
  std::vector<std::string> uids;
  Json refs = MetaField(obj, "ownerReferences");
  if (!refs.is_array()) return uids;
  for (const Json& ref : refs) {
    std::string uid = JsonString(ref, "/uid");
    if (uid.empty() || std::find(uids.begin(), uids.end(), uid) != uids.end()) continue;
    uids.push_back(uid);
  }
  return uids;
}

std::string UidOf(const Json& obj) { return JsonString(obj, "/metadata/uid"); }

void SetResourceVersion(uint64_t version, Json* obj) {
  (*obj)["metadata"]["resourceVersion"] = std::to_string(version);
}

std::optional<StoreEvent::Type> ParseEventType(const std::string& name) {
  for (StoreEvent::Type t :
       {StoreEvent::Type::kAdded, StoreEvent::Type::kModified, StoreEvent::Type::kDeleted}) {
    if (name == EventTypeName(t)) return t;
  }
  return std::nullopt;
}

}  // namespace store
}  // namespace berth::controller
