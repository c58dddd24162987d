#include "fake_resource_client.h"

#include "absl/strings/str_cat.h"
#include "berth/kinds.h"
#include "label_selector.h"

namespace berth::cli {
namespace {

std::string Canonical(const std::string& kind) {
  const KindInfo* k = ResolveKind(kind);
  return k ? k->kind : kind;
}

absl::Status NotFound(const std::string& kind, const std::string& name) {
  const KindInfo* k = ResolveKind(kind);
  return MarkFromServer(absl::NotFoundError(
      absl::StrCat(k ? k->plural : kind, ".", kApiGroup, " \"", name, "\" not found")));
}

}  // namespace

std::string FakeResourceClient::Key(const std::string& kind, const std::string& ns,
                                    const std::string& name) {
  const KindInfo* k = ResolveKind(kind);
  return absl::StrCat(Canonical(kind), "/", k && !k->namespaced ? "" : ns, "/", name);
}

void FakeResourceClient::Put(Json object) {
  object["metadata"]["resourceVersion"] = std::to_string(++version_);
  std::string key = Key(object.value("kind", ""), JsonString(object, "/metadata/namespace"),
                        JsonString(object, "/metadata/name"));
  objects_[key] = std::move(object);
}

void FakeResourceClient::Remove(const std::string& kind, const std::string& ns,
                                const std::string& name) {
  objects_.erase(Key(kind, ns, name));
}

bool FakeResourceClient::Has(const std::string& kind, const std::string& ns,
                             const std::string& name) const {
  return objects_.count(Key(kind, ns, name)) > 0;
}

absl::StatusOr<ObjectResult> FakeResourceClient::Apply(const Json& object, bool dry_run) {
  if (before_apply) before_apply();
  applied.push_back(object);
  std::string name = JsonString(object, "/metadata/name");
  if (reject_names.count(name)) {
    return MarkFromServer(absl::InvalidArgumentError(
        absl::StrCat(object.value("kind", ""), " \"", name, "\": spec.x: invalid")));
  }
  std::string key = Key(object.value("kind", ""), JsonString(object, "/metadata/namespace"), name);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    if (!dry_run) Put(object);
    return ObjectResult{dry_run ? object : objects_[key], "created"};
  }
  std::string rv = JsonString(object, "/metadata/resourceVersion");
  if (!rv.empty() && rv != JsonString(it->second, "/metadata/resourceVersion")) {
    return MarkFromServer(absl::AbortedError(
        absl::StrCat("Operation cannot be fulfilled on ", name, ": the object has been modified")));
  }
  Json next = it->second;
  for (const char* f : {"labels", "annotations"}) {
    Json v = JsonAt(object, (std::string("/metadata/") + f).c_str());
    if (v.is_null()) {
      next["metadata"].erase(f);
    } else {
      next["metadata"][f] = v;
    }
  }
  next["spec"] = object.value("spec", Json());
  if (next == it->second) return ObjectResult{it->second, "unchanged"};
  if (!dry_run) Put(next);
  return ObjectResult{next, "configured"};
}

absl::StatusOr<Json> FakeResourceClient::Get(const std::string& kind, const std::string& ns,
                                             const std::string& name) {
  ++get_calls;
  if (on_get) on_get(get_calls);
  auto it = objects_.find(Key(kind, ns, name));
  if (it == objects_.end()) return NotFound(kind, name);
  return it->second;
}

absl::StatusOr<ListResult> FakeResourceClient::List(const ListQuery& query) {
  list_queries.push_back(query);
  const KindInfo* k = ResolveKind(query.kind);
  if (k == nullptr) return MarkFromServer(absl::NotFoundError("no such kind"));
  auto sel = LabelSelector::Parse(query.label_selector);
  ListResult out;
  out.resource_version = std::to_string(version_);
  for (const auto& [key, obj] : objects_) {
    if (obj.value("kind", "") != k->kind) continue;
    if (k->namespaced && !query.all_namespaces &&
        JsonString(obj, "/metadata/namespace") != query.ns) {
      continue;
    }
    if (sel.ok() && !sel->Matches(obj)) continue;
    out.items.push_back(obj);
  }
  return out;
}

absl::StatusOr<ObjectResult> FakeResourceClient::Delete(const std::string& kind,
                                                        const std::string& ns,
                                                        const std::string& name) {
  auto it = objects_.find(Key(kind, ns, name));
  if (it == objects_.end()) return NotFound(kind, name);
  Json obj = it->second;
  Json fin = JsonAt(obj, "/metadata/finalizers");
  if (fin.is_array() && !fin.empty()) {
    obj["metadata"]["deletionTimestamp"] = FormatRfc3339(clock_->Now());
    Put(obj);
    return ObjectResult{objects_[it->first], "deleted"};
  }
  objects_.erase(it);
  return ObjectResult{obj, "deleted"};
}

absl::Status FakeResourceClient::Watch(const WatchQuery& query, absl::Time deadline,
                                       const WatchHandler& handler) {
  ++watch_calls;
  if (watch_fails) return MarkFromServer(absl::UnimplementedError("watch is not served"));
  if (on_watch) on_watch();
  std::vector<WatchEvent> events;
  events.swap(watch_events);
  for (const WatchEvent& ev : events) {
    if (ev.object.value("kind", "") != Canonical(query.kind)) continue;
    if (!query.name.empty() && JsonString(ev.object, "/metadata/name") != query.name) continue;
    if (!handler(ev)) return absl::OkStatus();
  }
  if (deadline == absl::InfiniteFuture()) {
    return MarkFromServer(absl::UnavailableError("the server closed the watch"));
  }
  if (clock_->Now() < deadline) clock_->Advance(deadline - clock_->Now());
  return MarkFromServer(absl::DeadlineExceededError("Deadline Exceeded"));
}

}  // namespace berth::cli
