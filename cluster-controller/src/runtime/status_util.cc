#include "berth/controller/status_util.h"

#include "berth/time_util.h"

namespace berth::controller {

void SetCondition(Json& status, const std::string& type, bool value, const std::string& reason,
                  const std::string& message, const Json& obj, absl::Time now) {
  if (!status.contains("conditions") || !status["conditions"].is_array()) {
    status["conditions"] = Json::array();
  }
  std::string s = value ? "True" : "False";
  Json cond = {{"type", type},
               {"status", s},
               {"reason", reason},
               {"message", message},
               {"observedGeneration", obj["metadata"].value("generation", 1)},
               {"lastTransitionTime", FormatRfc3339(now)}};
  for (Json& c : status["conditions"]) {
    if (c.value("type", "") != type) continue;
    if (c.value("status", "") == s) cond["lastTransitionTime"] = c.value("lastTransitionTime", "");
    c = cond;
    return;
  }
  status["conditions"].push_back(cond);
}

Json GetCondition(const Json& obj, const std::string& type) {
  Json conds = JsonAt(obj, "/status/conditions");
  if (!conds.is_array()) return Json::object();
  for (const Json& c : conds) {
    if (c.is_object() && c.value("type", "") == type) return c;
  }
  return Json::object();
}

absl::StatusOr<Json> WriteStatus(ObjectStore& store, const Json& obj, Json status) {
  status["observedGeneration"] = obj["metadata"].value("generation", 1);
  if (obj.contains("status") && obj["status"] == status) return obj;
  Json updated = obj;
  updated["status"] = std::move(status);
  return store.Update(std::move(updated));
}

bool HasFinalizer(const Json& obj, const std::string& finalizer) {
  Json f = JsonAt(obj, "/metadata/finalizers");
  if (!f.is_array()) return false;
  for (const Json& x : f) {
    if (x == finalizer) return true;
  }
  return false;
}

absl::StatusOr<Json> AddFinalizer(ObjectStore& store, const Json& obj, const std::string& f) {
  if (HasFinalizer(obj, f)) return obj;
  Json updated = obj;
  if (!updated["metadata"].contains("finalizers"))
    updated["metadata"]["finalizers"] = Json::array();
  updated["metadata"]["finalizers"].push_back(f);
  return store.Update(std::move(updated));
}

absl::StatusOr<Json> RemoveFinalizer(ObjectStore& store, const Json& obj, const std::string& f) {
  if (!HasFinalizer(obj, f)) return obj;
  Json updated = obj;
  Json kept = Json::array();
  for (const Json& x : obj["metadata"]["finalizers"]) {
    if (x != f) kept.push_back(x);
  }
  updated["metadata"]["finalizers"] = kept;
  return store.Update(std::move(updated));
}

bool IsDeleting(const Json& obj) {
  Json ts = JsonAt(obj, "/metadata/deletionTimestamp");
  return ts.is_string() && !ts.get<std::string>().empty();
}

}  // namespace berth::controller
