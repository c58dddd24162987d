// Admission for DataExport: spec.targetRef {kind: VirtualDisk|VirtualDiskSnapshot, name},
// spec.ttl (a duration, default "2m", at most 24h), spec.publish (default false).
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "api/admission_internal.h"

namespace berth::controller::admission_internal {

void ValidateDataExport(Obj& top) {
  top.Allow({"apiVersion", "kind", "metadata", "spec"});
  std::optional<Obj> spec = top.Sub("spec", Need::kRequired);
  if (!spec) return;
  spec->Allow({"targetRef", "ttl", "publish", "since"});
  if (std::optional<Obj> ref = spec->Sub("targetRef", Need::kRequired)) {
    ref->Allow({"kind", "name"});
    const std::string* kind =
        ref->Enum("kind", {"VirtualDisk", "VirtualDiskSnapshot"}, Need::kRequired);
    NameRule rule =
        kind != nullptr && *kind == "VirtualDisk" ? NameRule::kLabel : NameRule::kSubdomain;
    ref->Name("name", rule, Need::kRequired);
  }
  // Incremental export: a snapshot of the same namespace the client holds a copy of.
  if (std::optional<Obj> since = spec->Sub("since", Need::kOptional)) {
    since->Allow({"kind", "name", "namespace"});
    since->Enum("kind", {"VirtualDiskSnapshot"}, Need::kRequired);
    since->Name("name", NameRule::kSubdomain, Need::kRequired);
    const std::string* ns = since->Str("namespace", Need::kOptional);
    const Json& meta_ns = top.json()["metadata"].value("namespace", Json(""));
    if (ns != nullptr && meta_ns.is_string() && *ns != meta_ns.get<std::string>()) {
      since->Error("namespace", InvalidValue(*ns,
                                             "must be the export's own namespace (an export "
                                             "reads only its namespace's snapshots)"));
    }
  }
  if (!spec->Has("ttl")) spec->json()["ttl"] = "2m";
  if (const std::string* ttl = spec->Str("ttl", Need::kRequired)) {
    absl::Duration d;
    if (!absl::ParseDuration(*ttl, &d) || d <= absl::ZeroDuration() || d > absl::Hours(24)) {
      spec->Error("ttl", InvalidValue(*ttl, "must be a duration between 1s and 24h, like 2m"));
    }
  }
  spec->Bool("publish", false);
}

}  // namespace berth::controller::admission_internal
