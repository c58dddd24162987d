#ifndef BERTH_CONTROLLER_ADMISSION_H_
#define BERTH_CONTROLLER_ADMISSION_H_

#include "absl/status/statusor.h"
#include "berth/json.h"

namespace berth::controller {

// Runs admission for an object a client submits, before anything is stored: first defaults
// (e.g. VirtualDiskSnapshot spec.requiredConsistency=true, VirtualMachineSnapshot
// keepIPAddress=Always), then validation of every kind the API serves (berth/kinds.h):
// apiVersion/kind known, metadata.name DNS-1123 (subdomain or label as the kind requires),
// namespace present for namespaced kinds (absent for cluster-scoped ones), required fields,
// field types, enums, lengths, and — when `existing` is given (an update) — immutable fields
// unchanged. Returns the defaulted object, or InvalidArgument whose message names the object
// and the field, e.g. `VirtualDiskSnapshot "s1": spec.virtualDiskName: Required value`.
// Pure function: no I/O, thread-safe.
absl::StatusOr<Json> Admit(const Json& incoming, const Json* existing);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_ADMISSION_H_
