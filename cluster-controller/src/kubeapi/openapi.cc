#include "kubeapi/openapi.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string_view>
#include <utility>

#include "openapi_v2.pb.h"

namespace berth::kubeapi {
namespace {

using schema::KindSchema;
namespace pb = ::openapi::v2;

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
const char kMetaDefinitions[] = R"json({
"io.k8s.apimachinery.pkg.apis.meta.v1.Time": {"type": "string", "format": "date-time",
  "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON."},
"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {"type": "object",
  "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
  "properties": {
    "annotations": {"type": "object", "additionalProperties": {"type": "string"},
      "description": "Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata. They are not queryable and should be preserved when modifying objects. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations"},
    "creationTimestamp": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time",
      "description": "CreationTimestamp is a timestamp representing the server time when this object was created. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists."},
    "deletionGracePeriodSeconds": {"type": "integer", "format": "int64",
      "description": "Number of seconds allowed for this object to gracefully terminate before it will be removed from the system. Only set when deletionTimestamp is also set. May only be shortened. Read-only."},
    "deletionTimestamp": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time",
      "description": "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted. This field is set by the server when a graceful deletion is requested by the user, and is not directly settable by a client. The resource is deleted once the finalizers list is empty.\n\nPopulated by the system when a graceful deletion is requested. Read-only."},
    "finalizers": {"type": "array", "items": {"type": "string"},
      "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge",
      "description": "Must be empty before the object is deleted from the registry. Each entry is an identifier for the responsible component that will remove the entry from the list. If the deletionTimestamp of the object is non-nil, entries in this list can only be removed. Finalizers may be processed and removed in any order."},
    "generateName": {"type": "string",
      "description": "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided. If this field is used, the name returned to the client will be different than the name passed."},
    "generation": {"type": "integer", "format": "int64",
      "description": "A sequence number representing a specific generation of the desired state. Populated by the system. Read-only."},
    "labels": {"type": "object", "additionalProperties": {"type": "string"},
      "description": "Map of string keys and values that can be used to organize and categorize (scope and select) objects. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels"},
    "managedFields": {"type": "array",
      "items": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry"},
      "x-kubernetes-list-type": "atomic",
      "description": "ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow. This is mostly for internal housekeeping, and users typically shouldn't need to set or understand this field."},
    "name": {"type": "string",
      "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"},
    "namespace": {"type": "string",
      "description": "Namespace defines the space within which each name must be unique. An empty namespace is equivalent to the \"default\" namespace. Not all objects are required to be scoped to a namespace - the value of this field for those objects will be empty.\n\nMust be a DNS_LABEL. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces"},
    "ownerReferences": {"type": "array",
      "items": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference"},
      "x-kubernetes-list-map-keys": ["uid"], "x-kubernetes-list-type": "map",
      "x-kubernetes-patch-merge-key": "uid", "x-kubernetes-patch-strategy": "merge",
      "description": "List of objects depended by this object. If ALL objects in the list have been deleted, this object will be garbage collected. If this object is managed by a controller, then an entry in this list will point to this controller, with the controller field set to true. There cannot be more than one managing controller."},
    "resourceVersion": {"type": "string",
      "description": "An opaque value that represents the internal version of this object that can be used by clients to determine when objects have changed. May be used for optimistic concurrency, change detection, and the watch operation on a resource or set of resources.\n\nPopulated by the system. Read-only."},
    "selfLink": {"type": "string",
      "description": "Deprecated: selfLink is a legacy read-only field that is no longer populated by the system."},
    "uid": {"type": "string",
      "description": "UID is the unique in time and space value for this object. It is typically generated by the server on successful creation of a resource and is not allowed to change on PUT operations.\n\nPopulated by the system. Read-only."}}},
"io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference": {"type": "object",
  "description": "OwnerReference contains enough information to let you identify an owning object. An owning object must be in the same namespace as the dependent, or be cluster-scoped, so there is no namespace field.",
  "required": ["apiVersion", "kind", "name", "uid"], "x-kubernetes-map-type": "atomic",
  "properties": {
    "apiVersion": {"type": "string", "description": "API version of the referent."},
    "blockOwnerDeletion": {"type": "boolean",
      "description": "If true, AND if the owner has the \"foregroundDeletion\" finalizer, then the owner cannot be deleted from the key-value store until this reference is removed."},
    "controller": {"type": "boolean", "description": "If true, this reference points to the managing controller."},
    "kind": {"type": "string", "description": "Kind of the referent."},
    "name": {"type": "string", "description": "Name of the referent."},
    "uid": {"type": "string", "description": "UID of the referent."}}},
"io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry": {"type": "object",
  "description": "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.",
  "properties": {
    "apiVersion": {"type": "string", "description": "APIVersion defines the version of this resource that this field set applies to."},
    "fieldsType": {"type": "string", "description": "FieldsType is the discriminator for the different fields format and version. There is currently only one possible value: \"FieldsV1\""},
    "fieldsV1": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
      "description": "FieldsV1 holds the first JSON version format as described in the \"FieldsV1\" type."},
    "manager": {"type": "string", "description": "Manager is an identifier of the workflow managing these fields."},
    "operation": {"type": "string", "description": "Operation is the type of operation which lead to this ManagedFieldsEntry being created. The only valid values for this field are 'Apply' and 'Update'."},
    "subresource": {"type": "string", "description": "Subresource is the name of the subresource used to update that object, or empty string if the object was updated through the main resource."},
    "time": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time",
      "description": "Time is the timestamp of when the ManagedFields entry was added."}}},
"io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": {"type": "object",
  "description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format."},
"io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta": {"type": "object",
  "description": "ListMeta describes metadata that synthetic resources must have, including lists and various status objects. A resource may have only one of {ObjectMeta, ListMeta}.",
  "properties": {
    "continue": {"type": "string", "description": "continue may be set if the user set a limit on the number of items returned, and indicates that the server has more data available. The value is opaque and may be used to issue another request to the endpoint that served this list to retrieve the next set of available objects."},
    "remainingItemCount": {"type": "integer", "format": "int64", "description": "remainingItemCount is the number of subsequent items in the list which are not included in this list response."},
    "resourceVersion": {"type": "string", "description": "String that identifies the server's internal version of this object that can be used by clients to determine when objects have changed. Populated by the system. Read-only."},
    "selfLink": {"type": "string", "description": "Deprecated: selfLink is a legacy read-only field that is no longer populated by the system."}}},
"io.k8s.apimachinery.pkg.apis.meta.v1.Status": {"type": "object",
  "description": "Status is a return value for calls that don't return other objects.",
  "x-kubernetes-group-version-kind": [{"group": "", "kind": "Status", "version": "v1"}],
  "properties": {
    "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
    "code": {"type": "integer", "format": "int32", "description": "Suggested HTTP return code for this status, 0 if not set."},
    "details": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails",
      "description": "Extended data associated with the reason.  Each reason may define its own extended details."},
    "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
    "message": {"type": "string", "description": "A human-readable description of the status of this operation."},
    "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
      "description": "Standard list metadata."},
    "reason": {"type": "string", "description": "A machine-readable description of why this operation is in the \"Failure\" status. If this value is empty there is no information available."},
    "status": {"type": "string", "description": "Status of the operation. One of: \"Success\" or \"Failure\"."}}},
"io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails": {"type": "object",
  "description": "StatusDetails is a set of additional properties that MAY be set by the server to provide additional information about a response.",
  "properties": {
    "causes": {"type": "array",
      "items": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.StatusCause"},
      "x-kubernetes-list-type": "atomic",
      "description": "The Causes array includes more details associated with the StatusReason failure."},
    "group": {"type": "string", "description": "The group attribute of the resource associated with the status StatusReason."},
    "kind": {"type": "string", "description": "The kind attribute of the resource associated with the status StatusReason."},
    "name": {"type": "string", "description": "The name attribute of the resource associated with the status StatusReason (when there is a single name which can be described)."},
    "retryAfterSeconds": {"type": "integer", "format": "int32", "description": "If specified, the time in seconds before the operation should be retried."},
    "uid": {"type": "string", "description": "UID of the resource. (when there is a single resource which can be described)."}}},
"io.k8s.apimachinery.pkg.apis.meta.v1.StatusCause": {"type": "object",
  "description": "StatusCause provides more information about an api.Status failure, including cases when multiple errors are encountered.",
  "properties": {
    "field": {"type": "string", "description": "The field of the resource that has caused this error, as named by its JSON serialization."},
    "message": {"type": "string", "description": "A human-readable description of the cause of the error."},
    "reason": {"type": "string", "description": "A machine-readable description of the cause of the error."}}},
"io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions": {"type": "object",
  "description": "DeleteOptions may be provided when deleting an API object.",
  "x-kubernetes-group-version-kind": [{"group": "", "kind": "DeleteOptions", "version": "v1"}],
  "properties": {
    "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
    "dryRun": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "atomic",
      "description": "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed"},
    "gracePeriodSeconds": {"type": "integer", "format": "int64", "description": "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately."},
    "ignoreStoreReadErrorWithClusterBreakingPotential": {"type": "boolean", "description": "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error."},
    "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
    "orphanDependents": {"type": "boolean", "description": "Deprecated: please use the PropagationPolicy. Should the dependent objects be orphaned."},
    "preconditions": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Preconditions",
      "description": "Must be fulfilled before a deletion is carried out. If not possible, a 409 Conflict status will be returned."},
    "propagationPolicy": {"type": "string", "description": "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground."}}},
"io.k8s.apimachinery.pkg.apis.meta.v1.Preconditions": {"type": "object",
  "description": "Preconditions must be fulfilled before an operation (update, delete, etc.) is carried out.",
  "properties": {
    "resourceVersion": {"type": "string", "description": "Specifies the target ResourceVersion"},
    "uid": {"type": "string", "description": "Specifies the target UID."}}},
"io.k8s.apimachinery.pkg.apis.meta.v1.Patch": {"type": "object",
  "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."},
"io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent": {"type": "object",
  "description": "Event represents a single event to a watched resource.",
  "required": ["type", "object"],
  "x-kubernetes-group-version-kind": [{"group": "", "kind": "WatchEvent", "version": "v1"}],
  "properties": {
    "object": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.runtime.RawExtension",
      "description": "Object is:\n * If Type is Added or Modified: the new state of the object.\n * If Type is Deleted: the state of the object immediately before deletion.\n * If Type is Error: *Status is recommended; other types may make sense\n   depending on context."},
    "type": {"type": "string"}}},
"io.k8s.apimachinery.pkg.runtime.RawExtension": {"type": "object",
  "description": "RawExtension is used to hold extensions in external versions."}
})json";

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

// ---- OpenAPI v2 protobuf: gnostic's compiler of the JSON document. ----

// A scalar as go-yaml writes it: plain when it reads back as the same string, else quoted.
bool IsPlainYaml(const std::string& s) {
  if (s.empty() || s.front() == ' ' || s.back() == ' ' || s.back() == ':') return false;
  if (std::string_view("-?:,[]{}#&*!|>'\"%@`.+0123456789~").find(s.front()) !=
      std::string_view::npos) {
    return false;
  }
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) return false;
  std::string lower;
  for (unsigned char c : s) lower += static_cast<char>(std::tolower(c));
  static const std::set<std::string> kReserved = {"y",   "n",    "yes",   "no",  "on",
                                                  "off", "true", "false", "null"};
  return kReserved.count(lower) == 0;
}

std::string YamlScalar(const Json& v) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (IsPlainYaml(s)) return s;
  }
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool IsYamlLeaf(const Json& v) { return !v.is_structured() || v.empty(); }

// A block node in go-yaml v3's style (4-space indentation), its first line not indented (the
// caller has written the indentation or "- " already).
void YamlBlock(const Json& v, int indent, std::string* out) {
  if (IsYamlLeaf(v)) {
    *out += YamlScalar(v) + "\n";
    return;
  }
  bool first = true;
  if (v.is_object()) {
    for (const auto& [key, value] : v.items()) {
      if (!first) out->append(indent, ' ');
      first = false;
      *out += YamlScalar(key) + ":";
      if (IsYamlLeaf(value)) {
        *out += " " + YamlScalar(value) + "\n";
      } else {
        *out += "\n";
        out->append(indent + 4, ' ');
        YamlBlock(value, indent + 4, out);
      }
    }
    return;
  }
  for (const Json& item : v) {
    if (!first) out->append(indent, ' ');
    first = false;
    *out += "- ";
    YamlBlock(item, indent + 2, out);
  }
}

std::string Yaml(const Json& v) {
  std::string out;
  YamlBlock(v, 0, &out);
  return out;
}

template <typename Message>
void AddExtensions(const Json& j, Message* m) {
  for (const auto& [key, value] : j.items()) {
    if (key.rfind("x-", 0) != 0) continue;
    pb::NamedAny* named = m->add_vendor_extension();
    named->set_name(key);
    named->mutable_value()->set_yaml(Yaml(value));
  }
}

std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t Int(const Json& v) {
  return v.is_number_integer() ? v.get<int64_t>() : static_cast<int64_t>(v.get<double>());
}

void ToProto(const Json& j, pb::Schema* s) {
  for (const auto& [key, v] : j.items()) {
    if (key == "$ref") s->set__ref(v.get<std::string>());
    if (key == "format") s->set_format(v.get<std::string>());
    if (key == "title") s->set_title(v.get<std::string>());
    if (key == "description") s->set_description(v.get<std::string>());
    if (key == "default") s->mutable_default_()->set_yaml(Yaml(v));
    if (key == "multipleOf") s->set_multiple_of(v.get<double>());
    if (key == "maximum") s->set_maximum(v.get<double>());
    if (key == "exclusiveMaximum") s->set_exclusive_maximum(v.get<bool>());
    if (key == "minimum") s->set_minimum(v.get<double>());
    if (key == "exclusiveMinimum") s->set_exclusive_minimum(v.get<bool>());
    if (key == "maxLength") s->set_max_length(Int(v));
    if (key == "minLength") s->set_min_length(Int(v));
    if (key == "pattern") s->set_pattern(v.get<std::string>());
    if (key == "maxItems") s->set_max_items(Int(v));
    if (key == "minItems") s->set_min_items(Int(v));
    if (key == "uniqueItems") s->set_unique_items(v.get<bool>());
    if (key == "maxProperties") s->set_max_properties(Int(v));
    if (key == "minProperties") s->set_min_properties(Int(v));
    if (key == "required") {
      for (const Json& name : v) s->add_required(name.get<std::string>());
    }
    if (key == "enum") {
      for (const Json& value : v) s->add_enum_()->set_yaml(Yaml(value));
    }
    if (key == "additionalProperties") {
      if (v.is_boolean()) {
        s->mutable_additional_properties()->set_boolean(v.get<bool>());
      } else {
        ToProto(v, s->mutable_additional_properties()->mutable_schema());
      }
    }
    if (key == "type") {
      for (const Json& t : v.is_array() ? v : Json::array({v})) {
        s->mutable_type()->add_value(t.get<std::string>());
      }
    }
    if (key == "items") {
      for (const Json& item : v.is_array() ? v : Json::array({v})) {
        ToProto(item, s->mutable_items()->add_schema());
      }
    }
    if (key == "allOf") {
      for (const Json& item : v) ToProto(item, s->add_all_of());
    }
    if (key == "properties") {
      for (const auto& [name, prop] : v.items()) {
        pb::NamedSchema* named = s->mutable_properties()->add_additional_properties();
        named->set_name(name);
        ToProto(prop, named->mutable_value());
      }
    }
    if (key == "discriminator") s->set_discriminator(v.get<std::string>());
    if (key == "readOnly") s->set_read_only(v.get<bool>());
    if (key == "externalDocs") {
      s->mutable_external_docs()->set_description(Str(v, "description"));
      s->mutable_external_docs()->set_url(Str(v, "url"));
    }
    if (key == "example") s->mutable_example()->set_yaml(Yaml(v));
  }
  AddExtensions(j, s);
}

// Query, path and header parameters have the same fields but for allowEmptyValue.
template <typename P>
void ToProtoNonBody(const Json& j, P* p) {
  p->set_required(j.value("required", false));
  p->set_in(Str(j, "in"));
  p->set_description(Str(j, "description"));
  p->set_name(Str(j, "name"));
  p->set_type(Str(j, "type"));
  p->set_format(Str(j, "format"));
  p->set_unique_items(j.value("uniqueItems", false));
  if (j.contains("default")) p->mutable_default_()->set_yaml(Yaml(j["default"]));
  if (j.contains("enum")) {
    for (const Json& value : j["enum"]) p->add_enum_()->set_yaml(Yaml(value));
  }
  AddExtensions(j, p);
}

void ToProto(const Json& j, pb::ParametersItem* item) {
  if (j.contains("$ref")) {
    item->mutable_json_reference()->set__ref(Str(j, "$ref"));
    item->mutable_json_reference()->set_description(Str(j, "description"));
    return;
  }
  pb::Parameter* p = item->mutable_parameter();
  std::string in = Str(j, "in");
  if (in == "body") {
    pb::BodyParameter* body = p->mutable_body_parameter();
    body->set_description(Str(j, "description"));
    body->set_name(Str(j, "name"));
    body->set_in(in);
    body->set_required(j.value("required", false));
    if (j.contains("schema")) ToProto(j["schema"], body->mutable_schema());
    AddExtensions(j, body);
  } else if (in == "path") {
    ToProtoNonBody(j, p->mutable_non_body_parameter()->mutable_path_parameter_sub_schema());
  } else if (in == "header") {
    ToProtoNonBody(j, p->mutable_non_body_parameter()->mutable_header_parameter_sub_schema());
  } else {
    ToProtoNonBody(j, p->mutable_non_body_parameter()->mutable_query_parameter_sub_schema());
  }
}

void ToProto(const Json& j, pb::Operation* op) {
  for (const Json& tag : j.value("tags", Json::array())) op->add_tags(tag.get<std::string>());
  op->set_summary(Str(j, "summary"));
  op->set_description(Str(j, "description"));
  op->set_operation_id(Str(j, "operationId"));
  for (const Json& media : j.value("produces", Json::array())) {
    op->add_produces(media.get<std::string>());
  }
  for (const Json& media : j.value("consumes", Json::array())) {
    op->add_consumes(media.get<std::string>());
  }
  for (const Json& param : j.value("parameters", Json::array())) {
    ToProto(param, op->add_parameters());
  }
  const Json responses = j.value("responses", Json::object());
  for (const auto& [code, response] : responses.items()) {
    if (code.rfind("x-", 0) == 0) continue;
    pb::NamedResponseValue* named = op->mutable_responses()->add_response_code();
    named->set_name(code);
    pb::Response* r = named->mutable_value()->mutable_response();
    r->set_description(Str(response, "description"));
    if (response.contains("schema")) {
      ToProto(response["schema"], r->mutable_schema()->mutable_schema());
    }
  }
  for (const Json& scheme : j.value("schemes", Json::array())) {
    op->add_schemes(scheme.get<std::string>());
  }
  op->set_deprecated(j.value("deprecated", false));
  AddExtensions(j, op);
}

std::string ToProtoBinary(const Json& doc) {
  pb::Document d;
  d.set_swagger(Str(doc, "swagger"));
  d.mutable_info()->set_title(Str(doc["info"], "title"));
  d.mutable_info()->set_version(Str(doc["info"], "version"));
  for (const auto& [path, item] : doc["paths"].items()) {
    pb::NamedPathItem* named = d.mutable_paths()->add_path();
    named->set_name(path);
    pb::PathItem* p = named->mutable_value();
    for (const auto& [key, value] : item.items()) {
      if (key == "get") ToProto(value, p->mutable_get());
      if (key == "put") ToProto(value, p->mutable_put());
      if (key == "post") ToProto(value, p->mutable_post());
      if (key == "delete") ToProto(value, p->mutable_delete_());
      if (key == "patch") ToProto(value, p->mutable_patch());
      if (key == "parameters") {
        for (const Json& param : value) ToProto(param, p->add_parameters());
      }
    }
    AddExtensions(item, p);
  }
  for (const auto& [name, schema] : doc["definitions"].items()) {
    pb::NamedSchema* named = d.mutable_definitions()->add_additional_properties();
    named->set_name(name);
    ToProto(schema, named->mutable_value());
  }
  return d.SerializeAsString();
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

namespace {

const char kSecretSchema[] = R"json({"type": "object",
  "description": "Secret holds secret data of a certain type. The total bytes of the values in the Data field must be less than MaxSecretSize bytes.",
  "properties": {
    "data": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"},
      "description": "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4"},
    "immutable": {"type": "boolean",
      "description": "Immutable, if set to true, ensures that data stored in the Secret cannot be updated (only object metadata can be modified). If not set to true, the field can be modified at any time. Defaulted to nil."},
    "stringData": {"type": "object", "additionalProperties": {"type": "string"},
      "description": "stringData allows specifying non-binary secret data in string form. It is provided as a write-only input field for convenience. All keys and values are merged into the data field on write, overwriting any existing values. The stringData field is never output when reading from the API."},
    "type": {"type": "string",
      "description": "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"}}})json";

const char kNamespaceSchema[] = R"json({"type": "object",
  "description": "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
  "properties": {
    "spec": {"type": "object",
      "description": "Spec defines the behavior of the Namespace.",
      "properties": {
        "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "atomic",
          "description": "Finalizers is an opaque list of values that must be empty to permanently remove object from storage. More info: https://kubernetes.io/docs/tasks/administer-cluster/namespaces/"}}},
    "status": {"type": "object",
      "description": "Status describes the current status of a Namespace.",
      "properties": {
        "conditions": {"type": "array",
          "description": "Represents the latest available observations of a namespace's current state.",
          "items": {"type": "object", "required": ["type", "status"],
            "description": "NamespaceCondition contains details about state of namespace.",
            "properties": {
              "lastTransitionTime": {"type": "string", "format": "date-time", "description": "Last time the condition transitioned from one status to another."},
              "message": {"type": "string", "description": "Human-readable message indicating details about last transition."},
              "reason": {"type": "string", "description": "Unique, one-word, CamelCase reason for the condition's last transition."},
              "status": {"type": "string", "description": "Status of the condition, one of True, False, Unknown."},
              "type": {"type": "string", "description": "Type of namespace controller condition."}}},
          "x-kubernetes-list-map-keys": ["type"], "x-kubernetes-list-type": "map"},
        "phase": {"type": "string", "enum": ["Active", "Terminating"],
          "description": "Phase is the current lifecycle phase of the namespace. More info: https://kubernetes.io/docs/tasks/administer-cluster/namespaces/"}}}}})json";

const char kObjectReference[] = R"json({"type": "object", "x-kubernetes-map-type": "atomic",
  "properties": {
    "apiVersion": {"type": "string", "description": "API version of the referent."},
    "fieldPath": {"type": "string", "description": "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]."},
    "kind": {"type": "string", "description": "Kind of the referent."},
    "name": {"type": "string", "description": "Name of the referent."},
    "namespace": {"type": "string", "description": "Namespace of the referent."},
    "resourceVersion": {"type": "string", "description": "Specific resourceVersion to which this reference is made, if any."},
    "uid": {"type": "string", "description": "UID of the referent."}}})json";

const char kEventSchema[] = R"json({"type": "object",
  "description": "Event is a report of an event somewhere in the cluster.  Events have a limited retention time and triggers and messages may evolve with time.  Event consumers should not rely on the timing of an event with a given Reason reflecting a consistent underlying trigger, or the continued existence of events with that Reason.",
  "required": ["metadata", "involvedObject"],
  "properties": {
    "action": {"type": "string", "description": "What action was taken/failed regarding to the Regarding object."},
    "count": {"type": "integer", "format": "int32", "description": "The number of times this event has occurred."},
    "eventTime": {"type": "string", "format": "date-time", "description": "Time when this Event was first observed."},
    "firstTimestamp": {"type": "string", "format": "date-time", "description": "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"},
    "lastTimestamp": {"type": "string", "format": "date-time", "description": "The time at which the most recent occurrence of this event was recorded."},
    "message": {"type": "string", "description": "A human-readable description of the status of this operation."},
    "reason": {"type": "string", "description": "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."},
    "reportingComponent": {"type": "string", "description": "Name of the controller that emitted this Event, e.g. `kubernetes.io/kubelet`."},
    "reportingInstance": {"type": "string", "description": "ID of the controller instance, e.g. `kubelet-xyzf`."},
    "series": {"type": "object", "description": "Data about the Event series this event represents or nil if it's a singleton Event.",
      "properties": {
        "count": {"type": "integer", "format": "int32", "description": "Number of occurrences in this series up to the last heartbeat time"},
        "lastObservedTime": {"type": "string", "format": "date-time", "description": "Time of the last occurrence observed"}}},
    "source": {"type": "object", "description": "The component reporting this event. Should be a short machine understandable string.",
      "properties": {
        "component": {"type": "string", "description": "Component from which the event is generated."},
        "host": {"type": "string", "description": "Node name on which the event is generated."}}},
    "type": {"type": "string", "description": "Type of this event (Normal, Warning), new types could be added in the future"}}})json";

KindSchema CoreKind(const char* kind, const char* plural, bool namespaced, const char* schema) {
  KindSchema k;
  k.group = "";
  k.version = "v1";
  k.kind = kind;
  k.list_kind = std::string(kind) + "List";
  k.plural = plural;
  k.singular = plural;
  k.singular.pop_back();  // secrets, events, namespaces
  k.namespaced = namespaced;
  k.open_api_v3 = Json::parse(schema);
  Json& props = k.open_api_v3["properties"];
  props["apiVersion"] = {{"type", "string"}};
  props["kind"] = {{"type", "string"}};
  props["metadata"] = {{"type", "object"}};
  k.columns.push_back({"Age", "date", "", "", ".metadata.creationTimestamp", 0});
  return k;
}

}  // namespace

std::vector<schema::KindSchema> CoreV1Kinds() {
  KindSchema event = CoreKind("Event", "events", true, kEventSchema);
  event.short_names = {"ev"};
  Json reference = Json::parse(kObjectReference);
  event.open_api_v3["properties"]["involvedObject"] = reference;
  event.open_api_v3["properties"]["involvedObject"]["description"] =
      "The object that this event is about.";
  event.open_api_v3["properties"]["related"] = reference;
  event.open_api_v3["properties"]["related"]["description"] =
      "Optional secondary object for more complex actions.";
  event.columns = {
      {"Last Seen", "date", "", "", ".lastTimestamp", 0},
      {"Type", "string", "", "", ".type", 0},
      {"Reason", "string", "", "", ".reason", 0},
      {"Object", "string", "", "", ".involvedObject.name", 0},
      {"Message", "string", "", "", ".message", 0},
  };

  KindSchema ns = CoreKind("Namespace", "namespaces", false, kNamespaceSchema);
  ns.short_names = {"ns"};
  ns.status_subresource = true;
  ns.columns.insert(ns.columns.begin(), {"Status", "string", "", "", ".status.phase", 0});

  KindSchema secret = CoreKind("Secret", "secrets", true, kSecretSchema);
  secret.columns.insert(secret.columns.begin(), {"Type", "string", "", "", ".type", 0});
  return {std::move(event), std::move(ns), std::move(secret)};
}

}  // namespace berth::kubeapi
