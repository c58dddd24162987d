// Server-side printing: the meta.k8s.io Table kube-apiserver returns when kubectl asks for
// `Accept: application/json;as=Table;g=meta.k8s.io;v=v1`. kubectl 1.x prints `get` output
// only from these tables, so the columns and cells here are what users see. Pure functions.
#ifndef BERTH_CONTROLLER_KUBEAPI_TABLE_H_
#define BERTH_CONTROLLER_KUBEAPI_TABLE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/json.h"

namespace berth::kubeapi {

// One meta/v1 TableColumnDefinition, plus the JSONPath that fills it for CRD kinds (empty for
// the core kinds, whose cells kube computes in code).
struct TableColumn {
  std::string name;    // "Name", "Phase", "Last Seen"
  std::string type;    // string, integer, number, boolean, date
  std::string format;  // "name" for the object-name column
  std::string description;
  std::string json_path;  // e.g. .status.phase
  int priority = 0;       // > 0: shown only by `get -o wide`
};

// The columns kube serves for `kind`: for CRD kinds "Name" then the CRD's
// additionalPrinterColumns (or "Age" when it has none); for Secret, Event and Namespace those
// of kube's internal printers; for any other kind the default "Name", "Created At".
std::vector<TableColumn> ColumnsFor(const std::string& kind);

// The includeObject query parameter of a Table request.
enum class IncludeObject { kNone, kMetadata, kObject };

// Parses includeObject ("" means Metadata, kube's default); InvalidArgument with kube's
// message ("unrecognized includeObject value: \"X\"") otherwise.
absl::StatusOr<IncludeObject> ParseIncludeObject(const std::string& value);

// A Table of `objects` (all of `kind`). `table_version` is "v1" or "v1beta1" (or the whole
// "meta.k8s.io/v1"). Each row is {cells, object}, object being a PartialObjectMetadata for
// kMetadata, the object itself for kObject and null for kNone. `list_metadata` becomes the
// table's metadata (resourceVersion, continue, remainingItemCount). columnDefinitions is null
// when !with_definitions (kube's NoHeaders, used for watch events after the first). Ages are
// measured to `now`.
Json ToTable(const std::vector<const Json*>& objects, const std::string& kind,
             const std::string& table_version, IncludeObject include, absl::Time now,
             const Json& list_metadata, bool with_definitions = true);

// The cells of one row of `obj` in `columns` (from ColumnsFor(kind)).
Json RowCells(const Json& obj, const std::string& kind, const std::vector<TableColumn>& columns,
              absl::Time now);

// k8s.io/apimachinery/pkg/util/duration.HumanDuration: "5s", "119s", "3m10s", "70m", "3h1m",
// "47h", "2d1h", "367d", "2y1d", "8y"; "<invalid>" below -1s.
std::string HumanDuration(absl::Duration d);

}  // namespace berth::kubeapi

#endif  // BERTH_CONTROLLER_KUBEAPI_TABLE_H_
