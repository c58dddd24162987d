#include "kubeapi/api.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "berth/log.h"
#include "berth/manifest.h"
#include "kubeapi/export_proxy.h"

namespace berth::kubeapi {

HttpResponse JsonResponse(int code, const Json& body) {
  return HttpResponse{code, "application/json", body.dump(), {}};
}

HttpResponse ErrorResponse(const ApiError& e) {
  HttpResponse r = JsonResponse(e.code(), e.ToJson());
  if (e.retry_after() > 0) r.headers.push_back({"Retry-After", std::to_string(e.retry_after())});
  return r;
}

ResourceRef RefOf(const Target& t, const std::string& name) {
  return ResourceRef{t.resource->group, t.resource->plural, t.resource->kind, name};
}

controller::ObjectKey KeyOf(const Target& t, const std::string& name) {
  return controller::ObjectKey{t.resource->info ? t.resource->info->kind : t.resource->kind,
                               t.resource->namespaced ? t.ns : "", name};
}

absl::StatusOr<Json> ParseBody(const HttpRequest& req) {
  std::string type = absl::AsciiStrToLower(req.Header("content-type"));
  if (absl::StrContains(type, "yaml")) {
    auto docs = ParseManifests(req.body);
    if (!docs.ok()) return absl::InvalidArgumentError(docs.status().message());
    if (docs->size() != 1) {
      return absl::InvalidArgumentError("the body must hold exactly one object");
    }
    return (*docs)[0];
  }
  Json j = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError("the body is not valid JSON");
  }
  return j;
}

namespace {

std::vector<std::string> Segments(const std::string& path) {
  return absl::StrSplit(path, '/', absl::SkipEmpty());
}

Negotiated Negotiate(const std::string& accept) {
  Negotiated n;
  for (absl::string_view range : absl::StrSplit(accept, ',')) {
    std::string r = absl::AsciiStrToLower(std::string(absl::StripAsciiWhitespace(range)));
    if (absl::StrContains(r, "as=table") && absl::StrContains(r, "g=meta.k8s.io")) {
      n.table = true;
      n.table_version = absl::StrContains(r, "v=v1beta1") ? "v1beta1" : "v1";
      return n;
    }
    if (absl::StartsWith(r, "application/json") || absl::StartsWith(r, "*/*")) return n;
  }
  return n;
}

bool Acceptable(const std::string& accept) {
  if (accept.empty()) return true;
  for (absl::string_view range : absl::StrSplit(accept, ',')) {
    std::string r = absl::AsciiStrToLower(std::string(absl::StripAsciiWhitespace(range)));
    if (absl::StartsWith(r, "application/json") || absl::StartsWith(r, "*/*") ||
        absl::StartsWith(r, "application/*")) {
      return true;
    }
  }
  return false;
}

std::vector<schema::KindSchema> AllSchemas() {
  std::vector<schema::KindSchema> all = schema::Kinds();
  for (schema::KindSchema& k : CoreV1Kinds()) all.push_back(std::move(k));
  return all;
}

}  // namespace

absl::StatusOr<Selectors> SelectorsOf(const HttpRequest& req, const Target& t) {
  Selectors s;
  absl::StatusOr<std::vector<LabelRequirement>> labels =
      ParseLabelSelector(req.Query("labelSelector"));
  if (!labels.ok()) return labels.status();
  s.labels = *std::move(labels);
  absl::StatusOr<std::vector<FieldRequirement>> fields =
      ParseFieldSelector(req.Query("fieldSelector"), t.resource->kind);
  if (!fields.ok()) return fields.status();
  s.fields = *std::move(fields);
  return s;
}

IncludeObject IncludeOf(const HttpRequest& req) {
  std::string v = req.Query("includeObject", "Metadata");
  if (v == "None") return IncludeObject::kNone;
  if (v == "Object") return IncludeObject::kObject;
  return IncludeObject::kMetadata;
}

bool QueryBool(const HttpRequest& req, const std::string& key) {
  // Go's strconv.ParseBool, which kube-apiserver uses: the Python client sends "True".
  static const char* const kTrue[] = {"1", "t", "T", "true", "TRUE", "True"};
  std::string v = req.Query(key);
  return std::find(std::begin(kTrue), std::end(kTrue), v) != std::end(kTrue);
}

Api::Api(controller::ObjectStore& store, const controller::AccessControl& access,
         const Clock& clock, const controller::KubeApiOptions& options)
    : store_(store),
      access_(access),
      clock_(clock),
      options_(options),
      openapi_(BuildOpenApi(AllSchemas())),
      console_(console::Assets()) {
  if (options.authorization == "kubernetes") {
    reviewer_ = std::make_unique<AccessReviewer>(
        AccessReviewer::Https(options.review_server, options.review_token_file,
                              options.review_ca_file),
        clock);
  }
}

absl::StatusOr<controller::Caller> Api::Authenticate(const HttpRequest& req) const {
  std::string authz = req.Header("authorization");
  if (!authz.empty()) {
    if (!absl::StartsWith(authz, "Bearer ")) {
      return absl::UnauthenticatedError("the Authorization header is not \"Bearer TOKEN\"");
    }
    return access_.FromToken(std::string(absl::StripAsciiWhitespace(authz.substr(7))));
  }
  if (req.cert && req.cert->front_proxy) {
    const auto& allowed = options_.front_proxy_allowed_names;
    if (!allowed.empty() &&
        std::find(allowed.begin(), allowed.end(), req.cert->subject_cn) == allowed.end()) {
      return absl::UnauthenticatedError("front-proxy certificate name is not allowed");
    }
    Caller c;
    for (const std::string& h : options_.username_headers) {
      c.user = req.Header(absl::AsciiStrToLower(h));
      if (!c.user.empty()) break;
    }
    if (c.user.empty()) return absl::UnauthenticatedError("front proxy named no user");
    for (const std::string& h : options_.group_headers) {
      auto [lo, hi] = req.headers.equal_range(absl::AsciiStrToLower(h));
      for (auto it = lo; it != hi; ++it) {
        for (absl::string_view g : absl::StrSplit(it->second, ',', absl::SkipEmpty())) {
          c.groups.emplace_back(absl::StripAsciiWhitespace(g));
        }
      }
    }
    c.admin = std::find(c.groups.begin(), c.groups.end(), "system:masters") != c.groups.end() ||
              std::find(c.groups.begin(), c.groups.end(), kGroupClusterAdmins) != c.groups.end();
    c.via = "front-proxy";
    return c;
  }
  if (req.cert && !req.cert->subject_cn.empty()) {
    return access_.FromCertificate(PeerIdentity{req.cert->subject_cn, req.cert->subject_o});
  }
  if (access_.insecure()) return Caller{"anonymous", {}, true, false, "insecure"};
  return absl::UnauthenticatedError("no client certificate and no bearer token");
}

std::optional<ApiError> Api::Authorize(const HttpRequest& req, const Caller& caller,
                                       const std::string& verb, const Target& t) {
  if (reviewer_ && caller.via == "front-proxy") {
    AccessRequest ar{
        caller.user,        caller.groups, {},   verb,  t.resource->group, t.resource->version,
        t.resource->plural, t.subresource, t.ns, t.name};
    for (const std::string& prefix : options_.extra_headers_prefix) {
      std::string p = absl::AsciiStrToLower(prefix);
      for (const auto& [name, value] : req.headers) {
        if (absl::StartsWith(name, p) && name.size() > p.size()) {
          ar.extra[name.substr(p.size())].push_back(value);
        }
      }
    }
    absl::StatusOr<AccessDecision> d = reviewer_->Review(ar);
    if (!d.ok()) return ApiError::FromStatus(d.status(), RefOf(t, t.name));
    if (d->allowed) return std::nullopt;
    ApiError e = ApiError::Forbidden(RefOf(t, t.name), caller.user, verb, t.ns);
    return e;
  }
  if (t.resource->implicit) return std::nullopt;  // namespaces: names only, for everyone
  controller::Verb v = controller::Verb::kGet;
  if (verb == "list") v = controller::Verb::kList;
  if (verb == "watch") v = controller::Verb::kWatch;
  if (verb == "create" || verb == "update" || verb == "patch") v = controller::Verb::kApply;
  if (verb == "delete" || verb == "deletecollection") v = controller::Verb::kDelete;
  absl::Status s = access_.Authorize(caller, v, *t.resource->info, t.ns);
  if (s.ok()) return std::nullopt;
  ApiError e = ApiError::Forbidden(RefOf(t, t.name), caller.user, verb, t.ns);
  return e;
}

HttpReply Api::Handle(const HttpRequest& req) {
  // The console's files hold no data: served to anyone, as the login page must be.
  if (std::optional<HttpResponse> page = console_.Serve(req)) return *page;
  if (req.path == "/version" || req.path == "/version/") {
    if (std::optional<HttpResponse> open = Discovery(req)) return *open;  // served to anyone
  }
  // A browser's download of an export (a plain link, no Authorization header) carries the
  // export's own token instead, as the agent's stream accepts it.
  if (req.method == "GET" && !req.Query("token").empty() && req.Header("authorization").empty()) {
    std::vector<std::string> seg = Segments(req.path);
    if (seg.size() == 8 && seg[0] == "apis" && seg[3] == "namespaces" && seg[5] == "dataexports" &&
        seg[7] == "data") {
      Target t;
      t.resource = registry_.Find(seg[1], seg[2], seg[5]);
      t.ns = seg[4];
      t.name = seg[6];
      t.subresource = "data";
      if (t.resource) return ExportData(req, t, /*by_token=*/true);
    }
  }
  absl::StatusOr<Caller> caller = Authenticate(req);
  if (!caller.ok()) {
    berth::log::Info("kube-api: unauthenticated request",
                     {{"peer", req.peer_ip},
                      {"path", req.path},
                      {"reason", std::string(caller.status().message())}});
    return ErrorResponse(ApiError::Unauthorized(std::string(caller.status().message())));
  }
  if (std::optional<HttpResponse> d = Discovery(req)) return *d;
  if (!Acceptable(req.Header("accept"))) {
    return ErrorResponse(ApiError::NotAcceptable({"application/json"}));
  }
  return Route(req, *caller);
}

std::optional<HttpResponse> Api::Discovery(const HttpRequest& req) {
  if (req.method != "GET") return std::nullopt;
  const std::string& p = req.path;
  if (p == "/version" || p == "/version/") return JsonResponse(200, Registry::Version());
  if (p == "/") {
    // kube-apiserver's root: the paths it serves. Browsers get the console here instead.
    HttpResponse r = JsonResponse(200, registry_.RootPaths());
    r.headers.push_back({"Vary", "Accept"});
    return r;
  }
  if (p == "/healthz" || p == "/livez" || p == "/readyz") {
    return HttpResponse{200, "text/plain", "ok", {}};
  }
  if (p == "/api" || p == "/api/") return JsonResponse(200, registry_.Versions());
  if (p == "/apis" || p == "/apis/") return JsonResponse(200, registry_.Groups());
  if (p == "/openapi/v2") {
    if (absl::StrContains(req.Header("accept"), "protobuf")) {
      return HttpResponse{200,
                          "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                          openapi_.v2_protobuf,
                          {{"ETag", "\"" + openapi_.v2_etag + "\""}}};
    }
    return HttpResponse{
        200, "application/json", openapi_.v2_json, {{"ETag", "\"" + openapi_.v2_etag + "\""}}};
  }
  if (p == "/openapi/v3") return HttpResponse{200, "application/json", openapi_.v3_index_json, {}};
  if (absl::StartsWith(p, "/openapi/v3/")) {
    auto it = openapi_.v3_json.find(p.substr(strlen("/openapi/v3/")));
    if (it == openapi_.v3_json.end()) return ErrorResponse(ApiError(404, "NotFound", "not found"));
    return HttpResponse{200, "application/json", it->second, {}};
  }
  std::vector<std::string> seg = Segments(p);
  if (seg.size() == 2 && seg[0] == "api" && seg[1] == "v1") {
    return JsonResponse(200, registry_.ResourceList("", "v1"));
  }
  if (seg.size() == 2 && seg[0] == "apis") {
    Json g = registry_.Group(seg[1]);
    if (!g.is_null()) return JsonResponse(200, g);
  }
  if (seg.size() == 3 && seg[0] == "apis") {
    Json l = registry_.ResourceList(seg[1], seg[2]);
    if (!l.is_null()) return JsonResponse(200, l);
  }
  return std::nullopt;
}

HttpReply Api::Route(const HttpRequest& req, const Caller& caller) {
  std::vector<std::string> seg = Segments(req.path);
  std::string group, version;
  size_t i = 0;
  if (seg.size() >= 2 && seg[0] == "api") {
    version = seg[1];
    i = 2;
  } else if (seg.size() >= 3 && seg[0] == "apis") {
    group = seg[1];
    version = seg[2];
    i = 3;
  } else {
    return ErrorResponse(
        ApiError(404, "NotFound", "the server could not find the requested resource"));
  }
  std::vector<std::string> rest(seg.begin() + i, seg.end());
  Target t;
  if (rest.size() >= 3 && rest[0] == "namespaces") {
    t.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  } else if (group.empty() && !rest.empty() && rest[0] == "namespaces" && rest.size() <= 3) {
    // /api/v1/namespaces[/NAME[/status]]: the implicit namespaces themselves.
  }
  if (rest.empty() || rest.size() > 3) {
    return ErrorResponse(
        ApiError(404, "NotFound", "the server could not find the requested resource"));
  }
  t.resource = registry_.Find(group, version, rest[0]);
  if (!t.resource) {
    return ErrorResponse(
        ApiError(404, "NotFound",
                 absl::StrCat("the server could not find the requested resource (",
                              group.empty() ? version : group + "/" + version, " ", rest[0], ")")));
  }
  if (!t.resource->namespaced && !t.ns.empty()) {
    return ErrorResponse(
        ApiError(404, "NotFound", "the server could not find the requested resource"));
  }
  if (rest.size() >= 2) t.name = rest[1];
  if (rest.size() == 3) t.subresource = rest[2];
  bool export_data = t.subresource == "data" && t.resource->kind == "DataExport" &&
                     !t.name.empty() && req.method == "GET";
  bool upload = t.subresource == "upload" &&
                (t.resource->kind == "VirtualDisk" || t.resource->kind == "VirtualImage") &&
                !t.name.empty() && (req.method == "PUT" || req.method == "POST");
  if (!t.subresource.empty() && !export_data && !upload &&
      (t.subresource != "status" || !t.resource->status_subresource)) {
    return ErrorResponse(
        ApiError(404, "NotFound", "the server could not find the requested resource"));
  }
  Negotiated n = Negotiate(req.Header("accept"));
  const std::string& m = req.method;
  bool watch = QueryBool(req, "watch");
  std::string verb = m == "GET"      ? (t.name.empty() ? (watch ? "watch" : "list") : "get")
                     : m == "POST"   ? "create"
                     : m == "PUT"    ? "update"
                     : m == "PATCH"  ? "patch"
                     : m == "DELETE" ? (t.name.empty() ? "deletecollection" : "delete")
                                     : "";
  if (verb.empty()) return ErrorResponse(ApiError::MethodNotAllowed("method not allowed"));
  if (upload) verb = "update";  // writing an object's data is writing the object
  if (t.resource->review) {
    if (verb != "create" || !t.name.empty()) {
      return ErrorResponse(ApiError::MethodNotAllowed("selfsubjectreviews are only created"));
    }
    return SelfSubjectReview(caller);  // anyone may ask who they are
  }
  if (std::optional<ApiError> denied = Authorize(req, caller, verb, t)) {
    return ErrorResponse(*denied);
  }
  if (t.resource->implicit) {
    if (verb != "get" && verb != "list" && verb != "watch") {
      return ErrorResponse(ApiError::MethodNotAllowed(
          "namespaces are implicit in Berth: they exist while objects name them"));
    }
    return Namespaces(req, t, n, caller);
  }
  if (export_data) return ExportData(req, t, /*by_token=*/false);
  if (upload) return Upload(req, t);
  if (verb == "get") return Get(req, t, n);
  if (verb == "list") return List(req, t, n);
  if (verb == "watch") return Watch(req, t, n);
  if (verb == "create") {
    if (!t.name.empty())
      return ErrorResponse(ApiError::MethodNotAllowed("POST names a collection"));
    return Create(req, t, caller);
  }
  if (verb == "update") return Update(req, t, caller);
  if (verb == "patch") return Patch(req, t, caller);
  if (verb == "delete") return Delete(req, t);
  return DeleteCollection(req, t);
}

HttpReply Api::ExportData(const HttpRequest& req, const Target& t, bool by_token) {
  auto dex = store_.Get(KeyOf(t, t.name));
  if (!dex.ok()) {
    // By token, an unknown export and a wrong token look the same: nothing to probe with.
    if (by_token) return ErrorResponse(ApiError::Unauthorized("the export token does not match"));
    return ErrorResponse(ApiError::FromStatus(dex.status(), RefOf(t, t.name)));
  }
  if (by_token && !ExportTokenMatches(*dex, req.Query("token"))) {
    return ErrorResponse(ApiError::Unauthorized("the export token does not match"));
  }
  absl::StatusOr<std::unique_ptr<Stream>> relay =
      OpenExportDownload(*dex, req.Header("range"), options_.tls);
  if (relay.ok()) return *std::move(relay);
  const absl::Status& st = relay.status();
  std::string msg(st.message());
  if (absl::IsDeadlineExceeded(st)) return ErrorResponse(ApiError::Gone(msg));
  if (absl::IsFailedPrecondition(st)) return ErrorResponse(ApiError(409, "Conflict", msg));
  if (absl::IsOutOfRange(st))
    return ErrorResponse(ApiError(416, "RequestedRangeNotSatisfiable", msg));
  if (absl::IsNotFound(st)) return ErrorResponse(ApiError(404, "NotFound", msg));
  return ErrorResponse(ApiError(503, "ServiceUnavailable", msg));
}

HttpResponse Api::Upload(const HttpRequest& req, const Target& t) {
  auto obj = store_.Get(KeyOf(t, t.name));
  if (!obj.ok()) return ErrorResponse(ApiError::FromStatus(obj.status(), RefOf(t, t.name)));
  absl::StatusOr<ExportAnswer> a =
      RelayUpload(*obj, req.method, req.Header("content-range"), req.body, options_.tls);
  if (!a.ok()) {
    std::string msg(a.status().message());
    if (absl::IsFailedPrecondition(a.status()))
      return ErrorResponse(ApiError(409, "Conflict", msg));
    if (absl::IsInvalidArgument(a.status())) return ErrorResponse(ApiError::BadRequest(msg));
    return ErrorResponse(ApiError(503, "ServiceUnavailable", msg));
  }
  if (a->code >= 200 && a->code < 300) {
    return HttpResponse{
        a->code == 204 ? 204 : 200, "application/json", a->code == 204 ? "" : a->body, {}};
  }
  std::string msg = absl::StrCat("the node refused the upload (HTTP ", a->code, ")",
                                 a->body.empty() ? "" : ": ", a->body.substr(0, 500));
  if (a->code == 416 || a->code == 422) return ErrorResponse(ApiError(422, "Invalid", msg));
  if (a->code == 410) return ErrorResponse(ApiError::Gone(msg));
  return ErrorResponse(ApiError(502, "BadGateway", msg));
}

}  // namespace berth::kubeapi
