// The verbs on objects: get, list, create, update, patch, delete, deletecollection.
#include <algorithm>
#include <random>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "berth/controller/admission.h"
#include "berth/labels.h"
#include "kubeapi/api.h"
#include "kubeapi/field_manager.h"
#include "kubeapi/selectors.h"
#include "kubeapi/table.h"

namespace berth::kubeapi {
namespace {

constexpr int kPatchRetries = 5;

const std::vector<std::string> kPatchTypes = {
    "application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"};

bool DryRun(const HttpRequest& req) { return req.Query("dryRun") == "All"; }

std::string RandomSuffix() {
  static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  thread_local std::mt19937 rng{std::random_device{}()};
  std::string s;
  for (int i = 0; i < 5; ++i) s.push_back(kAlphabet[rng() % (sizeof kAlphabet - 1)]);
  return s;
}

std::string Manager(const HttpRequest& req) {
  std::string m = req.Query("fieldManager");
  return m.empty() ? ManagerFromUserAgent(req.Header("user-agent")) : m;
}

// Checks what a body says about itself against what the URL says.
std::optional<ApiError> CheckIdentity(const Target& t, Json& obj, const std::string& url_name) {
  const Resource& r = *t.resource;
  if (!obj.is_object()) return ApiError::BadRequest("the body is not a JSON object");
  std::string api_version = obj.value("apiVersion", "");
  std::string kind = obj.value("kind", "");
  if (api_version.empty() || kind.empty()) {
    return ApiError::BadRequest(
        absl::StrCat("Object 'Kind' is missing in '", obj.dump().substr(0, 200), "'"));
  }
  if (api_version != r.ApiVersion()) {
    return ApiError::BadRequest(absl::StrCat("the API version in the data (", api_version,
                                             ") does not match the expected API version (",
                                             r.ApiVersion(), ")"));
  }
  if (kind != r.kind) {
    return ApiError::BadRequest(absl::StrCat("the kind in the data (", kind,
                                             ") does not match the expected kind (", r.kind, ")"));
  }
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = Json::object();
  Json& meta = obj["metadata"];
  std::string ns = meta.value("namespace", "");
  if (r.namespaced) {
    if (!ns.empty() && ns != t.ns) {
      return ApiError::BadRequest(
          "the namespace of the provided object does not match the namespace sent on the "
          "request");
    }
    meta["namespace"] = t.ns;
  } else {
    meta.erase("namespace");
  }
  std::string name = meta.value("name", "");
  if (!url_name.empty() && !name.empty() && name != url_name) {
    return ApiError::BadRequest(absl::StrCat(
        "the name of the object (", name, ") does not match the name on the URL (", url_name, ")"));
  }
  if (!url_name.empty()) meta["name"] = url_name;
  return std::nullopt;
}

HttpResponse WithWarnings(HttpResponse r, const std::vector<std::string>& warnings) {
  for (const std::string& w : warnings) {
    r.headers.push_back({"Warning", absl::StrCat("299 - \"", absl::CEscape(w), "\"")});
  }
  return r;
}

// The store's server-owned fields, carried from the stored object onto its replacement.
void KeepServerFields(const Json& existing, Json& obj) {
  for (const char* f : {"uid", "creationTimestamp", "generation", "deletionTimestamp",
                        "deletionGracePeriodSeconds"}) {
    if (existing["metadata"].contains(f)) {
      obj["metadata"][f] = existing["metadata"][f];
    } else {
      obj["metadata"].erase(f);
    }
  }
  if (!obj["metadata"].contains("managedFields") &&
      existing["metadata"].contains("managedFields")) {
    obj["metadata"]["managedFields"] = existing["metadata"]["managedFields"];
  }
}

// What a write of `obj` over `live` may change: through /status only the status (and, for a
// patch, the managedFields it computed); through the main endpoint everything but the
// server-owned metadata and, for kinds with a status subresource, the status.
Json OntoLive(const Target& t, const Json& live, Json obj, bool keep_managed_fields) {
  if (t.subresource == "status") {
    Json next = live;
    next["status"] = obj.contains("status") ? obj["status"] : Json::object();
    if (keep_managed_fields) {
      next["metadata"]["managedFields"] = obj["metadata"].value("managedFields", Json::array());
    }
    return next;
  }
  KeepServerFields(live, obj);
  if (t.resource->status_subresource) {
    if (live.contains("status")) {
      obj["status"] = live["status"];
    } else {
      obj.erase("status");
    }
  }
  return obj;
}

using ObjectName = std::pair<std::string, std::string>;  // namespace, name

ObjectName NameOf(const Json& obj) {
  const Json& meta = obj.at("metadata");
  return {meta.value("namespace", ""), meta.value("name", "")};
}

bool SameIgnoringVersion(Json a, Json b) {
  a["metadata"].erase("resourceVersion");
  b["metadata"].erase("resourceVersion");
  return a == b;
}

}  // namespace

absl::StatusOr<Json> Api::Prepare(const HttpRequest& req, const Target& t, Json obj,
                                  const Json* existing, const std::string& manager,
                                  std::vector<std::string>* warnings, ApiError* error) {
  const Resource& r = *t.resource;
  bool applied = manager.empty();  // server-side apply already set managedFields
  std::string name = obj["metadata"].value("name", "");
  if (r.schema && t.subresource.empty()) {
    std::string validation = req.Query("fieldValidation", "Warn");
    if (validation != "Strict" && validation != "Warn" && validation != "Ignore") {
      *error =
          ApiError::BadRequest(absl::StrCat("fieldValidation: unsupported value \"", validation,
                                            "\": supported values: Ignore, Warn, Strict"));
      return absl::InvalidArgumentError("fieldValidation");
    }
    std::vector<std::string> unknown = schema::Prune(r.schema->open_api_v3, obj);
    if (!unknown.empty() && validation == "Strict") {
      std::vector<std::string> parts;
      for (const std::string& u : unknown)
        parts.push_back(absl::StrCat("unknown field \"", u, "\""));
      *error =
          ApiError::BadRequest(absl::StrCat("strict decoding error: ", absl::StrJoin(parts, ", ")));
      return absl::InvalidArgumentError("unknown fields");
    }
    if (validation == "Warn") {
      for (const std::string& u : unknown)
        warnings->push_back(absl::StrCat("unknown field \"", u, "\""));
    }
    schema::ApplyDefaults(r.schema->open_api_v3, obj);
    std::vector<schema::FieldError> errs =
        schema::Validate(r.schema->open_api_v3, obj, /*report_unknown=*/false);
    if (!errs.empty()) {
      std::vector<Cause> causes;
      for (const schema::FieldError& e : errs) causes.push_back({e.Reason(), e.detail, e.field});
      *error = ApiError::Invalid(RefOf(t, name), std::move(causes));
      return absl::InvalidArgumentError("schema");
    }
  }
  absl::StatusOr<Json> admitted = controller::Admit(obj, existing);
  if (!admitted.ok()) {
    *error = ApiError::FromStatus(admitted.status(), RefOf(t, name));
    return admitted.status();
  }
  // Admission judges what clients may write and drops status; status is carried here: the new
  // one through /status, the stored one through the main endpoint.
  const Json* status = !t.subresource.empty() ? &obj : existing;
  if (status && status->contains("status")) (*admitted)["status"] = (*status)["status"];
  if (applied) return admitted;
  return RecordUpdate(existing, *admitted, manager, t.subresource, FormatRfc3339(clock_.Now()),
                      r.schema ? &r.schema->open_api_v3 : nullptr);
}

HttpResponse Api::Get(const HttpRequest& req, const Target& t, const Negotiated& n) {
  auto obj = store_.Peek(KeyOf(t, t.name));
  if (!obj.ok()) return ErrorResponse(ApiError::FromStatus(obj.status(), RefOf(t, t.name)));
  if (n.table) {
    return JsonResponse(200, ToTable({obj->get()}, t.resource->kind, n.table_version,
                                     IncludeOf(req), clock_.Now(), Json::object()));
  }
  return HttpResponse{200, "application/json", (*obj)->dump(), {}};
}

HttpResponse Api::List(const HttpRequest& req, const Target& t, const Negotiated& n) {
  absl::StatusOr<Selectors> sel = SelectorsOf(req, t);
  if (!sel.ok()) return ErrorResponse(ApiError::BadRequest(std::string(sel.status().message())));
  int64_t limit = 0;
  if (std::string l = req.Query("limit");
      !l.empty() && (!absl::SimpleAtoi(l, &limit) || limit < 0)) {
    return ErrorResponse(ApiError::BadRequest("limit: must be a non-negative integer"));
  }
  // continue: the last key of the previous page, opaque to clients.
  std::optional<ObjectName> after;
  if (std::string c = req.Query("continue"); !c.empty()) {
    std::string decoded;
    Json token;
    if (absl::WebSafeBase64Unescape(c, &decoded)) token = Json::parse(decoded, nullptr, false);
    if (!token.is_object() || !token.contains("ns") || !token.contains("name")) {
      return ErrorResponse(ApiError::BadRequest("continue key is not valid"));
    }
    after = ObjectName{token.value("ns", ""), token.value("name", "")};
  }
  uint64_t rv = 0;
  auto items = store_.ListShared(KeyOf(t, "").kind, t.ns, &rv);
  if (!items.ok()) return ErrorResponse(ApiError::FromStatus(items.status(), RefOf(t, "")));
  // The store lists in (namespace, name) order: a page starts by binary search, so paging
  // through N objects costs N, not N per page.
  size_t i = 0;
  if (after) {
    i = std::upper_bound(items->begin(), items->end(), *after,
                         [](const ObjectName& k, const std::shared_ptr<const Json>& o) {
                           return k < NameOf(*o);
                         }) -
        items->begin();
  }
  bool selective = !sel->empty();
  std::vector<const Json*> page;
  std::optional<size_t> next;  // index of the first object left for the next page
  for (; i < items->size(); ++i) {
    const Json& obj = *(*items)[i];
    if (selective && !sel->Matches(obj)) continue;
    if (limit > 0 && static_cast<int64_t>(page.size()) >= limit) {
      next = i;
      break;
    }
    page.push_back(&obj);
  }
  Json meta = {{"resourceVersion", std::to_string(rv)}};
  if (next) {
    ObjectName last = NameOf(*page.back());
    meta["continue"] = absl::WebSafeBase64Escape(
        Json{{"rv", rv}, {"ns", last.first}, {"name", last.second}}.dump());
    // As kube: a count only when it is exact without evaluating the rest (no selector).
    if (!selective) meta["remainingItemCount"] = items->size() - *next;
  }
  if (n.table) {
    return JsonResponse(
        200, ToTable(page, t.resource->kind, n.table_version, IncludeOf(req), clock_.Now(), meta));
  }
  std::string body = absl::StrCat("{\"apiVersion\":\"", t.resource->ApiVersion(), "\",\"items\":[");
  for (size_t i = 0; i < page.size(); ++i) {
    if (i) body.push_back(',');
    body += page[i]->dump();
  }
  absl::StrAppend(&body, "],\"kind\":\"", t.resource->list_kind, "\",\"metadata\":", meta.dump(),
                  "}");
  return HttpResponse{200, "application/json", std::move(body), {}};
}

HttpResponse Api::Create(const HttpRequest& req, const Target& t, const Caller& caller) {
  absl::StatusOr<Json> body = ParseBody(req);
  if (!body.ok()) return ErrorResponse(ApiError::BadRequest(std::string(body.status().message())));
  Json obj = *std::move(body);
  if (std::optional<ApiError> e = CheckIdentity(t, obj, "")) return ErrorResponse(*e);
  Json& meta = obj["metadata"];
  if (meta.contains("resourceVersion") && !meta["resourceVersion"].get<std::string>().empty()) {
    return ErrorResponse(
        ApiError::BadRequest("resourceVersion should not be set on objects to be created"));
  }
  if (meta.value("name", "").empty()) {
    std::string prefix = meta.value("generateName", "");
    if (prefix.empty()) {
      return ErrorResponse(ApiError::Invalid(
          RefOf(t, ""),
          {{"FieldValueRequired", "name or generateName is required", "metadata.name"}}));
    }
    meta["name"] = prefix + RandomSuffix();
  }
  if (t.resource->status_subresource) obj.erase("status");  // status is the controller's
  return Write(req, t, nullptr, std::move(obj), 201);
}

HttpResponse Api::Write(const HttpRequest& req, const Target& t, const Json* existing, Json obj,
                        int created_code, bool applied) {
  std::string name = obj["metadata"].value("name", "");
  std::vector<std::string> warnings;
  ApiError error(500, "InternalError", "");
  absl::StatusOr<Json> prepared =
      Prepare(req, t, std::move(obj), existing, applied ? "" : Manager(req), &warnings, &error);
  if (!prepared.ok()) return ErrorResponse(error);
  if (existing && SameIgnoringVersion(*existing, *prepared)) {
    return WithWarnings(JsonResponse(200, *existing), warnings);
  }
  if (DryRun(req))
    return WithWarnings(JsonResponse(existing ? 200 : created_code, *prepared), warnings);
  absl::StatusOr<Json> stored = existing ? store_.Update(*prepared) : store_.Create(*prepared);
  if (!stored.ok()) return ErrorResponse(ApiError::FromStatus(stored.status(), RefOf(t, name)));
  return WithWarnings(JsonResponse(existing ? 200 : created_code, *stored), warnings);
}

HttpResponse Api::Update(const HttpRequest& req, const Target& t, const Caller& caller) {
  absl::StatusOr<Json> body = ParseBody(req);
  if (!body.ok()) return ErrorResponse(ApiError::BadRequest(std::string(body.status().message())));
  Json obj = *std::move(body);
  if (std::optional<ApiError> e = CheckIdentity(t, obj, t.name)) return ErrorResponse(*e);
  auto existing = store_.Get(KeyOf(t, t.name));
  if (!existing.ok())
    return ErrorResponse(ApiError::FromStatus(existing.status(), RefOf(t, t.name)));
  std::string rv = JsonString(obj, "/metadata/resourceVersion");
  if (rv.empty()) {
    return ErrorResponse(ApiError::Invalid(
        RefOf(t, t.name),
        {{"FieldValueInvalid", "Invalid value: 0x0: must be specified for an update",
          "metadata.resourceVersion"}}));
  }
  if (rv != JsonString(*existing, "/metadata/resourceVersion")) {
    return ErrorResponse(ApiError::StaleUpdate(RefOf(t, t.name)));
  }
  return Write(req, t, &*existing, OntoLive(t, *existing, std::move(obj), false), 200);
}

HttpResponse Api::Patch(const HttpRequest& req, const Target& t, const Caller& caller) {
  std::string type = req.Header("content-type");
  type = type.substr(0, type.find(';'));
  // kubectl sends strategic merge patches for the core kinds (it knows their Go types). Berth's
  // Secrets and Events hold no lists a strategic merge would key, so a JSON merge patch does the
  // same; custom resources refuse it with 415, as kube-apiserver does.
  if (type == "application/strategic-merge-patch+json" && !t.resource->schema) {
    type = "application/merge-patch+json";
  }
  if (std::find(kPatchTypes.begin(), kPatchTypes.end(), type) == kPatchTypes.end()) {
    return ErrorResponse(ApiError::UnsupportedMediaType(type, kPatchTypes));
  }
  absl::StatusOr<Json> patch = ParseBody(req);
  if (!patch.ok())
    return ErrorResponse(ApiError::BadRequest(std::string(patch.status().message())));
  bool apply = type == "application/apply-patch+yaml";
  if (absl::Status s = ValidateManager(req.Query("fieldManager"), "PatchOptions", apply); !s.ok()) {
    return ErrorResponse(ApiError(422, "Invalid", std::string(s.message())));
  }
  for (int attempt = 0; attempt < kPatchRetries; ++attempt) {
    auto existing = store_.Get(KeyOf(t, t.name));
    if (!existing.ok() && !(apply && absl::IsNotFound(existing.status()))) {
      return ErrorResponse(ApiError::FromStatus(existing.status(), RefOf(t, t.name)));
    }
    const Json* live = existing.ok() ? &*existing : nullptr;
    Json obj;
    if (apply) {
      Json applied = *patch;
      if (std::optional<ApiError> e = CheckIdentity(t, applied, t.name)) return ErrorResponse(*e);
      if (!live && t.resource->status_subresource && t.subresource.empty()) applied.erase("status");
      const Json* schema = t.resource->schema ? &t.resource->schema->open_api_v3 : nullptr;
      absl::StatusOr<ApplyResult> r =
          Apply(live, applied, req.Query("fieldManager"), QueryBool(req, "force"), t.subresource,
                FormatRfc3339(clock_.Now()), schema);
      if (!r.ok()) return ErrorResponse(ApiError::BadRequest(std::string(r.status().message())));
      if (!r->conflicts.empty()) {
        Json status = r->ConflictStatus();
        status["details"]["name"] = t.name;
        status["details"]["group"] = t.resource->group;
        status["details"]["kind"] = t.resource->plural;
        return JsonResponse(409, status);
      }
      if (live && r->object == *live) return JsonResponse(200, *live);
      obj = std::move(r->object);
      if (!live) {
        return Write(req, t, nullptr, std::move(obj), 201, /*applied=*/true);
      }
    } else {
      try {
        obj = type == "application/json-patch+json" ? live->patch(*patch) : *live;
        if (type == "application/merge-patch+json") obj.merge_patch(*patch);
      } catch (const std::exception& e) {
        return ErrorResponse(ApiError(
            422, "Invalid",
            absl::StrCat("the server rejected our request due to an error in our request: ",
                         e.what())));
      }
      if (std::optional<ApiError> e = CheckIdentity(t, obj, t.name)) return ErrorResponse(*e);
    }
    std::string client_rv = JsonString(obj, "/metadata/resourceVersion");
    bool precondition = !apply && client_rv != JsonString(*live, "/metadata/resourceVersion");
    if (precondition && !client_rv.empty())
      return ErrorResponse(ApiError::StaleUpdate(RefOf(t, t.name)));
    obj["metadata"]["resourceVersion"] = JsonString(*live, "/metadata/resourceVersion");
    HttpResponse resp = Write(
        req, t, live, OntoLive(t, *live, std::move(obj), /*keep_managed_fields=*/true), 200, apply);
    if (resp.code == 409 && !precondition &&
        absl::StrContains(resp.body, "\"reason\":\"Conflict\"") &&
        !absl::StrContains(resp.body, "FieldManagerConflict")) {
      continue;  // someone wrote in between: patch the newer object
    }
    return resp;
  }
  return ErrorResponse(ApiError::StaleUpdate(RefOf(t, t.name)));
}

HttpResponse Api::Delete(const HttpRequest& req, const Target& t) {
  Json opts = Json::object();
  if (!req.body.empty()) {
    absl::StatusOr<Json> body = ParseBody(req);
    if (!body.ok())
      return ErrorResponse(ApiError::BadRequest(std::string(body.status().message())));
    opts = *body;
  }
  auto existing = store_.Get(KeyOf(t, t.name));
  if (!existing.ok())
    return ErrorResponse(ApiError::FromStatus(existing.status(), RefOf(t, t.name)));
  std::optional<std::string> uid;
  if (std::string u = JsonString(opts, "/preconditions/uid"); !u.empty()) {
    if (u != JsonString(*existing, "/metadata/uid")) {
      return ErrorResponse(ApiError::Conflict(
          RefOf(t, t.name),
          absl::StrCat("Precondition failed: UID in precondition: ", u,
                       ", UID in object meta: ", JsonString(*existing, "/metadata/uid"))));
    }
    uid = u;
  }
  if (std::string rv = JsonString(opts, "/preconditions/resourceVersion"); !rv.empty()) {
    if (rv != JsonString(*existing, "/metadata/resourceVersion")) {
      return ErrorResponse(ApiError::Conflict(
          RefOf(t, t.name), absl::StrCat("Precondition failed: ResourceVersion in precondition: ",
                                         rv, ", ResourceVersion in object meta: ",
                                         JsonString(*existing, "/metadata/resourceVersion"))));
    }
  }
  std::string propagation = opts.value("propagationPolicy", req.Query("propagationPolicy"));
  if (!propagation.empty() && propagation != "Background" && propagation != "Foreground" &&
      propagation != "Orphan") {
    return ErrorResponse(ApiError::BadRequest(absl::StrCat(
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"",
        propagation, "\": supported values: \"Foreground\", \"Background\", \"Orphan\"")));
  }
  if (propagation == "Orphan") {
    return ErrorResponse(ApiError(422, "Invalid",
                                  "propagationPolicy Orphan is not supported: Berth deletes "
                                  "dependents with their owner"));
  }
  if (DryRun(req) || JsonAt(opts, "/dryRun").dump().find("All") != std::string::npos) {
    return JsonResponse(200, *existing);
  }
  auto deleted = store_.Delete(KeyOf(t, t.name), uid);
  if (!deleted.ok()) return ErrorResponse(ApiError::FromStatus(deleted.status(), RefOf(t, t.name)));
  bool pending = JsonString(*deleted, "/metadata/deletionTimestamp") != "" &&
                 deleted->contains("metadata") && (*deleted)["metadata"].contains("finalizers") &&
                 !(*deleted)["metadata"]["finalizers"].empty();
  return JsonResponse(pending ? 202 : 200, *deleted);
}

HttpResponse Api::DeleteCollection(const HttpRequest& req, const Target& t) {
  absl::StatusOr<Selectors> sel = SelectorsOf(req, t);
  if (!sel.ok()) return ErrorResponse(ApiError::BadRequest(std::string(sel.status().message())));
  uint64_t rv = 0;
  auto items = store_.List(KeyOf(t, "").kind, t.ns, &rv);
  if (!items.ok()) return ErrorResponse(ApiError::FromStatus(items.status(), RefOf(t, "")));
  Json out = Json::array();
  for (const Json& obj : *items) {
    if (!sel->Matches(obj)) continue;
    if (DryRun(req)) {
      out.push_back(obj);
      continue;
    }
    Target one = t;
    one.ns = JsonString(obj, "/metadata/namespace");
    auto deleted = store_.Delete(KeyOf(one, JsonString(obj, "/metadata/name")));
    if (deleted.ok()) out.push_back(*deleted);
  }
  return JsonResponse(200,
                      {{"apiVersion", t.resource->ApiVersion()},
                       {"kind", t.resource->list_kind},
                       {"metadata", {{"resourceVersion", std::to_string(store_.CurrentVersion())}}},
                       {"items", out}});
}

HttpResponse Api::Namespaces(const HttpRequest& req, const Target& t, const Negotiated& n,
                             const Caller& caller) {
  // A user sees the namespaces granted to them, named by objects or not (yet); admins see every
  // namespace an object names.
  std::optional<std::vector<std::string>> visible = VisibleNamespaces(caller);
  if (visible && !t.name.empty() && !std::binary_search(visible->begin(), visible->end(), t.name)) {
    return ErrorResponse(ApiError::Forbidden(RefOf(t, t.name), caller.user, "get", t.name));
  }
  std::set<std::string> names;
  if (visible) {
    names.insert(visible->begin(), visible->end());
  } else if (t.name.empty()) {
    names.insert("default");
    for (const Resource& r : registry_.resources()) {
      if (!r.namespaced || !r.info) continue;
      auto items = store_.ListShared(r.info->kind, "");
      if (!items.ok()) continue;
      for (const auto& obj : *items) names.insert(JsonString(*obj, "/metadata/namespace"));
    }
  }
  auto ns_object = [](const std::string& name) {
    return Json{{"apiVersion", "v1"},
                {"kind", "Namespace"},
                {"metadata", {{"name", name}}},
                {"spec", Json::object()},
                {"status", {{"phase", "Active"}}}};
  };
  if (!t.name.empty()) {
    // Every valid name exists: Berth namespaces are implicit, created by naming them.
    Json obj = ns_object(t.name);
    if (n.table) {
      return JsonResponse(200, ToTable({&obj}, "Namespace", n.table_version, IncludeOf(req),
                                       clock_.Now(), Json::object()));
    }
    return JsonResponse(200, obj);
  }
  std::vector<Json> objs;
  for (const std::string& name : names) objs.push_back(ns_object(name));
  Json meta = {{"resourceVersion", std::to_string(store_.CurrentVersion())}};
  if (n.table) {
    std::vector<const Json*> ptrs;
    for (const Json& o : objs) ptrs.push_back(&o);
    return JsonResponse(
        200, ToTable(ptrs, "Namespace", n.table_version, IncludeOf(req), clock_.Now(), meta));
  }
  return JsonResponse(
      200, {{"apiVersion", "v1"}, {"kind", "NamespaceList"}, {"metadata", meta}, {"items", objs}});
}

}  // namespace berth::kubeapi
