// Copying every object from one store into another, and comparing two stores.

#include "store/store_copy.h"

#include <algorithm>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "berth/controller/store_copy.h"
#include "berth/status_macros.h"
#include "store/object_meta.h"

namespace berth::controller {
namespace store {
namespace {

// Longest value shown in a difference.
constexpr size_t kShownValue = 60;

std::string Shown(const Json* v) {
  if (v == nullptr) return "(absent)";
  std::string text = v->dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > kShownValue) text = text.substr(0, kShownValue - 3) + "...";
  return text;
}

std::string PointerToken(const std::string& key) {
  return absl::StrReplaceAll(key, {{"~", "~0"}, {"/", "~1"}});
}

std::string Differ(const std::string& path, const Json* a, const Json* b) {
  return absl::StrCat(path.empty() ? "/" : path, ": ", Shown(a), " vs ", Shown(b));
}

std::optional<std::string> DiffAt(const Json& a, const Json& b, const std::string& path) {
  if (a.is_object() && b.is_object()) {
    const bool in_metadata = path == "/metadata";
    // Json keeps members in key order: walk both at once.
    auto ia = a.begin(), ib = b.begin();
    while (ia != a.end() || ib != b.end()) {
      const bool take_a = ib == b.end() || (ia != a.end() && ia.key() < ib.key());
      const bool take_b = ia == a.end() || (ib != b.end() && ib.key() < ia.key());
      const std::string& key = take_a ? ia.key() : ib.key();
      const bool skip = in_metadata && key == "resourceVersion";
      std::string child = absl::StrCat(path, "/", PointerToken(key));
      if (take_a) {
        if (!skip) return Differ(child, &*ia, nullptr);
        ++ia;
      } else if (take_b) {
        if (!skip) return Differ(child, nullptr, &*ib);
        ++ib;
      } else {
        if (!skip) {
          if (std::optional<std::string> d = DiffAt(*ia, *ib, child)) return d;
        }
        ++ia;
        ++ib;
      }
    }
    return std::nullopt;
  }
  if (a.is_array() && b.is_array()) {
    const size_t common = std::min(a.size(), b.size());
    for (size_t i = 0; i < common; ++i) {
      if (std::optional<std::string> d = DiffAt(a[i], b[i], absl::StrCat(path, "/", i))) return d;
    }
    if (a.size() == b.size()) return std::nullopt;
    std::string child = absl::StrCat(path, "/", common);
    return a.size() > common ? Differ(child, &a[common], nullptr)
                             : Differ(child, nullptr, &b[common]);
  }
  if (a == b) return std::nullopt;
  return Differ(path, &a, &b);
}

// Every object of `store` at one version (set in *version).
absl::StatusOr<ObjectStore::SharedObjects> ListEverything(ObjectStore& store,
                                                          const std::string& name,
                                                          uint64_t* version) {
  absl::StatusOr<ObjectStore::SharedObjects> all = store.ListAll(version);
  if (!all.ok()) {
    return absl::Status(all.status().code(),
                        absl::StrCat("list store ", name, ": ", all.status().message()));
  }
  return all;
}

// Imports `obj` into `to`; returns its destination resourceVersion. An import whose outcome is
// unknown (the connection broke) is looked up: done if the object is there with its uid, tried
// again if absent.
absl::StatusOr<uint64_t> ImportOne(ObjectStore& to, const Json& obj) {
  constexpr int kAttempts = 4;
  const ObjectKey key = ObjectKey::Of(obj);
  const std::string uid = UidOf(obj);
  bool uncertain = false;  // an earlier attempt may have committed
  absl::Status last;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    absl::StatusOr<Json> stored = to.Import(obj);
    if (stored.ok()) return ResourceVersionOf(*stored);
    last = stored.status();
    const bool unknown = absl::IsUnavailable(last) || absl::IsDeadlineExceeded(last);
    if (!unknown && !(uncertain && absl::IsAlreadyExists(last))) break;
    uncertain = true;
    absl::StatusOr<std::shared_ptr<const Json>> now = to.Peek(key);
    if (now.ok() && UidOf(**now) == uid) return ResourceVersionOf(**now);
    if (!unknown) break;
  }
  return absl::Status(last.code(), absl::StrCat("import ", Describe(key), ": ", last.message()));
}

struct Entry {
  std::tuple<std::string, std::string, std::string> key;  // kind, namespace, name
  const Json* obj;
};

std::vector<Entry> ByKey(const ObjectStore::SharedObjects& objects) {
  std::vector<Entry> out;
  out.reserve(objects.size());
  for (const auto& obj : objects) {
    ObjectKey k = ObjectKey::Of(*obj);
    out.push_back(Entry{{k.kind, k.ns, k.name}, obj.get()});
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.key < b.key; });
  return out;
}

std::string Named(const Entry& e) {
  return Describe(ObjectKey{std::get<0>(e.key), std::get<1>(e.key), std::get<2>(e.key)});
}

}  // namespace

absl::StatusOr<uint64_t> ResourceVersionOf(const Json& obj) {
  std::string text = JsonString(obj, "/metadata/resourceVersion");
  uint64_t rv = 0;
  if (!absl::SimpleAtoi(text, &rv)) {
    return absl::InvalidArgumentError(absl::StrCat(
        Describe(ObjectKey::Of(obj)), ": metadata.resourceVersion \"", text, "\" is not a number"));
  }
  return rv;
}

std::optional<std::string> FirstDifference(const Json& a, const Json& b) {
  return DiffAt(a, b, "");
}

}  // namespace store

absl::Status VerifyReport::ToStatus() const {
  if (identical()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "stores differ: ", missing, " missing, ", extra, " extra, ", different, " different, ",
      out_of_order, " out of order (of ", from_objects, " and ", to_objects, " objects)"));
}

absl::StatusOr<CopyResult> CopyStore(ObjectStore& from, ObjectStore& to,
                                     const CopyOptions& options) {
  uint64_t to_version = 0;
  BERTH_ASSIGN_OR_RETURN(ObjectStore::SharedObjects existing,
                         store::ListEverything(to, options.to_name, &to_version));
  if (!existing.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("destination store ", options.to_name, " is not empty: ", existing.size(),
                     " objects (e.g. ", store::Describe(ObjectKey::Of(*existing.front())),
                     "); copy only into a new or emptied store"));
  }
  CopyResult result;
  BERTH_ASSIGN_OR_RETURN(ObjectStore::SharedObjects objects,
                         store::ListEverything(from, options.from_name, &result.source_version));
  std::vector<std::pair<uint64_t, const Json*>> order;
  order.reserve(objects.size());
  for (const auto& obj : objects) {
    absl::StatusOr<uint64_t> rv = store::ResourceVersionOf(*obj);
    if (!rv.ok()) {
      return absl::Status(rv.status().code(),
                          absl::StrCat("store ", options.from_name, ": ", rv.status().message()));
    }
    order.emplace_back(*rv, obj.get());
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [from_rv, obj] : order) {
    absl::StatusOr<uint64_t> to_rv = store::ImportOne(to, *obj);
    if (!to_rv.ok()) {
      return absl::Status(
          to_rv.status().code(),
          absl::StrCat("copy into ", options.to_name, " stopped after ", result.objects, " of ",
                       order.size(),
                       " objects (empty it before copying again): ", to_rv.status().message()));
    }
    if (result.objects > 0 && *to_rv <= result.to_last) {
      return absl::InternalError(absl::StrCat(
          "copy into ", options.to_name, ": ", store::Describe(ObjectKey::Of(*obj)),
          " got resourceVersion ", *to_rv, ", not after the previous object's ", result.to_last,
          "; the destination does not keep the order (is something else writing to it?)"));
    }
    if (result.objects == 0) {
      result.from_first = from_rv;
      result.to_first = *to_rv;
    }
    result.from_last = from_rv;
    result.to_last = *to_rv;
    ++result.objects;
    ++result.kinds[JsonString(*obj, "/kind")];
    if (options.progress) options.progress(result.objects, order.size());
  }
  return result;
}

absl::StatusOr<VerifyReport> VerifyStores(ObjectStore& from, ObjectStore& to, size_t max_listed) {
  uint64_t from_version = 0, to_version = 0;
  BERTH_ASSIGN_OR_RETURN(ObjectStore::SharedObjects a,
                         store::ListEverything(from, "source", &from_version));
  BERTH_ASSIGN_OR_RETURN(ObjectStore::SharedObjects b,
                         store::ListEverything(to, "destination", &to_version));
  VerifyReport report;
  report.from_objects = a.size();
  report.to_objects = b.size();
  auto note = [&](std::string line) {
    if (report.differences.size() < max_listed) report.differences.push_back(std::move(line));
  };
  std::vector<store::Entry> left = store::ByKey(a), right = store::ByKey(b);
  // Objects in both stores, with their resourceVersion in each.
  struct Common {
    uint64_t from_rv;
    uint64_t to_rv;
    const store::Entry* entry;
  };
  std::vector<Common> common;
  size_t i = 0, j = 0;
  while (i < left.size() || j < right.size()) {
    if (j == right.size() || (i < left.size() && left[i].key < right[j].key)) {
      ++report.missing;
      note(absl::StrCat("missing: ", store::Named(left[i]), " (resourceVersion ",
                        JsonString(*left[i].obj, "/metadata/resourceVersion"),
                        ") is not in the destination"));
      ++i;
    } else if (i == left.size() || right[j].key < left[i].key) {
      ++report.extra;
      note(absl::StrCat("extra: ", store::Named(right[j]), " (resourceVersion ",
                        JsonString(*right[j].obj, "/metadata/resourceVersion"),
                        ") is only in the destination"));
      ++j;
    } else {
      if (std::optional<std::string> d = store::FirstDifference(*left[i].obj, *right[j].obj)) {
        ++report.different;
        note(absl::StrCat("different: ", store::Named(left[i]), ": ", *d,
                          " (source vs destination)"));
      }
      BERTH_ASSIGN_OR_RETURN(uint64_t from_rv, store::ResourceVersionOf(*left[i].obj));
      BERTH_ASSIGN_OR_RETURN(uint64_t to_rv, store::ResourceVersionOf(*right[j].obj));
      common.push_back(Common{from_rv, to_rv, &left[i]});
      ++i;
      ++j;
    }
  }
  // Order: every object must come, in the destination, after every object that comes before
  // it in the source (objects sharing a source version may come in any order).
  std::stable_sort(common.begin(), common.end(),
                   [](const Common& x, const Common& y) { return x.from_rv < y.from_rv; });
  const Common* latest = nullptr;  // the latest (in the destination) of the earlier groups
  for (size_t g = 0; g < common.size();) {
    size_t end = g;
    while (end < common.size() && common[end].from_rv == common[g].from_rv) ++end;
    for (size_t k = g; k < end; ++k) {
      if (latest != nullptr && common[k].to_rv <= latest->to_rv) {
        ++report.out_of_order;
        note(absl::StrCat("order: ", store::Named(*common[k].entry), " comes after ",
                          store::Named(*latest->entry), " in the source (resourceVersion ",
                          common[k].from_rv, " > ", latest->from_rv,
                          ") but not in the destination (", common[k].to_rv, " <= ", latest->to_rv,
                          ")"));
      }
    }
    for (size_t k = g; k < end; ++k) {
      if (latest == nullptr || common[k].to_rv > latest->to_rv) latest = &common[k];
    }
    g = end;
  }
  return report;
}

}  // namespace berth::controller
