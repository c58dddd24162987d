#include "printers.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "berth/jsonpath.h"
#include "berth/manifest.h"
#include "berth/time_util.h"

namespace berth::cli {
namespace {

constexpr char kNone[] = "<none>";

// Renders a JSON leaf as a table cell; "" for null.
std::string Scalar(const Json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Returns the first non-empty value among `pointers`, or "".
std::string Lookup(const Json& object, std::initializer_list<const char*> pointers) {
  for (const char* p : pointers) {
    std::string s = Scalar(JsonAt(object, p));
    if (!s.empty()) return s;
  }
  return "";
}

std::string OrNone(std::string s) { return s.empty() ? kNone : s; }

Column Text(std::string header, std::initializer_list<const char*> pointers, bool wide = false) {
  std::vector<const char*> ps(pointers);
  return Column{std::move(header),
                [ps](const Json& o, absl::Time) {
                  for (const char* p : ps) {
                    std::string s = Scalar(JsonAt(o, p));
                    if (!s.empty()) return s;
                  }
                  return std::string(kNone);
                },
                wide};
}

// Like Text, but blank (not <none>) when unset: booleans such as CONSISTENT.
Column Blank(std::string header, const char* pointer) {
  return Column{std::move(header),
                [pointer](const Json& o, absl::Time) { return Lookup(o, {pointer}); }, false};
}

Column Condition(std::string header, std::string type) {
  return Column{std::move(header),
                [type](const Json& o, absl::Time) { return OrNone(ConditionStatus(o, type)); },
                false};
}

Column Age(std::string header, const char* pointer) {
  return Column{std::move(header),
                [pointer](const Json& o, absl::Time now) {
                  std::string ts = JsonString(o, pointer);
                  absl::Time t = ts.empty() ? absl::InfinitePast() : ParseRfc3339(ts);
                  if (t == absl::InfinitePast()) return std::string("<unknown>");
                  return FormatAge(now - t);
                },
                false};
}

Column Name() { return Text("NAME", {"/metadata/name"}); }
Column Created() { return Age("AGE", "/metadata/creationTimestamp"); }
Column Phase() { return Text("PHASE", {"/status/phase"}); }
Column NodeOf(bool wide = false) {
  return Text("NODE", {"/status/nodeName", "/status/node", "/status/attributes/nodeName"}, wide);
}

std::vector<Column> DefaultColumns() { return {Name(), Phase(), Created()}; }

std::vector<Column> SecretColumns() {
  Column data{"DATA",
              [](const Json& o, absl::Time) {
                Json d = JsonAt(o, "/data");
                Json sd = JsonAt(o, "/stringData");
                size_t n = (d.is_object() ? d.size() : 0) + (sd.is_object() ? sd.size() : 0);
                return std::to_string(n);
              },
              false};
  return {Name(), Text("TYPE", {"/type"}), data, Created()};
}

std::vector<Column> DiskSnapshotColumns() {
  return {Name(),
          Phase(),
          Blank("CONSISTENT", "/status/consistent"),
          Text("DISK", {"/spec/virtualDiskName"}, true),
          NodeOf(true),
          Created()};
}

std::vector<Column> DiskColumns() {
  return {Name(),
          Phase(),
          Text("CAPACITY", {"/status/capacity"}),
          Text("STORAGECLASS",
               {"/status/storageClassName", "/spec/persistentVolumeClaim/storageClassName"}, true),
          NodeOf(true),
          Created()};
}

std::vector<Column> VmColumns() {
  return {Name(), Phase(), NodeOf(), Text("IPADDRESS", {"/status/ipAddress"}), Created()};
}

std::vector<Column> VmSnapshotColumns() {
  return {Name(), Phase(), Blank("CONSISTENT", "/status/consistent"), Created()};
}

std::vector<Column> VmopColumns() {
  return {Name(), Phase(), Text("TYPE", {"/spec/type"}),
          Text("VIRTUALMACHINE", {"/spec/virtualMachineName"}), Created()};
}

std::vector<Column> VmsopColumns() {
  return {Name(), Phase(), Text("TYPE", {"/spec/type"}),
          Text("VIRTUALMACHINESNAPSHOT", {"/spec/virtualMachineSnapshotName"}), Created()};
}

std::vector<Column> NodeUsbColumns() {
  return {Name(),
          NodeOf(),
          Condition("READY", "Ready"),
          Condition("ASSIGNED", "Assigned"),
          Blank("NAMESPACE", "/spec/assignedNamespace"),
          Created()};
}

std::vector<Column> UsbColumns() {
  return {Name(),
          NodeOf(),
          Text("MANUFACTURER", {"/status/attributes/manufacturer"}),
          Text("PRODUCT", {"/status/attributes/product"}),
          Text("SERIAL", {"/status/attributes/serial"}),
          Condition("ATTACHED", "Attached"),
          Text("VENDORID", {"/status/attributes/vendorID"}, true),
          Text("PRODUCTID", {"/status/attributes/productID"}, true),
          Text("BUS", {"/status/attributes/bus"}, true),
          Text("DEVICENUMBER", {"/status/attributes/deviceNumber"}, true),
          Created()};
}

std::vector<Column> NodeColumns() {
  return {Name(), Condition("READY", "Ready"), Text("VERSION", {"/status/version"}),
          Age("LAST-HEARTBEAT", "/status/lastHeartbeatTime"), Created()};
}

std::vector<Column> EventColumns() {  // as kubectl's `get events`
  Column object{"OBJECT",
                [](const Json& o, absl::Time) {
                  return absl::StrCat(absl::AsciiStrToLower(JsonString(o, "/involvedObject/kind")),
                                      "/", JsonString(o, "/involvedObject/name"));
                },
                false};
  return {Age("LAST SEEN", "/lastTimestamp"), Text("TYPE", {"/type"}), Text("REASON", {"/reason"}),
          object, Text("MESSAGE", {"/message"})};
}

using ColumnFactory = std::vector<Column> (*)();

const std::map<std::string, ColumnFactory>& Factories() {
  static const auto* m = new std::map<std::string, ColumnFactory>{
      {"VirtualDiskSnapshot", DiskSnapshotColumns},
      {"VirtualDisk", DiskColumns},
      {"VirtualMachine", VmColumns},
      {"VirtualMachineSnapshot", VmSnapshotColumns},
      {"VirtualMachineOperation", VmopColumns},
      {"VirtualMachineSnapshotOperation", VmsopColumns},
      {"NodeUSBDevice", NodeUsbColumns},
      {"USBDevice", UsbColumns},
      {"Node", NodeColumns},
      {"Secret", SecretColumns},
      {"Event", EventColumns},
  };
  return *m;
}

std::string LabelsCell(const Json& object) {
  Json labels = JsonAt(object, "/metadata/labels");
  if (!labels.is_object() || labels.empty()) return kNone;
  std::vector<std::string> parts;
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    parts.push_back(absl::StrCat(it.key(), "=", Scalar(it.value())));
  }
  return absl::StrJoin(parts, ",");
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(const std::string& text) {
  using T = OutputFormat::Type;
  static const auto* simple = new std::map<std::string, T>{{"", T::kTable},
                                                           {"wide", T::kWide},
                                                           {"json", T::kJson},
                                                           {"yaml", T::kYaml},
                                                           {"name", T::kName}};
  auto it = simple->find(text);
  if (it != simple->end()) return OutputFormat{it->second, ""};
  if (absl::StartsWith(text, "jsonpath=")) {
    std::string tmpl = text.substr(9);
    if (tmpl.empty())
      return absl::InvalidArgumentError("template format specified but no template given");
    return OutputFormat{T::kJsonPath, tmpl};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unable to match a printer suitable for the output format \"", text,
                   "\", allowed formats are: json,jsonpath,name,wide,yaml"));
}

std::vector<Column> ColumnsFor(const std::string& kind) {
  auto it = Factories().find(kind);
  return it == Factories().end() ? DefaultColumns() : it->second();
}

std::string ConditionStatus(const Json& object, const std::string& type) {
  Json conds = JsonAt(object, "/status/conditions");
  if (!conds.is_array()) return "";
  for (const Json& c : conds) {
    if (c.is_object() && c.value("type", Json()) == Json(type))
      return Scalar(c.value("status", Json()));
  }
  return "";
}

Table BuildTable(const std::string& kind, const std::vector<Json>& objects,
                 const TableOptions& options) {
  std::vector<Column> cols;
  for (Column& c : ColumnsFor(kind)) {
    if (!c.wide_only || options.wide) cols.push_back(std::move(c));
  }
  Table table;
  if (options.all_namespaces) table.headers.push_back("NAMESPACE");
  for (const Column& c : cols) table.headers.push_back(c.header);
  if (options.show_labels) table.headers.push_back("LABELS");
  for (const Json& o : objects) {
    std::vector<std::string> row;
    if (options.all_namespaces) row.push_back(JsonString(o, "/metadata/namespace"));
    for (const Column& c : cols) row.push_back(c.value(o, options.now));
    if (options.show_labels) row.push_back(LabelsCell(o));
    table.rows.push_back(std::move(row));
  }
  return table;
}

std::vector<size_t> ColumnWidths(const Table& table, bool no_headers) {
  std::vector<size_t> widths(table.headers.size(), 0);
  if (!no_headers) {
    for (size_t i = 0; i < widths.size(); ++i) widths[i] = table.headers[i].size();
  }
  for (const auto& row : table.rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  return widths;
}

std::string RenderRow(const std::vector<std::string>& cells, const std::vector<size_t>& widths) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    line += cells[i];
    if (i + 1 < cells.size()) {
      size_t w = i < widths.size() ? widths[i] : cells[i].size();
      line.append(w > cells[i].size() ? w - cells[i].size() : 0, ' ');
      line += "   ";
    }
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line + "\n";
}

std::string RenderTable(const Table& table, bool no_headers) {
  std::vector<size_t> widths = ColumnWidths(table, no_headers);
  std::string out = no_headers ? "" : RenderRow(table.headers, widths);
  for (const auto& row : table.rows) out += RenderRow(row, widths);
  return out;
}

std::string QualifiedSingular(const KindInfo& kind) {
  if (kind.api_version.find('/') == std::string::npos) return kind.singular;
  return absl::StrCat(kind.singular, ".", kApiGroup);
}

std::string QualifiedPlural(const KindInfo& kind) {
  if (kind.api_version.find('/') == std::string::npos) return kind.plural;
  return absl::StrCat(kind.plural, ".", kApiGroup);
}

std::string ObjectRefName(const Json& object, const KindInfo& fallback) {
  const KindInfo* info = ResolveKind(JsonString(object, "/kind"));
  return absl::StrCat(QualifiedSingular(info ? *info : fallback), "/",
                      JsonString(object, "/metadata/name"));
}

Json MakeList(const std::vector<Json>& items) {
  Json list = Json::object();
  list["apiVersion"] = "v1";
  list["kind"] = "List";
  list["items"] = Json::array();
  for (const Json& item : items) list["items"].push_back(item);
  list["metadata"] = {{"resourceVersion", ""}};
  return list;
}

std::string FormatJson(const Json& value) {
  return value.dump(4, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string FormatYaml(const Json& value) {
  std::string y = ToYaml(value);
  if (y.empty() || y.back() != '\n') y += "\n";
  return y;
}

absl::StatusOr<std::string> FormatObjects(const OutputFormat& format, const KindInfo& kind,
                                          const std::vector<Json>& objects, bool single) {
  using T = OutputFormat::Type;
  Json value = single && objects.size() == 1 ? objects[0] : MakeList(objects);
  switch (format.type) {
    case T::kJson:
      return FormatJson(value);
    case T::kYaml:
      return FormatYaml(value);
    case T::kJsonPath:
      return EvaluateJsonPath(value, format.tmpl);
    case T::kName: {
      std::string out;
      for (const Json& o : objects) out += ObjectRefName(o, kind) + "\n";
      return out;
    }
    default:
      return absl::InternalError("FormatObjects called for a table format");
  }
}

}  // namespace berth::cli
