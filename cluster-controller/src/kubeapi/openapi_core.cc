// The core/v1 kinds Berth keeps (Secret, Event, Namespace) with small structural schemas.
#include "kubeapi/openapi.h"

namespace berth::kubeapi {
namespace {

using schema::KindSchema;

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
