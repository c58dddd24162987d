#include "kubeapi/table.h"

#include <algorithm>
#include <cstdint>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "berth/jsonpath.h"
#include "berth/schema.h"

namespace berth::kubeapi {
namespace {

// The swagger docs kube copies into column descriptions (metav1.ObjectMeta, core/v1 types).
constexpr char kNameDoc[] =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
constexpr char kCreationTimestampDoc[] =
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata";

TableColumn Col(std::string name, std::string description, int priority = 0,
                std::string type = "string", std::string format = "") {
  return TableColumn{
      std::move(name), std::move(type), std::move(format), std::move(description), "", priority};
}

// pkg/printers/internalversion/printers.go: eventColumnDefinitions.
std::vector<TableColumn> EventColumns() {
  return {
      Col("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
      Col("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
      Col("Reason",
          "This should be a short, machine understandable string that gives the reason for the "
          "transition into the object's current status."),
      Col("Object", "The object that this event is about."),
      Col("Subobject",
          "If referring to a piece of an object instead of an entire object, this string should "
          "contain a valid JSON/Go field access statement, such as "
          "desiredState.manifest.containers[2]. For example, if the object reference is to a "
          "container within a pod, this would take on a value like: \"spec.containers{name}\" "
          "(where \"name\" refers to the name of the container that triggered the event) or if "
          "no container name is specified \"spec.containers[2]\" (container with index 2 in this "
          "pod). This syntax is chosen only to have some well-defined way of referencing a part "
          "of an object.",
          1),
      Col("Source",
          "The component reporting this event. Should be a short machine understandable string.",
          1),
      Col("Message", "A human-readable description of the status of this operation."),
      Col("First Seen",
          "The time at which the event was first recorded. (Time of server receipt is in "
          "TypeMeta.)",
          1),
      Col("Count", "The number of times this event has occurred.", 1),
      Col("Name", kNameDoc, 1, "string", "name"),
  };
}

std::vector<TableColumn> SecretColumns() {
  return {
      Col("Name", kNameDoc, 0, "string", "name"),
      Col("Type",
          "Used to facilitate programmatic handling of secret data. More info: "
          "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
      Col("Data",
          "Data contains the secret data. Each key must consist of alphanumeric characters, "
          "'-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, "
          "representing the arbitrary (possibly non-string) data value here. Described in "
          "https://tools.ietf.org/html/rfc4648#section-4"),
      Col("Age", kCreationTimestampDoc),
  };
}

std::vector<TableColumn> NamespaceColumns() {
  return {Col("Name", kNameDoc, 0, "string", "name"), Col("Status", "The status of the namespace"),
          Col("Age", kCreationTimestampDoc)};
}

// apiextensions-apiserver tableconvertor.New, with serveDefaultColumnsIfEmpty.
std::vector<TableColumn> CrdColumns(const schema::KindSchema& k) {
  std::vector<TableColumn> out = {Col("Name", kNameDoc, 0, "string", "name")};
  if (k.columns.empty()) {
    out.push_back(
        TableColumn{"Age", "date", "", kCreationTimestampDoc, ".metadata.creationTimestamp", 0});
  }
  for (const schema::PrinterColumn& c : k.columns) {
    std::string description =
        c.description.empty()
            ? "Custom resource definition column (in JSONPath format): " + c.json_path
            : c.description;
    out.push_back(TableColumn{c.name, c.type, c.format, description, c.json_path, c.priority});
  }
  return out;
}

// A metav1.Time or MicroTime: nullopt for absent, null and "" (the zero time, which kube
// prints as "<unknown>"); `*valid` false for text RFC 3339 does not parse.
std::optional<absl::Time> ParseTimestamp(const Json& v, bool* valid = nullptr) {
  if (valid) *valid = true;
  if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>() == "null") {
    return std::nullopt;
  }
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, v.get<std::string>(), &t, &err)) {
    if (valid) *valid = false;
    return std::nullopt;
  }
  static const absl::Time kZero =
      absl::FromCivil(absl::CivilSecond(1, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  if (t == kZero) return std::nullopt;
  return t;
}

// printers.go translateTimestampSince.
std::string Since(const Json& timestamp, absl::Time now) {
  std::optional<absl::Time> t = ParseTimestamp(timestamp);
  return t ? HumanDuration(now - *t) : "<unknown>";
}

std::string Str(const Json& obj, const char* pointer) { return JsonString(obj, pointer); }

std::string FirstNonEmpty(const std::string& a, const std::string& b) { return a.empty() ? b : a; }

// printers.go printEvent (always wide: the server sends every column).
Json EventCells(const Json& e, absl::Time now) {
  std::string first = ParseTimestamp(JsonAt(e, "/firstTimestamp"))
                          ? Since(JsonAt(e, "/firstTimestamp"), now)
                          : Since(JsonAt(e, "/eventTime"), now);
  std::string last =
      ParseTimestamp(JsonAt(e, "/lastTimestamp")) ? Since(JsonAt(e, "/lastTimestamp"), now) : first;
  int64_t count = JsonAt(e, "/count").is_number() ? JsonAt(e, "/count").get<int64_t>() : 0;
  Json series = JsonAt(e, "/series");
  if (series.is_object()) {
    last = Since(JsonAt(series, "/lastObservedTime"), now);
    count = series.value("count", int64_t{0});
  } else if (count == 0) {
    count = 1;  // singleton events of the events.k8s.io API carry no count
  }
  std::string target = absl::AsciiStrToLower(Str(e, "/involvedObject/kind"));
  if (!Str(e, "/involvedObject/name").empty()) {
    absl::StrAppend(&target, "/", Str(e, "/involvedObject/name"));
  }
  std::string component = FirstNonEmpty(Str(e, "/source/component"), Str(e, "/reportingComponent"));
  std::string instance = FirstNonEmpty(Str(e, "/source/host"), Str(e, "/reportingInstance"));
  std::string source = instance.empty() ? component : absl::StrCat(component, ", ", instance);
  return Json::array({last, Str(e, "/type"), Str(e, "/reason"), target,
                      Str(e, "/involvedObject/fieldPath"), source,
                      std::string(absl::StripAsciiWhitespace(Str(e, "/message"))), first, count,
                      Str(e, "/metadata/name")});
}

Json SecretCells(const Json& s, absl::Time now) {
  Json data = JsonAt(s, "/data");
  int64_t keys = data.is_object() ? static_cast<int64_t>(data.size()) : 0;
  return Json::array({Str(s, "/metadata/name"), Str(s, "/type"), keys,
                      Since(JsonAt(s, "/metadata/creationTimestamp"), now)});
}

Json NamespaceCells(const Json& n, absl::Time now) {
  return Json::array({Str(n, "/metadata/name"), Str(n, "/status/phase"),
                      Since(JsonAt(n, "/metadata/creationTimestamp"), now)});
}

// rest.defaultTableConvertor: the name and creationTimestamp in UTC RFC 3339.
Json DefaultCells(const Json& obj) {
  std::optional<absl::Time> t = ParseTimestamp(JsonAt(obj, "/metadata/creationTimestamp"));
  std::string created =
      t ? absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *t, absl::UTCTimeZone()) : "0001-01-01T00:00:00Z";
  return Json::array({Str(obj, "/metadata/name"), created});
}

// Resolves a plain `.a.b[0]` path, the form nearly every printer column has, so the cell knows
// the value's type and whether it exists. False when the path uses more of JSONPath (filters,
// wildcards, quoted keys); *out is null when nothing matches.
bool ResolveSimplePath(const Json& root, absl::string_view path, const Json** out) {
  const Json* cur = &root;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      size_t end = std::min(path.find_first_of(".[", i + 1), path.size());
      std::string key(path.substr(i + 1, end - i - 1));
      if (key.empty() || key.find_first_of("*?@()'\"$ ") != std::string::npos) return false;
      if (cur != nullptr && cur->is_object()) {
        auto it = cur->find(key);
        cur = it != cur->end() ? &*it : nullptr;
      } else {
        cur = nullptr;
      }
      i = end;
    } else if (path[i] == '[') {
      size_t close = path.find(']', i);
      int idx = 0;
      if (close == absl::string_view::npos ||
          !absl::SimpleAtoi(path.substr(i + 1, close - i - 1), &idx))
        return false;
      int size = cur && cur->is_array() ? static_cast<int>(cur->size()) : 0;
      int k = idx < 0 ? size + idx : idx;
      cur = k >= 0 && k < size ? &(*cur)[k] : nullptr;
      i = close + 1;
    } else {
      return false;
    }
  }
  *out = cur;
  return true;
}

// tableconvertor.cellForJSONValue: a cell of `type` from a JSON value, null when the value does
// not have that type.
Json TypedCell(const std::string& type, const Json& v, absl::Time now) {
  if (type == "integer" && v.is_number()) {
    return v.is_number_float() ? Json(static_cast<int64_t>(v.get<double>())) : v;
  }
  if (type == "number" && v.is_number()) return Json(v.get<double>());
  if (type == "boolean" && v.is_boolean()) return v;
  if (type == "string" && v.is_string()) return v;
  if (type == "date" && v.is_string()) {
    bool valid = true;
    std::optional<absl::Time> t = ParseTimestamp(v, &valid);
    if (!valid) return "<invalid>";
    return t ? HumanDuration(now - *t) : "<unknown>";
  }
  return nullptr;
}

// One CRD printer-column cell, as tableconvertor computes it: null when the path matches
// nothing; string columns print the first match as kubectl's JSONPath printer does (scalars
// bare, objects and arrays as JSON); other types convert or become null.
Json CrdCell(const Json& obj, const TableColumn& c, absl::Time now) {
  const Json* node = nullptr;
  if (ResolveSimplePath(obj, c.json_path, &node)) {
    if (node == nullptr || node->is_null()) return nullptr;
    if (c.type == "string") return node->is_string() ? *node : Json(node->dump());
    return TypedCell(c.type, *node, now);
  }
  // Filters such as .status.conditions[?(@.type=="Ready")].status: the shared evaluator, which
  // prints the matches; an empty result reads as no match.
  absl::StatusOr<std::string> text = EvaluateJsonPath(obj, "{" + c.json_path + "}");
  if (!text.ok() || text->empty()) return nullptr;
  if (c.type == "string") return *text;
  Json parsed = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  return TypedCell(c.type, parsed.is_discarded() ? Json(*text) : parsed, now);
}

Json Definitions(const std::vector<TableColumn>& columns) {
  Json out = Json::array();
  for (const TableColumn& c : columns) {
    out.push_back(Json{{"name", c.name},
                       {"type", c.type},
                       {"format", c.format},
                       {"description", c.description},
                       {"priority", c.priority}});
  }
  return out;
}

// handlers/response.go asTable: what a row carries besides its cells.
Json RowObject(const Json& obj, IncludeObject include, const std::string& api_version) {
  switch (include) {
    case IncludeObject::kNone:
      return nullptr;
    case IncludeObject::kObject:
      return obj;
    case IncludeObject::kMetadata:
      break;
  }
  Json partial = Json::object();
  partial["kind"] = "PartialObjectMetadata";
  partial["apiVersion"] = api_version;
  partial["metadata"] = obj.contains("metadata") ? obj["metadata"] : Json::object();
  return partial;
}

}  // namespace

std::vector<TableColumn> ColumnsFor(const std::string& kind) {
  if (kind == "Event") return EventColumns();
  if (kind == "Secret") return SecretColumns();
  if (kind == "Namespace") return NamespaceColumns();
  if (const schema::KindSchema* k = schema::Find(kind)) return CrdColumns(*k);
  return {Col("Name", kNameDoc, 0, "string", "name"),
          Col("Created At", kCreationTimestampDoc, 0, "date")};
}

absl::StatusOr<IncludeObject> ParseIncludeObject(const std::string& value) {
  if (value.empty() || value == "Metadata") return IncludeObject::kMetadata;
  if (value == "None") return IncludeObject::kNone;
  if (value == "Object") return IncludeObject::kObject;
  return absl::InvalidArgumentError(
      absl::StrCat("unrecognized includeObject value: ", Json(value).dump()));
}

Json RowCells(const Json& obj, const std::string& kind, const std::vector<TableColumn>& columns,
              absl::Time now) {
  if (kind == "Event") return EventCells(obj, now);
  if (kind == "Secret") return SecretCells(obj, now);
  if (kind == "Namespace") return NamespaceCells(obj, now);
  if (schema::Find(kind) == nullptr) return DefaultCells(obj);
  Json cells = Json::array({Str(obj, "/metadata/name")});  // kube's leading Name column
  for (size_t i = 1; i < columns.size(); ++i) cells.push_back(CrdCell(obj, columns[i], now));
  return cells;
}

Json ToTable(const std::vector<const Json*>& objects, const std::string& kind,
             const std::string& table_version, IncludeObject include, absl::Time now,
             const Json& list_metadata, bool with_definitions) {
  std::vector<TableColumn> columns = ColumnsFor(kind);
  std::string api_version =
      table_version.find('/') == std::string::npos ? "meta.k8s.io/" + table_version : table_version;
  Json table = Json::object();
  table["kind"] = "Table";
  table["apiVersion"] = api_version;
  table["metadata"] = list_metadata.is_object() ? list_metadata : Json::object();
  table["columnDefinitions"] = with_definitions ? Definitions(columns) : Json(nullptr);
  Json rows = Json::array();
  for (const Json* obj : objects) {
    Json row = Json::object();
    row["cells"] = RowCells(*obj, kind, columns, now);
    row["object"] = RowObject(*obj, include, api_version);
    rows.push_back(std::move(row));
  }
  table["rows"] = std::move(rows);
  return table;
}

// Go's int() conversions truncate toward zero, as absl's ToInt64 functions do.
std::string HumanDuration(absl::Duration d) {
  int64_t seconds = absl::ToInt64Seconds(d);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return absl::StrCat(seconds, "s");
  int64_t minutes = absl::ToInt64Minutes(d);
  if (minutes < 10) {
    int64_t s = seconds % 60;
    return s == 0 ? absl::StrCat(minutes, "m") : absl::StrCat(minutes, "m", s, "s");
  }
  if (minutes < 60 * 3) return absl::StrCat(minutes, "m");
  int64_t hours = absl::ToInt64Hours(d);
  if (hours < 8) {
    int64_t m = minutes % 60;
    return m == 0 ? absl::StrCat(hours, "h") : absl::StrCat(hours, "h", m, "m");
  }
  if (hours < 48) return absl::StrCat(hours, "h");
  if (hours < 24 * 8) {
    int64_t h = hours % 24;
    return h == 0 ? absl::StrCat(hours / 24, "d") : absl::StrCat(hours / 24, "d", h, "h");
  }
  if (hours < 24 * 365 * 2) return absl::StrCat(hours / 24, "d");
  if (hours < 24 * 365 * 8) {
    int64_t dy = (hours / 24) % 365;
    return dy == 0 ? absl::StrCat(hours / 24 / 365, "y")
                   : absl::StrCat(hours / 24 / 365, "y", dy, "d");
  }
  return absl::StrCat(hours / 24 / 365, "y");
}

}  // namespace berth::kubeapi
