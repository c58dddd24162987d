// Ports, in C++ and over JSON, the parts of kube-apiserver's field management that custom
// resources go through: sigs.k8s.io/structured-merge-diff (fieldpath, typed merge/compare/remove,
// merge.Updater) and the managers chain of k8s.io/apimachinery/pkg/util/managedfields/internal
// (stripmeta, managedfieldsupdater, buildmanagerinfo, capmanagers, skipnonapplied,
// lastappliedmanager, lastappliedupdater, fieldmanager). Names follow kube's so that the two can
// be read side by side.
#include "kubeapi/field_manager.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "kubeapi/go_text.h"
#include "kubeapi/typed_walk.h"

namespace berth::kubeapi {
namespace {

constexpr char kApply[] = "Apply";
constexpr char kUpdate[] = "Update";
constexpr char kLastApplied[] = "kubectl.kubernetes.io/last-applied-configuration";
constexpr size_t kFieldManagerMaxLength = 128;
constexpr size_t kMaxUpdateManagers = 10;

const Json* ManagedFieldsOf(const Json& obj) {
  auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return nullptr;
  auto mf = meta->find("managedFields");
  return mf == meta->end() ? nullptr : &*mf;
}

Json WithoutManagedFields(const Json& obj) {
  Json out = obj;
  if (out.is_object() && out.contains("metadata") && out["metadata"].is_object()) {
    out["metadata"].erase("managedFields");
  }
  return out;
}

}  // namespace

namespace {

// ---- Managers: the decoded metadata.managedFields, keyed by kube's manager identifier.

struct Entry {
  std::string manager;
  std::string operation;
  std::string api_version;
  std::string subresource;
  std::string time;  // "" when the entry has none
  FieldSet set;
};

// BuildManagerIdentifier: the entry as JSON without fields and time, and for appliers without
// apiVersion, so that an applier keeps one entry across versions.
std::string Identifier(const Entry& e) {
  std::string out = "{";
  auto add = [&](const char* key, const std::string& value) {
    if (value.empty()) return;
    out += (out.size() > 1 ? "," : "") + GoJsonString(key) + ":" + GoJsonString(value);
  };
  add("manager", e.manager);
  add("operation", e.operation);
  if (e.operation != kApply) add("apiVersion", e.api_version);
  add("subresource", e.subresource);
  return out + "}";
}

using Managers = std::map<std::string, Entry>;

absl::StatusOr<Entry> DecodeEntry(const Json& encoded, size_t i) {
  if (!encoded.is_object()) return absl::InvalidArgumentError("entries must be objects");
  Entry e{StringOr(encoded, "manager"),    StringOr(encoded, "operation"),
          StringOr(encoded, "apiVersion"), StringOr(encoded, "subresource"),
          StringOr(encoded, "time"),       FieldSet()};
  if (e.operation != kApply && e.operation != kUpdate) {
    return absl::InvalidArgumentError("operation must be `Apply` or `Update`");
  }
  if (e.api_version.empty()) return absl::InvalidArgumentError("apiVersion must not be empty");
  std::string type = StringOr(encoded, "fieldsType");
  if (type.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("missing fieldsType in managed fields entry ", i));
  }
  if (type != "FieldsV1") {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid fieldsType ", GoQuote(type), " in managed fields entry ", i));
  }
  auto fields = encoded.find("fieldsV1");
  if (fields != encoded.end() && !fields->is_null()) {
    absl::StatusOr<FieldSet> set = FieldSet::FromFieldsV1(*fields);
    if (!set.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("error decoding set: ", set.status().message()));
    }
    e.set = *std::move(set);
  }
  return e;
}

absl::StatusOr<Managers> DecodeManagers(const Json* encoded) {
  Managers managers;
  if (!encoded || encoded->is_null()) return managers;
  if (!encoded->is_array()) return absl::InvalidArgumentError("managedFields must be a list");
  for (size_t i = 0; i < encoded->size(); ++i) {
    absl::StatusOr<Entry> e = DecodeEntry((*encoded)[i], i);
    if (!e.ok()) return e.status();
    std::string id = Identifier(*e);
    managers[id] = *std::move(e);
  }
  return managers;
}

int64_t UnixSeconds(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  if (rfc3339.empty() || !absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) return 0;
  return absl::ToUnixSeconds(t);
}

// sortEncodedManagedFields: Apply before Update, then oldest first, then by name.
Json EncodeManagers(const Managers& managers) {
  std::vector<const Entry*> entries;
  for (const auto& [id, e] : managers) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(), [](const Entry* p, const Entry* q) {
    return std::make_tuple(p->operation, UnixSeconds(p->time), p->manager, p->api_version,
                           p->subresource) < std::make_tuple(q->operation, UnixSeconds(q->time),
                                                             q->manager, q->api_version,
                                                             q->subresource);
  });
  Json out = Json::array();
  for (const Entry* e : entries) {
    Json entry = {{"manager", e->manager},
                  {"operation", e->operation},
                  {"apiVersion", e->api_version},
                  {"fieldsType", "FieldsV1"},
                  {"fieldsV1", e->set.ToFieldsV1()}};
    if (!e->time.empty()) entry["time"] = e->time;
    if (!e->subresource.empty()) entry["subresource"] = e->subresource;
    out.push_back(std::move(entry));
  }
  return out;
}

void SetManagedFields(Json& obj, const Managers& managers) {
  if (managers.empty()) {
    if (obj.contains("metadata") && obj["metadata"].is_object()) {
      obj["metadata"].erase("managedFields");
    }
    return;
  }
  obj["metadata"]["managedFields"] = EncodeManagers(managers);
}

// stripmeta.go: fields no manager owns.
const FieldSet& StripSet() {
  static const FieldSet* const set = [] {
    auto* s = new FieldSet();
    for (const char* top : {"apiVersion", "kind", "metadata"}) s->Insert({PathElement::Field(top)});
    // deletionTimestamp and deletionGracePeriodSeconds are set by deletes, which kube records in
    // no entry; Berth may hand them to RecordUpdate.
    for (const char* meta :
         {"name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
          "managedFields", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"}) {
      s->Insert({PathElement::Field("metadata"), PathElement::Field(meta)});
    }
    return s;
  }();
  return *set;
}

// The part of an object a request manages: the main resource all but status (kube's reset
// fields for a resource with a status subresource), the status subresource only status.
FieldSet Managed(const FieldSet& set, const std::string& subresource) {
  PathElement status = PathElement::Field("status");
  if (subresource.empty()) {
    FieldSet reset;
    reset.Insert({status});
    return set.RecursiveDifference(reset);
  }
  FieldSet out;
  if (set.Has({status})) out.Insert({status});
  if (const FieldSet* below = set.WithPrefix(status)) out.InsertSubtree(status, *below);
  return out;
}

Comparison Managed(const Comparison& c, const std::string& subresource) {
  return {Managed(c.removed, subresource), Managed(c.modified, subresource),
          Managed(c.added, subresource)};
}

Json ManagedPart(const Json& obj, const std::string& subresource) {
  if (!obj.is_object()) return Json::object();
  if (subresource.empty()) {
    Json out = obj;
    out.erase("status");
    return out;
  }
  Json out = Json::object();
  if (obj.contains("status")) out["status"] = obj["status"];
  return out;
}

using ConflictSets = std::vector<std::pair<std::string, FieldSet>>;

// Updater.update: every manager but `self` loses what the change modified or added (conflicts
// unless forced) and what it removed; managers left with nothing are dropped.
ConflictSets TakeOwnership(Managers& managers, const std::string& self, const Comparison& cmp,
                           bool force) {
  FieldSet changed = cmp.modified.Union(cmp.added);
  ConflictSets conflicts;
  for (const auto& [id, e] : managers) {
    if (id == self) continue;
    FieldSet owned = e.set.Intersection(changed);
    if (!owned.Empty()) conflicts.emplace_back(id, std::move(owned));
  }
  if (!force && !conflicts.empty()) return conflicts;
  for (auto& [id, e] : managers) {
    if (id != self) e.set = e.set.Difference(changed).Difference(cmp.removed);
  }
  for (auto it = managers.begin(); it != managers.end();) {
    it = it->second.set.Empty() ? managers.erase(it) : std::next(it);
  }
  return {};
}

struct Context {
  NodeType type;
  std::string subresource;
  std::string now;
  Walker walker;
};

Context MakeContext(const Json* schema, const std::string& subresource, const std::string& now) {
  NodeType root{schema ? NodeType::Mode::kSchema : NodeType::Mode::kStruct, schema, true};
  return {root, subresource, now, Walker()};
}

// managedFieldsUpdater.Update over structured Update: the change is taken as a manager of its
// own, then folded into `self`'s entry, which gets a new timestamp if it took anything.
void RecordChange(Managers& managers, const Json& before, const Json& after, Entry self,
                  Context& ctx) {
  Comparison cmp = Managed(ctx.walker.Compare(before, after, ctx.type), ctx.subresource);
  const std::string current = "current-operation";
  TakeOwnership(managers, current, cmp, /*force=*/true);
  FieldSet set = Managed(cmp.modified.Union(cmp.added), ctx.subresource).Difference(StripSet());
  if (set.Empty()) return;
  std::string id = Identifier(self);
  if (auto it = managers.find(id); it != managers.end()) set = set.Union(it->second.set);
  self.set = std::move(set);
  self.time = ctx.now;
  managers[id] = std::move(self);
}

// capmanagers.go: past kMaxUpdateManagers Update entries, the oldest are folded into one
// "ancient-changes" entry per apiVersion.
void CapUpdateManagers(Managers& managers) {
  std::vector<std::string> updaters;
  for (const auto& [id, e] : managers) {
    if (e.operation == kUpdate) updaters.push_back(id);
  }
  if (updaters.size() <= kMaxUpdateManagers) return;
  std::sort(updaters.begin(), updaters.end(), [&](const std::string& a, const std::string& b) {
    return std::make_pair(UnixSeconds(managers[a].time), a) <
           std::make_pair(UnixSeconds(managers[b].time), b);
  });
  std::map<std::string, std::string> first_of_version;
  size_t length = updaters.size();
  for (size_t i = 0; i < updaters.size() && length > kMaxUpdateManagers; ++i) {
    Entry e = managers[updaters[i]];
    Entry bucket{"ancient-changes", kUpdate, e.api_version, "", "", FieldSet()};
    std::string bucket_id = Identifier(bucket);
    auto first = first_of_version.find(e.api_version);
    if (first == first_of_version.end()) {
      first_of_version[e.api_version] = updaters[i];
      continue;
    }
    if (!managers.count(bucket_id)) {
      bucket.set = managers[first->second].set;
      managers.erase(first->second);
      managers[bucket_id] = bucket;
    }
    managers[bucket_id].set = e.set.Union(managers[bucket_id].set);
    if (updaters[i] != bucket_id) managers.erase(updaters[i]);  // kube would drop the bucket
    --length;
    managers[bucket_id].time = e.time;
  }
}

// Updater.prune: what the applier owned last time and no longer applies goes, unless another
// manager owns it.
Json Prune(const Json& merged, const Managers& managers, const FieldSet* last, Context& ctx) {
  if (!last || last->Empty()) return merged;
  Walker& w = ctx.walker;
  auto remove = [&](const FieldSet& set) {
    return w.Remove(merged, set, ctx.type).value_or(Json::object());
  };
  auto ensure = [&](const FieldSet& set) { return w.EnsureNamedFieldsAreMembers(set, ctx.type); };
  FieldSet last_set = ensure(*last);
  Json pruned = remove(last_set);
  // addBackOwnedItems
  FieldSet managed;
  for (const auto& [id, e] : managers) managed = managed.Union(e.set);
  FieldSet merged_set = ensure(w.ToFieldSet(merged, ctx.type));
  FieldSet pruned_set = ensure(w.ToFieldSet(pruned, ctx.type));
  pruned = remove(merged_set.Difference(pruned_set.Union(ensure(managed))));
  // addBackDanglingItems
  pruned_set = ensure(w.ToFieldSet(pruned, ctx.type));
  return remove(merged_set.Difference(pruned_set).Intersection(last_set));
}

struct ApplyOutcome {
  Json object;
  Managers managers;
  ConflictSets conflicts;
};

// Updater.Apply with stripmeta and managedFieldsUpdater around it.
ApplyOutcome ApplyOnce(const Json& live, const Json& applied, Managers managers, Entry self,
                       bool force, Context& ctx) {
  Json merged = ctx.walker.Merge(&live, &applied, ctx.type);
  std::string id = Identifier(self);
  std::optional<FieldSet> last;
  std::string time;
  if (auto it = managers.find(id); it != managers.end()) {
    last = it->second.set;
    time = it->second.time;
  }
  self.set = Managed(ctx.walker.ToFieldSet(applied, ctx.type), ctx.subresource);
  managers[id] = self;
  merged = Prune(merged, managers, last ? &*last : nullptr, ctx);
  Comparison cmp = Managed(ctx.walker.Compare(live, merged, ctx.type), ctx.subresource);
  ConflictSets conflicts = TakeOwnership(managers, id, cmp, force);
  if (!conflicts.empty()) return {Json(), {}, std::move(conflicts)};
  if (auto it = managers.find(id); it != managers.end()) {
    it->second.set = it->second.set.Difference(StripSet());
    // An apply that changes nothing keeps the entry's timestamp (or has none).
    it->second.time = merged != live ? ctx.now : time;
    if (it->second.set.Empty()) managers.erase(it);
  }
  return {std::move(merged), std::move(managers), {}};
}

// lastappliedmanager.go: conflicts on fields kubectl's client-side apply set, still holding the
// values it recorded, are not conflicts for kubectl's server-side apply.
std::optional<FieldSet> AllowedByLastApplied(const Json& live, const std::string& api_version,
                                             Context& ctx) {
  const Json* annotations = live.contains("metadata") && live["metadata"].is_object() &&
                                    live["metadata"].contains("annotations")
                                ? &live["metadata"]["annotations"]
                                : nullptr;
  const std::string* text = annotations ? StringAt(*annotations, kLastApplied) : nullptr;
  if (!text || text->empty()) return std::nullopt;
  Json last = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (last.is_discarded() || !last.is_object() || StringOr(last, "apiVersion") != api_version) {
    return std::nullopt;
  }
  FieldSet set = ctx.walker.ToFieldSet(last, ctx.type);
  Comparison cmp = ctx.walker.Compare(last, live, ctx.type);
  return set.Difference(cmp.modified).Difference(cmp.added).Difference(cmp.removed);
}

ConflictSets WithoutAllowed(const ConflictSets& conflicts, const FieldSet& allowed) {
  ConflictSets out;
  for (const auto& [id, set] : conflicts) {
    FieldSet rest;
    for (const FieldPath& path : set.Paths()) {
      if (!allowed.Has(path)) rest.Insert(path);
    }
    if (!rest.Empty()) out.emplace_back(id, std::move(rest));
  }
  return out;
}

// lastappliedmanager.go around ApplyOnce: kubectl may take over from its client-side apply.
ApplyOutcome ApplyWithLastApplied(const Json& live, const Json& config, const Managers& managers,
                                  const Entry& self, bool force, Context& ctx) {
  ApplyOutcome outcome = ApplyOnce(live, config, managers, self, force, ctx);
  if (outcome.conflicts.empty() || self.manager != "kubectl") return outcome;
  std::optional<FieldSet> allowed = AllowedByLastApplied(live, self.api_version, ctx);
  if (!allowed) return outcome;
  ConflictSets rest = WithoutAllowed(outcome.conflicts, *allowed);
  if (rest.empty()) return ApplyOnce(live, config, managers, self, /*force=*/true, ctx);
  return {Json(), {}, std::move(rest)};
}

// printManager in kube's conflict.go.
std::string PrintManager(const Entry& e) {
  std::string out = GoQuote(e.manager);
  if (!e.subresource.empty()) out += " with subresource " + GoQuote(e.subresource);
  if (e.operation == kUpdate) out += " using " + e.api_version;
  return out;
}

std::vector<ManagerConflict> ToConflicts(ConflictSets sets, const Managers& managers) {
  std::sort(sets.begin(), sets.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<ManagerConflict> out;
  for (const auto& [id, set] : sets) {
    const Entry& e = managers.at(id);
    for (const FieldPath& path : set.Paths()) {
      out.push_back({e.manager, e.operation, e.api_version, e.subresource, PathString(path),
                     "conflict with " + PrintManager(e)});
    }
  }
  return out;
}

// lastappliedupdater.go: kubectl's server-side apply keeps the client-side annotation current.
void UpdateLastApplied(Json& object, const Json& applied) {
  if (!object.contains("metadata") || !object["metadata"].is_object()) return;
  Json& meta = object["metadata"];
  const std::string* current =
      meta.contains("annotations") ? StringAt(meta["annotations"], kLastApplied) : nullptr;
  if (!current || current->empty()) return;
  Json config = applied;
  if (config.contains("metadata") && config["metadata"].contains("annotations") &&
      config["metadata"]["annotations"].is_object()) {
    config["metadata"]["annotations"].erase(kLastApplied);
  }
  meta["annotations"][kLastApplied] = GoJson(config) + "\n";
}

// decodeLiveOrNew: managedFields sent with a main-resource write are kept when valid and
// non-empty, an empty list (or one empty entry) resets them, otherwise the live ones stay.
Managers LiveOrNew(const Json* before, const Json& after, const std::string& subresource) {
  auto live = [&] {
    absl::StatusOr<Managers> m = DecodeManagers(before ? ManagedFieldsOf(*before) : nullptr);
    return m.ok() ? *std::move(m) : Managers();
  };
  if (!subresource.empty()) return live();
  const Json* sent = ManagedFieldsOf(after);
  if (sent && sent->is_array() &&
      (sent->empty() || (sent->size() == 1 && (*sent)[0].is_object() && (*sent)[0].empty()))) {
    return Managers();
  }
  absl::StatusOr<Managers> m = DecodeManagers(sent);
  if (m.ok() && !m->empty()) return *std::move(m);
  return live();
}

Json EmptyObjectLike(const Json& obj) {
  Json out = Json::object();
  for (const char* key : {"apiVersion", "kind"}) {
    if (obj.contains(key)) out[key] = obj[key];
  }
  return out;
}

}  // namespace

// ---- Public API

std::string ApplyResult::ConflictMessage() const {
  if (conflicts.size() == 1) {
    const ManagerConflict& c = conflicts[0];
    return absl::StrCat("Apply failed with 1 conflict: ", c.message, ": ", c.field);
  }
  std::vector<std::string> lines;
  for (size_t i = 0; i < conflicts.size(); ++i) {
    // `message` is "conflict with <manager>"; the heading says "conflicts with <manager>:".
    if (i == 0 || conflicts[i].message != conflicts[i - 1].message) {
      lines.push_back("conflicts" + conflicts[i].message.substr(8) + ":");
    }
    lines.push_back("- " + conflicts[i].field);
  }
  return absl::StrCat("Apply failed with ", conflicts.size(),
                      " conflicts: ", absl::StrJoin(lines, "\n"));
}

Json ApplyResult::ConflictStatus() const {
  Json causes = Json::array();
  for (const ManagerConflict& c : conflicts) {
    causes.push_back(
        {{"type", "FieldManagerConflict"}, {"message", c.message}, {"field", c.field}});
  }
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", Json::object()},
          {"status", "Failure"},
          {"message", ConflictMessage()},
          {"reason", "Conflict"},
          {"details", {{"causes", causes}}},
          {"code", 409}};
}

absl::StatusOr<ApplyResult> Apply(const Json* live, const Json& applied, const std::string& manager,
                                  bool force, const std::string& subresource,
                                  const std::string& now, const Json* schema) {
  if (!applied.is_object()) return absl::InvalidArgumentError("the applied object must be a map");
  if (const Json* sent = ManagedFieldsOf(applied); sent && !sent->is_null()) {
    return absl::InvalidArgumentError("metadata.managedFields must be nil");
  }
  Context ctx = MakeContext(schema, subresource, now);
  std::string name = manager.empty() ? "unknown" : manager;
  std::string api_version = StringOr(applied, "apiVersion");
  Json live_object = live ? WithoutManagedFields(*live) : Json::object();
  absl::StatusOr<Managers> managers = DecodeManagers(live ? ManagedFieldsOf(*live) : nullptr);
  if (!managers.ok()) {
    return absl::InternalError(
        absl::StrCat("failed to decode managed fields: ", managers.status().message()));
  }
  if (live && managers->empty()) {
    // skipnonapplied.go: an object nobody tracked yet is owned by "before-first-apply".
    RecordChange(*managers, EmptyObjectLike(live_object), live_object,
                 {"before-first-apply", kUpdate, api_version, subresource, "", FieldSet()}, ctx);
  }
  Json config = ManagedPart(WithoutManagedFields(applied), subresource);
  Entry self{name, kApply, api_version, subresource, "", FieldSet()};
  ApplyOutcome outcome = ApplyWithLastApplied(live_object, config, *managers, self, force, ctx);
  if (!ctx.walker.status().ok()) return ctx.walker.status();
  ApplyResult result;
  if (!outcome.conflicts.empty()) {
    result.conflicts = ToConflicts(std::move(outcome.conflicts), *managers);
    return result;
  }
  if (name == "kubectl") UpdateLastApplied(outcome.object, applied);
  result.changed = outcome.object != live_object;
  result.object = std::move(outcome.object);
  SetManagedFields(result.object, outcome.managers);
  return result;
}

Json RecordUpdate(const Json* before, const Json& after, const std::string& manager,
                  const std::string& subresource, const std::string& now, const Json* schema) {
  Json result = WithoutManagedFields(after);
  if (!result.is_object()) return result;
  Managers managers = LiveOrNew(before, after, subresource);
  // skipnonapplied.go: an existing object without managedFields is not tracked until applied.
  if (managers.empty() && before != nullptr) return result;
  Context ctx = MakeContext(schema, subresource, now);
  Json base = before ? WithoutManagedFields(*before) : EmptyObjectLike(result);
  Entry self{manager.empty() ? "unknown" : manager,
             kUpdate,
             StringOr(after, "apiVersion"),
             subresource,
             "",
             FieldSet()};
  RecordChange(managers, base, result, std::move(self), ctx);
  if (!ctx.walker.status().ok()) {
    // UpdateNoErrors: keep the stored managedFields rather than lose them.
    const Json* stored = before ? ManagedFieldsOf(*before) : nullptr;
    if (stored) result["metadata"]["managedFields"] = *stored;
    return result;
  }
  CapUpdateManagers(managers);
  SetManagedFields(result, managers);
  return result;
}

std::string ManagerFromUserAgent(std::string_view user_agent) {
  std::string_view prefix = user_agent.substr(0, user_agent.find('/'));
  std::string out;
  for (size_t i = 0, w = 0; i < prefix.size(); i += w) {
    char32_t r = DecodeRune(prefix, i, &w);
    if (!IsPrint(r)) continue;
    // An invalid byte is written as U+FFFD, three bytes, as Go's WriteRune does.
    std::string_view bytes = r == 0xFFFD && w == 1 ? "\xEF\xBF\xBD" : prefix.substr(i, w);
    if (out.size() + bytes.size() > kFieldManagerMaxLength) break;
    out.append(bytes);
  }
  return out;
}

absl::Status ValidateManager(std::string_view manager, std::string_view options_kind,
                             bool apply_patch) {
  std::vector<std::string> errors;
  if (apply_patch && manager.empty()) {
    errors.push_back("fieldManager: Required value: is required for apply patch");
  }
  if (manager.size() > kFieldManagerMaxLength) {
    errors.push_back(absl::StrCat("fieldManager: Too long: must have at most ",
                                  kFieldManagerMaxLength, " bytes"));
  }
  for (size_t i = 0, w = 0; i < manager.size(); i += w) {
    char32_t r = DecodeRune(manager, i, &w);
    if (IsPrint(r)) continue;
    char rune[16];
    std::snprintf(rune, sizeof(rune), "U+%04X", static_cast<unsigned>(r));
    errors.push_back(absl::StrCat("fieldManager: Invalid value: ", GoQuote(manager),
                                  ": invalid character ", rune, " (at position ", i, ")"));
  }
  if (errors.empty()) return absl::OkStatus();
  std::string list = errors.size() == 1 ? errors[0] : "[" + absl::StrJoin(errors, ", ") + "]";
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(options_kind), ".meta.k8s.io \"\" is invalid: ", list));
}

}  // namespace berth::kubeapi
