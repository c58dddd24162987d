// The schema of every kind the Kubernetes-style API serves, read from the CRDs in
// manifests/crds/, which are embedded in the binary at build time. They are the one source for
// discovery (names, short names, categories, scope), the printer columns of `get`, OpenAPI, and
// structural validation, defaulting and pruning by openAPIV3Schema. Immutable after first use,
// so thread-safe.
#ifndef BERTH_SCHEMA_H_
#define BERTH_SCHEMA_H_

#include <string>
#include <string_view>
#include <vector>

#include "berth/json.h"

namespace berth::schema {

// One additionalPrinterColumns entry of a CRD.
struct PrinterColumn {
  std::string name;
  std::string type;  // string, integer, number, boolean, date
  std::string format;
  std::string description;
  std::string json_path;  // e.g. .status.phase
  int priority = 0;       // > 0: shown only with -o wide
};

struct KindSchema {
  std::string group;    // virtualization.deckhouse.io
  std::string version;  // v1alpha2
  std::string kind;     // VirtualDiskSnapshot
  std::string list_kind;
  std::string plural;
  std::string singular;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  bool namespaced = true;
  bool status_subresource = false;
  std::vector<PrinterColumn> columns;
  Json open_api_v3;  // spec.versions[0].schema.openAPIV3Schema
  Json crd;          // the whole CustomResourceDefinition

  std::string ApiVersion() const { return group + "/" + version; }
};

// Every embedded CRD, sorted by kind. Aborts at first use if a CRD does not parse (a build
// defect: manifests_test checks them).
const std::vector<KindSchema>& Kinds();

// The CRD kind named `kind` (exact Kind spelling), or nullptr.
const KindSchema* Find(std::string_view kind);

// One violation of a schema, in the Kubernetes API's field-error vocabulary.
struct FieldError {
  enum class Type {
    kRequired,
    kNotSupported,
    kInvalid,
    kTypeInvalid,
    kTooLong,
    kTooMany,
    kUnknown
  };
  Type type;
  std::string field;   // e.g. spec.virtualDiskName, spec.items[0].name
  std::string detail;  // e.g. "Unsupported value: \"X\": supported values: \"A\", \"B\""
  // The Kubernetes reason of `type`: FieldValueRequired, FieldValueNotSupported, ...
  std::string Reason() const;
  // "spec.x: Required value", the way kube-apiserver prints a field error.
  std::string Message() const;
};

// Validates `value` (a whole object; metadata is not looked into) against `schema`. Unknown
// fields are reported as kUnknown only when `report_unknown`; otherwise they are ignored (the
// caller prunes them).
std::vector<FieldError> Validate(const Json& schema, const Json& value, bool report_unknown);

// Sets schema defaults on absent fields, as kube-apiserver does for CRDs.
void ApplyDefaults(const Json& schema, Json& value);

// Removes fields the schema does not declare (outside x-kubernetes-preserve-unknown-fields and
// metadata), returning their paths: kube-apiserver's pruning.
std::vector<std::string> Prune(const Json& schema, Json& value);

}  // namespace berth::schema

#endif  // BERTH_SCHEMA_H_
