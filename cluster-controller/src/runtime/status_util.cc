#include "berth/controller/status_util.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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

namespace {

// The condition that explains a phase: the last one to change.
Json NewestCondition(const Json& status) {
  Json best = Json::object();
  for (const Json& c : JsonAt(status, "/conditions")) {
    if (c.is_object() &&
        c.value("lastTransitionTime", "") >= best.value("lastTransitionTime", "")) {
      best = c;
    }
  }
  return best;
}

}  // namespace

namespace {

// The core/v1 Event RecordEvent stores.
Json MakeEvent(const Json& obj, const std::string& type, const std::string& reason,
               const std::string& message) {
  std::string ns = JsonString(obj, "/metadata/namespace");
  std::string name = JsonString(obj, "/metadata/name");
  std::string uid = JsonString(obj, "/metadata/uid");
  std::string now = FormatRfc3339(absl::Now());
  return Json{{"apiVersion", "v1"},
              {"kind", "Event"},
              {"metadata",
               {{"name", absl::StrCat(name, ".", uid.substr(0, 8), ".",
                                      JsonString(obj, "/metadata/resourceVersion"))},
                {"namespace", ns.empty() ? "default" : ns},
                {"ownerReferences", Json::array({{{"apiVersion", obj.value("apiVersion", "")},
                                                  {"kind", obj.value("kind", "")},
                                                  {"name", name},
                                                  {"uid", uid}}})}}},
              {"involvedObject",
               {{"apiVersion", obj.value("apiVersion", "")},
                {"kind", obj.value("kind", "")},
                {"namespace", ns},
                {"name", name},
                {"uid", uid}}},
              {"type", type},
              {"reason", reason},
              {"message", message},
              {"source", {{"component", "berth-controller"}}},
              {"firstTimestamp", now},
              {"lastTimestamp", now},
              {"count", 1}};
}

// Writes `updated` (obj with new status and possibly metadata) and, when the phase changed,
// the Event recording it, in one store transaction.
absl::StatusOr<Json> WriteWithPhaseEvent(ObjectStore& store, const Json& obj, Json updated,
                                         PhaseEvent event) {
  std::string was = JsonString(obj, "/status/phase");
  std::string phase = JsonString(updated, "/status/phase");
  if (event == PhaseEvent::kSkip || phase == was || phase.empty() ||
      obj.value("kind", "") == "Event") {
    return store.Update(std::move(updated));
  }
  // Phase changes are what `berth describe` lists under Events (best effort: a failed Event
  // does not fail the status write).
  return store.UpdateAndCreate(std::move(updated), [&](const Json& written) {
    Json cond = NewestCondition(JsonAt(written, "/status"));
    std::string reason = cond.value("reason", "");
    std::string message = absl::StrCat("phase ", was.empty() ? "(none)" : was, " -> ", phase);
    if (!cond.value("message", "").empty())
      absl::StrAppend(&message, ": ", cond.value("message", ""));
    return std::optional<Json>(MakeEvent(written, phase == "Failed" ? "Warning" : "Normal",
                                         reason.empty() ? phase : reason, message));
  });
}

void AppendFinalizer(Json& obj, const std::string& f) {
  if (!obj["metadata"].contains("finalizers")) obj["metadata"]["finalizers"] = Json::array();
  obj["metadata"]["finalizers"].push_back(f);
}

// Writes `status` (with observedGeneration) and, when `finalizer` is given and missing, adds it
// in the same write; no write when nothing changes.
absl::StatusOr<Json> WriteStatusWith(ObjectStore& store, const Json& obj, Json status,
                                     const std::string* finalizer, PhaseEvent event) {
  status["observedGeneration"] = obj["metadata"].value("generation", 1);
  const bool add = finalizer != nullptr && !HasFinalizer(obj, *finalizer);
  if (!add && obj.contains("status") && obj["status"] == status) return obj;
  Json updated = obj;
  if (add) AppendFinalizer(updated, *finalizer);
  updated["status"] = std::move(status);
  return WriteWithPhaseEvent(store, obj, std::move(updated), event);
}

}  // namespace

absl::Status RecordEvent(ObjectStore& store, const Json& obj, const std::string& type,
                         const std::string& reason, const std::string& message) {
  absl::StatusOr<Json> created = store.Create(MakeEvent(obj, type, reason, message));
  if (!created.ok() && !absl::IsAlreadyExists(created.status())) return created.status();
  return absl::OkStatus();
}

absl::StatusOr<Json> WriteStatus(ObjectStore& store, const Json& obj, Json status) {
  return WriteStatusWith(store, obj, std::move(status), nullptr, PhaseEvent::kRecord);
}

absl::StatusOr<Json> WriteStatusAndAddFinalizer(ObjectStore& store, const Json& obj, Json status,
                                                const std::string& f, PhaseEvent event) {
  return WriteStatusWith(store, obj, std::move(status), &f, event);
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
  AppendFinalizer(updated, f);
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
