// Private helpers shared by the admission_*.cc files: an error collector, Kubernetes-style
// problem texts, name/format checks and `Obj`, a typed reader over one JSON object that records
// every problem it finds instead of stopping at the first.
#ifndef BERTH_CLUSTER_CONTROLLER_SRC_API_ADMISSION_INTERNAL_H_
#define BERTH_CLUSTER_CONTROLLER_SRC_API_ADMISSION_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "berth/json.h"

namespace berth::controller::admission_internal {

// How a field is wanted: kDefault creates an empty object (for Sub) when the field is absent.
enum class Need { kOptional, kRequired, kDefault };

// Which DNS-1123 rule a name follows: labels (<= 63, no dots) for objects whose names become
// host or domain names, subdomains (<= 253) for the rest.
enum class NameRule { kLabel, kSubdomain };

// Collects problems as "<field.path>: <problem>". One per Admit call; not thread-safe.
class Errors {
 public:
  void Add(const std::string& path, const std::string& problem);
  bool empty() const { return list_.empty(); }
  const std::vector<std::string>& list() const { return list_; }

 private:
  std::vector<std::string> list_;
};

using Strings = std::vector<std::string>;

// Problem texts in the Kubernetes field-error style.
inline constexpr char kRequired[] = "Required value";
inline constexpr char kImmutable[] = "field is immutable";
std::string Quote(const std::string& s);
std::string Unsupported(const std::string& value, const Strings& allowed);
std::string InvalidValue(const std::string& value, const std::string& why);
std::string WrongType(const char* expected, const Json& got);
std::string ForbiddenUnlessType(const std::string& type_value);

// Returns "label", "string", "integer", ... for messages.
const char* TypeName(const Json& v);

// Joins a path and a key ("spec" + "cpu" = "spec.cpu"; "" + "spec" = "spec").
std::string JoinPath(const std::string& path, const std::string& key);
// Returns "path[i]".
std::string IndexPath(const std::string& path, size_t i);

// Each returns "" when `s` is valid, else the problem (without the value).
std::string CheckName(const std::string& s, NameRule rule);
std::string CheckQualifiedName(const std::string& s);  // label and annotation keys
std::string CheckLabelValue(const std::string& s);
bool IsIPv4(const std::string& s);
bool IsMacAddress(const std::string& s);
bool IsBase64(const std::string& s);

// Removes object members whose value is null, recursively: like Kubernetes' pruning, a null
// field means the same as an absent one.
void PruneNulls(Json& v);

// Returns the member `key` of `obj` when `obj` is an object holding it, else nullptr.
const Json* Member(const Json& obj, const char* key);
// Returns the value at the dotted path ("spec.persistentVolumeClaim.size"), else nullptr.
const Json* AtPath(const Json& obj, const std::string& dotted);
// Returns whether the values at `dotted` in both objects are equal (both absent counts as equal).
bool SameAt(const Json& a, const Json& b, const std::string& dotted);

// Reads and checks the members of one JSON object in place; defaults are written into it.
// Holds references: the object and `errs` must outlive it. Accessors return nullptr/nullopt
// when the member is absent or invalid, having recorded the problem.
class Obj {
 public:
  Obj(Json& obj, std::string path, Errors& errs) : obj_(obj), path_(std::move(path)), errs_(errs) {}

  Json& json() { return obj_; }
  const std::string& path() const { return path_; }
  Errors& errs() { return errs_; }
  std::string Path(const std::string& key) const { return JoinPath(path_, key); }
  bool Has(const char* key) const { return obj_.contains(key); }
  void Error(const std::string& key, const std::string& problem);

  // Records every member not in `known` as an unknown field.
  void Allow(std::initializer_list<const char*> known);
  // Returns the member when present and of type `t` (recording a type error otherwise).
  Json* Typed(const char* key, Json::value_t t, const char* type_name, Need need);

  const std::string* Str(const char* key, Need need);
  const std::string* Name(const char* key, NameRule rule, Need need);
  const std::string* Enum(const char* key, const Strings& allowed, Need need,
                          const char* fallback = nullptr);
  std::optional<bool> Bool(const char* key, std::optional<bool> fallback = std::nullopt);
  std::optional<int64_t> Int(const char* key, Need need, int64_t min);
  std::optional<uint64_t> Quantity(const char* key, Need need);
  std::optional<Obj> Sub(const char* key, Need need);
  Json* Array(const char* key, Need need, size_t max_items = SIZE_MAX);
  // Checks a map of string to string.
  void StringMap(const char* key);
  // Checks a free-form object / array: only the top-level type.
  void AnyObject(const char* key) { Typed(key, Json::value_t::object, "object", Need::kOptional); }
  void AnyArray(const char* key);

 private:
  Json& obj_;
  std::string path_;
  Errors& errs_;
};

// Per-kind validators (admission_*.cc). `top` is the whole object; `status` is already removed.
void ValidateVirtualDisk(Obj& top);
void ValidateVirtualDiskSnapshot(Obj& top);
void ValidateVirtualImage(Obj& top);
void ValidateClusterVirtualImage(Obj& top);
void ValidateVirtualMachine(Obj& top);
void ValidateVirtualMachineClass(Obj& top);
void ValidateVirtualMachineIPAddress(Obj& top);
void ValidateVirtualMachineMACAddress(Obj& top);
void ValidateVirtualMachineSnapshot(Obj& top);
void ValidateVirtualMachineOperation(Obj& top);
void ValidateVirtualMachineSnapshotOperation(Obj& top);
void ValidateNodeUSBDevice(Obj& top);
void ValidateUSBDevice(Obj& top);
void ValidateSecret(Obj& top);
void ValidateEvent(Obj& top);
void ValidateNode(Obj& top);
void ValidateDataExport(Obj& top);  // admission_export.cc

// Per-kind update checks: `incoming` is admitted and defaulted, `existing` is the stored object.
void CheckVirtualDiskUpdate(const Json& incoming, const Json& existing, Errors& errs);
void CheckSpecImmutable(const Json& incoming, const Json& existing, Errors& errs);
void CheckSecretUpdate(const Json& incoming, const Json& existing, Errors& errs);

}  // namespace berth::controller::admission_internal

#endif  // BERTH_CLUSTER_CONTROLLER_SRC_API_ADMISSION_INTERNAL_H_
