#include "kubeapi/openapi.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string_view>
#include <utility>

namespace berth::kubeapi {
namespace {

using schema::KindSchema;

constexpr char kDefinitions[] = "#/definitions/";
constexpr char kComponents[] = "#/components/schemas/";
constexpr char kMeta[] = "io.k8s.apimachinery.pkg.apis.meta.v1.";
constexpr char kConventions[] =
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md";

std::string Meta(const char* name) { return std::string(kMeta) + name; }

// Every document is built with v2 references (#/definitions/NAME); v3 documents have them
// rewritten to #/components/schemas/NAME at the end.
Json Ref(const std::string& model, const std::string& description = "") {
  Json ref = {{"$ref", kDefinitions + model}};
  if (!description.empty()) ref["description"] = description;
  return ref;
}

// builder.go's gvkToModelName: the group reversed, so virtualization.deckhouse.io/v1alpha2
// VirtualDisk is io.deckhouse.virtualization.v1alpha2.VirtualDisk. The core group is named
// like the built-in types.
std::string ModelName(const KindSchema& k, const std::string& kind) {
  if (k.group.empty()) return "io.k8s.api.core." + k.version + "." + kind;
  std::string reversed;
  std::string_view g = k.group;
  while (!g.empty()) {
    size_t dot = g.rfind('.');
    std::string_view part = dot == std::string_view::npos ? g : g.substr(dot + 1);
    if (!reversed.empty()) reversed += '.';
    reversed += part;
    g = dot == std::string_view::npos ? std::string_view() : g.substr(0, dot);
  }
  return reversed + "." + k.version + "." + kind;
}

// "apis/G/V", or "api/v1" for the core group: the key of the v3 index, and the URL prefix.
std::string GroupVersionPath(const KindSchema& k) {
  return k.group.empty() ? "api/" + k.version : "apis/" + k.group + "/" + k.version;
}

Json Gvk(const std::string& group, const std::string& version, const std::string& kind) {
  return {{"group", group}, {"kind", kind}, {"version", version}};
}

bool IsTrue(const Json& s, const char* key) {
  auto it = s.find(key);
  return it != s.end() && it->is_boolean() && it->get<bool>();
}

const char kApiVersionDoc[] =
    "APIVersion defines the versioned schema of this representation of an object. Servers should "
    "convert recognized schemas to the latest internal value, and may reject unrecognized values. "
    "More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#resources";
const char kKindDoc[] =
    "Kind is a string value representing the REST resource this object represents. Servers may "
    "infer this from the endpoint the client submits requests to. Cannot be updated. In "
    "CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#types-kinds";

void AddTypeMeta(Json& s) {
  s["properties"]["apiVersion"] = {{"type", "string"}, {"description", kApiVersionDoc}};
  s["properties"]["kind"] = {{"type", "string"}, {"description", kKindDoc}};
}

Json ObjectMetaRef() {
  return Ref(Meta("ObjectMeta"),
             std::string("Standard object's metadata. More info: ") + kConventions + "#metadata");
}

// Applies `f` to every subschema that holds values (properties, items, additionalProperties).
template <typename F>
void ForEachChild(Json& s, F f) {
  if (auto it = s.find("properties"); it != s.end() && it->is_object()) {
    for (auto& [name, child] : it->items()) f(child);
  }
  if (auto it = s.find("items"); it != s.end()) {
    if (it->is_object()) f(*it);
    if (it->is_array()) {
      for (Json& child : *it) f(child);
    }
  }
  if (auto it = s.find("additionalProperties"); it != s.end() && it->is_object()) f(*it);
}

// The keys of an OpenAPI v2 Schema Object (gnostic rejects any other but x-*).
bool IsV2SchemaKey(const std::string& key) {
  static constexpr std::string_view kKeys =
      " $ref additionalProperties default description discriminator enum example "
      "exclusiveMaximum exclusiveMinimum externalDocs format items maxItems maxLength "
      "maxProperties maximum minItems minLength minProperties minimum multipleOf pattern "
      "properties readOnly required title type uniqueItems ";
  return key.rfind("x-", 0) == 0 || kKeys.find(" " + key + " ") != std::string_view::npos;
}

// openapi/v2/conversion.go's ToStructuralOpenAPIV2: no junctors (allOf, anyOf, oneOf, not), no
// nullable (a nullable value loses its type), and no properties, items or object type where
// unknown fields are preserved, which kubectl's v2 model cannot express.
Json ToV2(const Json& in) {
  if (!in.is_object()) return Json::object();
  Json out = Json::object();
  for (const auto& [key, value] : in.items()) {
    if (IsV2SchemaKey(key)) out[key] = value;
  }
  ForEachChild(out, [](Json& child) { child = ToV2(child); });
  bool preserve = IsTrue(in, "x-kubernetes-preserve-unknown-fields");
  if (IsTrue(in, "nullable")) {
    out.erase("type");
    out.erase("items");
    out.erase("properties");
  }
  if (preserve) {
    out.erase("items");
    out.erase("properties");
  }
  if (!out.contains("items") && out.value("type", "") == "array") out.erase("type");
  if (preserve && out.value("type", "") == "object") out.erase("type");
  if (auto req = out.find("required"); req != out.end() && req->is_array()) {
    const Json& props = in.contains("properties") ? in["properties"] : Json::object();
    Json kept = Json::array();
    for (const Json& name : *req) {
      if (!(name.is_string() && props.contains(name.get<std::string>()) &&
            IsTrue(props[name.get<std::string>()], "nullable"))) {
        kept.push_back(name);
      }
    }
    if (in.contains("additionalProperties") && IsTrue(in["additionalProperties"], "nullable")) {
      kept = Json::array();
    }
    if (kept.empty()) {
      out.erase("required");
    } else {
      *req = std::move(kept);
    }
  }
  return out;
}

// unfold.go: x-kubernetes-int-or-string spelled out as anyOf integer or string.
void Unfold(Json& s) {
  if (!s.is_object()) return;
  ForEachChild(s, Unfold);
  if (IsTrue(s, "x-kubernetes-int-or-string") && !s.contains("anyOf") && !s.contains("allOf")) {
    s["anyOf"] = Json::array({{{"type", "integer"}}, {{"type", "string"}}});
  }
}

// builder.go's addEmbeddedProperties: x-kubernetes-embedded-resource objects get apiVersion,
// kind and metadata.
void AddEmbedded(Json& s, bool v2) {
  if (!s.is_object()) return;
  ForEachChild(s, [v2](Json& child) { AddEmbedded(child, v2); });
  if (v2 && IsTrue(s, "x-kubernetes-preserve-unknown-fields")) return;
  if (!IsTrue(s, "x-kubernetes-embedded-resource")) return;
  AddTypeMeta(s);
  s["properties"]["metadata"] = ObjectMetaRef();
  Json& required = s["required"];
  if (!required.is_array()) required = Json::array();
  for (const char* name : {"kind", "apiVersion"}) {
    if (std::find(required.begin(), required.end(), name) == required.end()) {
      required.push_back(name);
    }
  }
}

// builder.go's buildKubeNative: the CRD's schema with ObjectMeta and TypeMeta.
Json KindDefinition(const KindSchema& k, bool v2) {
  const Json& crd_schema = k.open_api_v3;
  Json s;
  if (!crd_schema.is_object() || crd_schema.empty() ||
      (v2 && IsTrue(crd_schema, "x-kubernetes-preserve-unknown-fields"))) {
    s = {{"type", "object"}};
  } else {
    s = v2 ? ToV2(crd_schema) : crd_schema;
    if (!v2) Unfold(s);
    s["properties"]["metadata"] = ObjectMetaRef();
    AddTypeMeta(s);
    AddEmbedded(s, v2);
  }
  s["x-kubernetes-group-version-kind"] = Json::array({Gvk(k.group, k.version, k.kind)});
  return s;
}

// builder.go's buildListSchema.
Json ListDefinition(const KindSchema& k) {
  Json s = {{"description", k.list_kind + " is a list of " + k.kind},
            {"required", {"items"}},
            {"type", "object"}};
  s["properties"]["items"] = {
      {"type", "array"},
      {"items", Ref(ModelName(k, k.kind))},
      {"description", "List of " + k.plural + ". More info: " + kConventions}};
  s["properties"]["metadata"] =
      Ref(Meta("ListMeta"),
          std::string("Standard list metadata. More info: ") + kConventions + "#types-kinds");
  AddTypeMeta(s);
  s["x-kubernetes-group-version-kind"] = Json::array({Gvk(k.group, k.version, k.list_kind)});
  return s;
}

// The meta/v1 types the kinds refer to, trimmed to what clients look at (all fields, shorter
// descriptions). Time is a string in RFC 3339 form.

// ---- Paths: builder.go's generateBuilder and buildRoute. ----

// apiserver's endpoints/openapi ToValidOperationID.
std::string ToValidOperationId(std::string_view s, bool capitalize) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if (std::isalpha(c) || c == '_' || (i != 0 && std::isdigit(c))) {
      out += capitalize ? static_cast<char>(std::toupper(c)) : static_cast<char>(c);
      capitalize = false;
    } else {
      capitalize = true;
    }
  }
  return out;
}

std::string Capitalize(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

Json QueryParam(const char* name, const char* type, const char* description) {
  return {{"description", description},
          {"in", "query"},
          {"name", name},
          {"type", type},
          {"uniqueItems", true}};
}

const char kDryRunDoc[] =
    "When present, indicates that modifications should not be persisted. An invalid or "
    "unrecognized dryRun directive will result in an error response and no further processing "
    "of the request. Valid values are: - All: all dry run stages will be processed";
const char kFieldManagerDoc[] =
    "fieldManager is a name associated with the actor or entity that is making these changes. "
    "The value must be less than or 128 characters long, and only contain printable characters, "
    "as defined by https://golang.org/pkg/unicode/#IsPrint.";
const char kFieldValidationDoc[] =
    "fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This "
    "will ignore any unknown fields that are silently dropped from the object, and will ignore "
    "all but the last duplicate field that the decoder encounters. - Warn: This will send a "
    "warning via the standard warning response header for each unknown field that is dropped "
    "from the object, and for each duplicate field that is encountered. The request will still "
    "succeed if there are no other errors. This is the default. - Strict: This will fail the "
    "request with a BadRequest error if any unknown fields would be dropped from the object, or "
    "if any duplicate fields are present. The error returned from the server will contain all "
    "unknown and duplicate fields encountered.";
const char kResourceVersionDoc[] =
    "resourceVersion sets a constraint on what resource versions a request may be served from. "
    "See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for "
    "details.\n\nDefaults to unset";

// The query parameters of an action: AddObjectParams of GetOptions, ListOptions, CreateOptions,
// UpdateOptions, PatchOptions and DeleteOptions.
Json QueryParams(std::string_view action) {
  Json params = Json::array();
  if (action == "get") {
    params.push_back(QueryParam("resourceVersion", "string", kResourceVersionDoc));
  } else if (action == "list" || action == "deletecollection") {
    params.push_back(QueryParam(
        "labelSelector", "string",
        "A selector to restrict the list of returned objects by their labels. Defaults to "
        "everything."));
    params.push_back(QueryParam(
        "fieldSelector", "string",
        "A selector to restrict the list of returned objects by their fields. Defaults to "
        "everything."));
    params.push_back(QueryParam("watch", "boolean",
                                "Watch for changes to the described resources and return them as "
                                "a stream of add, update, and remove notifications. Specify "
                                "resourceVersion."));
    params.push_back(QueryParam(
        "allowWatchBookmarks", "boolean",
        "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not "
        "implement bookmarks may ignore this flag and bookmarks are sent at the server's "
        "discretion. If this is not a watch, this field is ignored."));
    params.push_back(QueryParam("resourceVersion", "string", kResourceVersionDoc));
    params.push_back(QueryParam(
        "resourceVersionMatch", "string",
        "resourceVersionMatch determines how resourceVersion is applied to list calls."));
    params.push_back(QueryParam("timeoutSeconds", "integer",
                                "Timeout for the list/watch call. This limits the duration of "
                                "the call, regardless of any activity or inactivity."));
    params.push_back(QueryParam(
        "limit", "integer",
        "limit is a maximum number of responses to return for a list call. If more items exist, "
        "the server will set the `continue` field on the list metadata to a value that can be "
        "used with the same initial query to retrieve the next set of results."));
    params.push_back(QueryParam(
        "continue", "string",
        "The continue option should be set when retrieving more results from the server. Since "
        "this value is server defined, clients may only use the continue value from a previous "
        "query result with identical query parameters (except for the value of continue)."));
    params.push_back(QueryParam(
        "sendInitialEvents", "boolean",
        "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch "
        "stream will begin with synthetic events to produce the current state of objects in the "
        "collection."));
  } else if (action == "post" || action == "put" || action == "patch") {
    params.push_back(QueryParam("dryRun", "string", kDryRunDoc));
    params.push_back(QueryParam("fieldManager", "string", kFieldManagerDoc));
    params.push_back(QueryParam("fieldValidation", "string", kFieldValidationDoc));
    if (action == "patch") {
      params.push_back(QueryParam(
          "force", "boolean",
          "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting "
          "fields owned by other people. Force flag must be unset for non-apply patch "
          "requests."));
    }
  } else if (action == "delete") {
    params.push_back(QueryParam("dryRun", "string", kDryRunDoc));
    params.push_back(QueryParam(
        "gracePeriodSeconds", "integer",
        "The duration in seconds before the object should be deleted. Value must be "
        "non-negative integer. The value zero indicates delete immediately. If this value is "
        "nil, the default grace period for the specified type will be used."));
    params.push_back(QueryParam(
        "ignoreStoreReadErrorWithClusterBreakingPotential", "boolean",
        "if set to true, it will trigger an unsafe deletion of the resource in case the normal "
        "deletion flow fails with a corrupt object error."));
    params.push_back(QueryParam(
        "orphanDependents", "boolean",
        "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. "
        "Should the dependent objects be orphaned."));
    params.push_back(QueryParam(
        "propagationPolicy", "string",
        "Whether and how garbage collection will be performed. Either this field or "
        "OrphanDependents may be set, but not both. Acceptable values are: 'Orphan' - orphan "
        "the dependents; 'Background' - allow the garbage collector to delete the dependents in "
        "the background; 'Foreground' - a cascading policy that deletes all dependents in the "
        "foreground."));
  }
  return params;
}

struct Route {
  std::string path;    // "", "/{name}" or "/{name}/status"
  const char* method;  // get, post, put, patch, delete
  const char* action;  // x-kubernetes-action: list, post, deletecollection, get, put, ...
  const char* verb;    // operation verb: list, create, deletecollection, read, replace, ...
};

class PathBuilder {
 public:
  explicit PathBuilder(const KindSchema& k) : k_(k) {}

  // The path items of every resource path of the kind, keyed by path.
  Json Build() {
    Json paths = Json::object();
    std::string prefix = "/" + GroupVersionPath(k_);
    std::string root = prefix + "/" + k_.plural;
    if (k_.namespaced) {
      Add(paths, root, {"", "get", "list", "list"}, "ForAllNamespaces");
      root = prefix + "/namespaces/{namespace}/" + k_.plural;
    }
    const std::vector<Route> routes = {
        {"", "get", "list", "list"},
        {"", "post", "post", "create"},
        {"", "delete", "deletecollection", "deletecollection"},
        {"/{name}", "get", "get", "read"},
        {"/{name}", "put", "put", "replace"},
        {"/{name}", "delete", "delete", "delete"},
        {"/{name}", "patch", "patch", "patch"},
    };
    for (const Route& route : routes) Add(paths, root, route, "");
    if (k_.status_subresource) {
      for (const Route& route : {Route{"/{name}/status", "get", "get", "read"},
                                 Route{"/{name}/status", "put", "put", "replace"},
                                 Route{"/{name}/status", "patch", "patch", "patch"}}) {
        Add(paths, root, route, "");
      }
    }
    return paths;
  }

 private:
  static std::string Subresource(const std::string& path) {
    size_t slash = path.find('/', 1);
    return slash == std::string::npos ? "" : path.substr(slash + 1);
  }

  // builder.go's descriptionFor.
  std::string Description(const Route& r) const {
    std::string sub = Subresource(r.path);
    if (!sub.empty()) sub = " " + sub + " of";
    std::string_view verb = r.verb;
    if (verb == "list") return "list objects of kind " + k_.kind;
    if (verb == "read" || verb == "replace") {
      return std::string(verb) + sub + " the specified " + k_.kind;
    }
    if (verb == "patch") return "partially update" + sub + " the specified " + k_.kind;
    if (verb == "deletecollection") {
      return "delete collection of" + (sub.empty() ? "" : sub + " a") + " " + k_.kind;
    }
    // create, delete: endpoints.GetArticleForNoun.
    std::string article = " a ";
    if (std::string_view("aeiouAEIOU").find(k_.kind[0]) != std::string_view::npos) {
      article = " an ";
    }
    return std::string(verb) + sub + article + k_.kind;
  }

  // apiserver's GetOperationIDAndTags on builder.go's operation name.
  std::string OperationId(const Route& r, const std::string& suffix) const {
    std::string group = k_.group.empty() ? "core" : k_.group;
    if (group.size() > 7 && group.compare(group.size() - 7, 7, ".k8s.io") == 0) {
      group.resize(group.size() - 7);
    }
    std::string op = std::string(r.verb) + ToValidOperationId(group, true) +
                     ToValidOperationId(k_.version, true);
    if (k_.namespaced && suffix.empty()) op += "Namespaced";
    return op + k_.kind + Capitalize(Subresource(r.path)) + suffix;
  }

  std::string Tag() const {
    std::string group = k_.group.empty() ? "core" : k_.group;
    return ToValidOperationId(group, false) + "_" + ToValidOperationId(k_.version, false);
  }

  void Add(Json& paths, const std::string& root, const Route& r, const std::string& suffix) {
    const std::string path = root + r.path;
    std::string_view action = r.action;
    Json op = {
        {"description", Description(r)},
        {"operationId", OperationId(r, suffix)},
        {"tags", {Tag()}},
        {"schemes", {"https"}},
        {"produces", {"application/json", "application/yaml"}},
        {"x-kubernetes-action", r.action},
        {"x-kubernetes-group-version-kind", Gvk(k_.group, k_.version, k_.kind)},
    };
    if (action == "patch") {
      op["consumes"] = {"application/json-patch+json", "application/merge-patch+json",
                        "application/apply-patch+yaml"};
    } else {
      op["consumes"] = {"application/json", "application/yaml"};
    }
    Json params = QueryParams(action);
    const std::string kind_model = ModelName(k_, k_.kind);
    if (action == "post" || action == "put") {
      params.push_back(
          {{"in", "body"}, {"name", "body"}, {"required", true}, {"schema", Ref(kind_model)}});
    } else if (action == "patch") {
      params.push_back(
          {{"in", "body"}, {"name", "body"}, {"required", true}, {"schema", Ref(Meta("Patch"))}});
    } else if (action == "delete") {
      params.push_back({{"in", "body"}, {"name", "body"}, {"schema", Ref(Meta("DeleteOptions"))}});
    }
    op["parameters"] = std::move(params);

    std::string response_model = kind_model;
    if (action == "list") response_model = ModelName(k_, k_.list_kind);
    if (action == "deletecollection" || action == "delete") response_model = Meta("Status");
    Json responses = {{"200", {{"description", "OK"}, {"schema", Ref(response_model)}}},
                      {"401", {{"description", "Unauthorized"}}}};
    if (action == "post") {
      responses["201"] = {{"description", "Created"}, {"schema", Ref(response_model)}};
      responses["202"] = {{"description", "Accepted"}, {"schema", Ref(response_model)}};
    } else if (action == "put") {
      responses["201"] = {{"description", "Created"}, {"schema", Ref(response_model)}};
    } else if (action == "delete") {
      responses["202"] = {{"description", "Accepted"}, {"schema", Ref(response_model)}};
    }
    op["responses"] = std::move(responses);

    Json& item = paths[path];
    item[r.method] = std::move(op);
    if (!item.contains("parameters")) {
      // The parameters every operation on the path shares (kube-openapi hoists them).
      Json common = Json::array();
      if (path.find("{name}") != std::string::npos) {
        common.push_back({{"description", "name of the " + k_.kind},
                          {"in", "path"},
                          {"name", "name"},
                          {"required", true},
                          {"type", "string"},
                          {"uniqueItems", true}});
      }
      if (path.find("{namespace}") != std::string::npos) {
        common.push_back(
            {{"description", "object name and auth scope, such as for teams and projects"},
             {"in", "path"},
             {"name", "namespace"},
             {"required", true},
             {"type", "string"},
             {"uniqueItems", true}});
      }
      common.push_back(
          QueryParam("pretty", "string",
                     "If 'true', then the output is pretty printed. Defaults to 'false' unless the "
                     "user-agent indicates a browser or command-line HTTP tool (curl and wget)."));
      item["parameters"] = std::move(common);
    }
  }

  const KindSchema& k_;
};

// ---- OpenAPI v3 from the v2 form (what kube-openapi's builder3 makes of the same routes). ----

// Also wraps a reference with siblings (a description) in allOf, as kube-openapi does for v3,
// so that explain prints both the field's description and the referred type's.
void RewriteRefs(Json& j) {
  if (j.is_object() && j.contains("$ref") && j.size() > 1) {
    Json ref = {{"$ref", j["$ref"]}};
    j.erase("$ref");
    j["allOf"] = Json::array({std::move(ref)});
  }
  if (j.is_object()) {
    for (auto& [key, value] : j.items()) {
      if (key == "$ref" && value.is_string()) {
        std::string ref = value.get<std::string>();
        if (ref.rfind(kDefinitions, 0) == 0) {
          value = kComponents + ref.substr(sizeof(kDefinitions) - 1);
        }
      } else {
        RewriteRefs(value);
      }
    }
  } else if (j.is_array()) {
    for (Json& item : j) RewriteRefs(item);
  }
}

Json V3Parameter(const Json& p) {
  Json out = {{"name", p["name"]}, {"in", p["in"]}, {"description", p["description"]}};
  if (p.value("required", false)) out["required"] = true;
  out["schema"] = {{"type", p["type"]}, {"uniqueItems", true}};
  return out;
}

Json V3Operation(const Json& op) {
  Json out = op;
  out.erase("consumes");
  out.erase("produces");
  out.erase("schemes");
  Json params = Json::array();
  for (const Json& p : op["parameters"]) {
    if (p["in"] == "body") {
      Json content = Json::object();
      for (const Json& media : op["consumes"]) {
        content[media.get<std::string>()] = {{"schema", p["schema"]}};
      }
      out["requestBody"] = {{"content", std::move(content)}};
      if (p.value("required", false)) out["requestBody"]["required"] = true;
    } else {
      params.push_back(V3Parameter(p));
    }
  }
  out["parameters"] = std::move(params);
  for (auto& [code, response] : out["responses"].items()) {
    if (!response.contains("schema")) continue;
    Json content = Json::object();
    for (const Json& media : op["produces"]) {
      content[media.get<std::string>()] = {{"schema", response["schema"]}};
    }
    response.erase("schema");
    response["content"] = std::move(content);
  }
  return out;
}

Json V3PathItem(const Json& item) {
  Json out = Json::object();
  for (const auto& [key, value] : item.items()) {
    if (key == "parameters") {
      Json params = Json::array();
      for (const Json& p : value) params.push_back(V3Parameter(p));
      out[key] = std::move(params);
    } else {
      out[key] = V3Operation(value);
    }
  }
  return out;
}

// kube-openapi's computeETag: upper-case hex SHA-512.
std::string ETag(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), md, &size, EVP_sha512(), nullptr);
  static const char kHex[] = "0123456789ABCDEF";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  return hex;
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json Info() { return {{"title", "Berth Kubernetes API"}, {"version", "v0.1.0"}}; }

}  // namespace

OpenApiDocs BuildOpenApi(const std::vector<schema::KindSchema>& kinds) {
  const Json meta = Json::parse(kMetaDefinitions);
  Json v2 = {
      {"swagger", "2.0"}, {"info", Info()}, {"paths", Json::object()}, {"definitions", meta}};
  // Per group-version: paths and definitions of the v3 document, in v2 form.
  std::map<std::string, std::pair<Json, Json>> v3_parts;
  for (const KindSchema& k : kinds) {
    Json paths = PathBuilder(k).Build();
    auto& [gv_paths, gv_schemas] = v3_parts[GroupVersionPath(k)];
    if (gv_schemas.is_null()) gv_schemas = meta;
    for (auto& [path, item] : paths.items()) {
      v2["paths"][path] = item;
      gv_paths[path] = V3PathItem(item);
    }
    v2["definitions"][ModelName(k, k.kind)] = KindDefinition(k, /*v2=*/true);
    v2["definitions"][ModelName(k, k.list_kind)] = ListDefinition(k);
    gv_schemas[ModelName(k, k.kind)] = KindDefinition(k, /*v2=*/false);
    gv_schemas[ModelName(k, k.list_kind)] = ListDefinition(k);
  }

  OpenApiDocs docs;
  docs.v2_json = Dump(v2);
  docs.v2_etag = ETag(docs.v2_json);
  docs.v2_protobuf = ToProtoBinary(v2);
  Json index = {{"paths", Json::object()}};
  for (auto& [gv, parts] : v3_parts) {
    Json doc = {{"openapi", "3.0.0"},
                {"info", Info()},
                {"paths", std::move(parts.first)},
                {"components", {{"schemas", std::move(parts.second)}}}};
    RewriteRefs(doc);
    std::string text = Dump(doc);
    std::string etag = ETag(text);
    index["paths"][gv] = {{"serverRelativeURL", "/openapi/v3/" + gv + "?hash=" + etag}};
    docs.v3_json[gv] = std::move(text);
    docs.v3_etag[gv] = std::move(etag);
  }
  docs.v3_index_json = Dump(index);
  return docs;
}

}  // namespace berth::kubeapi
