#ifndef BERTH_CLI_PRINTERS_H_
#define BERTH_CLI_PRINTERS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/json.h"
#include "berth/kinds.h"

namespace berth::cli {

// How `get` prints objects (`-o`).
struct OutputFormat {
  enum class Type { kTable, kWide, kJson, kYaml, kName, kJsonPath };
  Type type = Type::kTable;
  std::string tmpl;  // kJsonPath only
};

// Parses the -o value: "", wide, json, yaml, name, jsonpath=TEMPLATE.
absl::StatusOr<OutputFormat> ParseOutputFormat(const std::string& text);

// Extracts one table cell from an object; `now` feeds ages.
struct Column {
  std::string header;
  std::function<std::string(const Json& object, absl::Time now)> value;
  bool wide_only = false;
};

// Returns the table columns of `kind` (the Kind name), NAME first, AGE last.
std::vector<Column> ColumnsFor(const std::string& kind);

struct TableOptions {
  bool wide = false;
  bool all_namespaces = false;  // adds NAMESPACE first
  bool show_labels = false;     // adds LABELS last
  absl::Time now;
};

struct Table {
  std::vector<std::string> headers;
  std::vector<std::vector<std::string>> rows;
};

Table BuildTable(const std::string& kind, const std::vector<Json>& objects,
                 const TableOptions& options);

// Returns the width of each column over the headers (unless `no_headers`) and rows.
std::vector<size_t> ColumnWidths(const Table& table, bool no_headers);
// Renders one line, columns padded to `widths` and separated by 3 spaces, no trailing blanks.
std::string RenderRow(const std::vector<std::string>& cells, const std::vector<size_t>& widths);
// Renders the whole table kubectl-style.
std::string RenderTable(const Table& table, bool no_headers);

// Returns "virtualdisk.virtualization.deckhouse.io" (or "secret" for core kinds).
std::string QualifiedSingular(const KindInfo& kind);
// Returns "virtualdisks.virtualization.deckhouse.io" (or "secrets").
std::string QualifiedPlural(const KindInfo& kind);
// Returns "virtualdisk.virtualization.deckhouse.io/NAME", resolving the kind from the object
// and falling back to `fallback`.
std::string ObjectRefName(const Json& object, const KindInfo& fallback);

// Wraps items in a kubectl List object.
Json MakeList(const std::vector<Json>& items);
std::string FormatJson(const Json& value);
std::string FormatYaml(const Json& value);

// Formats objects for a non-table output. `single` prints the object itself instead of a List
// (json, yaml, jsonpath).
absl::StatusOr<std::string> FormatObjects(const OutputFormat& format, const KindInfo& kind,
                                          const std::vector<Json>& objects, bool single);

// Returns the status ("True", "False", "Unknown") of the condition `type`, or "".
std::string ConditionStatus(const Json& object, const std::string& type);

}  // namespace berth::cli

#endif  // BERTH_CLI_PRINTERS_H_
