#include "kubeapi/table.h"

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "berth/json.h"

namespace berth::kubeapi {
namespace {

constexpr absl::Duration kSecond = absl::Seconds(1);
constexpr absl::Duration kMinute = absl::Minutes(1);
constexpr absl::Duration kHour = absl::Hours(1);
constexpr absl::Duration kMs = absl::Milliseconds(1);
constexpr absl::Duration kDay = absl::Hours(24);
constexpr absl::Duration kYear = absl::Hours(24 * 365);

absl::Time Now() { return absl::FromUnixSeconds(1728027905 + 100 * 24 * 3600); }

std::string Ago(absl::Duration d) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", Now() - d, absl::UTCTimeZone());
}

std::vector<std::string> Names(const std::vector<TableColumn>& cols) {
  std::vector<std::string> out;
  for (const TableColumn& c : cols) out.push_back(c.name);
  return out;
}

// Cases of k8s.io/apimachinery/pkg/util/duration/duration_test.go.
TEST_CASE("HumanDuration matches kube's duration tests") {
  std::vector<std::pair<absl::Duration, std::string>> cases = {
      {kSecond, "1s"},
      {70 * kSecond, "70s"},
      {190 * kSecond, "3m10s"},
      {70 * kMinute, "70m"},
      {47 * kHour, "47h"},
      {49 * kHour, "2d1h"},
      {(8 * 24 + 2) * kHour, "8d"},
      {367 * 24 * kHour, "367d"},
      {(365 * 2 * 24 + 25) * kHour, "2y1d"},
      {(365 * 8 * 24 + 2) * kHour, "8y"},
      // TestHumanDurationBoundaries
      {-2 * kSecond, "<invalid>"},
      {-2 * kSecond + absl::Nanoseconds(1), "0s"},
      {absl::ZeroDuration(), "0s"},
      {kSecond - kMs, "0s"},
      {2 * kMinute - kMs, "119s"},
      {2 * kMinute, "2m"},
      {2 * kMinute + kSecond, "2m1s"},
      {10 * kMinute - kMs, "9m59s"},
      {10 * kMinute, "10m"},
      {10 * kMinute + kSecond, "10m"},
      {3 * kHour - kMs, "179m"},
      {3 * kHour, "3h"},
      {3 * kHour + kMinute, "3h1m"},
      {8 * kHour - kMs, "7h59m"},
      {8 * kHour, "8h"},
      {8 * kHour + 59 * kMinute, "8h"},
      {2 * kDay - kMs, "47h"},
      {2 * kDay, "2d"},
      {2 * kDay + kHour, "2d1h"},
      {8 * kDay - kMs, "7d23h"},
      {8 * kDay, "8d"},
      {8 * kDay + 23 * kHour, "8d"},
      {2 * kYear - kMs, "729d"},
      {2 * kYear, "2y"},
      {2 * kYear + 23 * kHour, "2y"},
      {2 * kYear + 23 * kHour + 59 * kMinute, "2y"},
      {2 * kYear + kDay - kMs, "2y"},
      {2 * kYear + kDay, "2y1d"},
      {3 * kYear, "3y"},
      {7 * kYear, "7y"},
      {8 * kYear - kMs, "7y364d"},
      {8 * kYear, "8y"},
      {8 * kYear + 364 * kDay, "8y"},
      {9 * kYear, "9y"},
  };
  for (const auto& [d, want] : cases) {
    INFO(absl::FormatDuration(d));
    CHECK(HumanDuration(d) == want);
  }
}

TEST_CASE("ColumnsFor a CRD kind: Name first, then the printer columns") {
  std::vector<TableColumn> cols = ColumnsFor("VirtualDiskSnapshot");
  CHECK(Names(cols) ==
        std::vector<std::string>{"Name", "Phase", "Consistent", "Disk", "Node", "Age"});
  CHECK(cols[0].format == "name");
  CHECK(cols[0].type == "string");
  CHECK(cols[2].type == "boolean");
  CHECK(cols[3].priority == 1);
  CHECK(cols[4].priority == 1);
  CHECK(cols[5].type == "date");
  CHECK(cols[1].json_path == ".status.phase");
  CHECK(cols[1].description ==
        "Custom resource definition column (in JSONPath format): .status.phase");
}

TEST_CASE("ColumnsFor core kinds follows kube's printers") {
  CHECK(Names(ColumnsFor("Secret")) == std::vector<std::string>{"Name", "Type", "Data", "Age"});
  CHECK(Names(ColumnsFor("Namespace")) == std::vector<std::string>{"Name", "Status", "Age"});
  std::vector<TableColumn> ev = ColumnsFor("Event");
  CHECK(Names(ev) == std::vector<std::string>{"Last Seen", "Type", "Reason", "Object", "Subobject",
                                              "Source", "Message", "First Seen", "Count", "Name"});
  std::vector<int> priorities;
  for (const TableColumn& c : ev) priorities.push_back(c.priority);
  CHECK(priorities == std::vector<int>{0, 0, 0, 0, 1, 1, 0, 1, 1, 1});
  CHECK(ev.back().format == "name");
  std::vector<TableColumn> other = ColumnsFor("ConfigMap");
  CHECK(Names(other) == std::vector<std::string>{"Name", "Created At"});
  CHECK(other[1].type == "date");
}

Json Snapshot(const std::string& name, absl::Duration age, Json status) {
  Json obj = {{"apiVersion", "virtualization.deckhouse.io/v1alpha2"},
              {"kind", "VirtualDiskSnapshot"},
              {"metadata",
               {{"name", name},
                {"namespace", "default"},
                {"uid", "u-" + name},
                {"resourceVersion", "12"},
                {"creationTimestamp", Ago(age)}}},
              {"spec", {{"virtualDiskName", "linux-vm-root"}, {"requiredConsistency", true}}}};
  if (!status.is_null()) obj["status"] = std::move(status);
  return obj;
}

TEST_CASE("ToTable renders a VirtualDiskSnapshot list like kube's CRD table convertor") {
  Json ready = Snapshot("snap-a", 5 * kMinute,
                        {{"phase", "Ready"}, {"consistent", true}, {"node", "node-1"}});
  Json pending = Snapshot("snap-b", 190 * kSecond, nullptr);
  Json list_meta = {{"resourceVersion", "42"}, {"continue", "abc"}};
  Json t = ToTable({&ready, &pending}, "VirtualDiskSnapshot", "v1", IncludeObject::kMetadata, Now(),
                   list_meta);
  CHECK(t["kind"] == "Table");
  CHECK(t["apiVersion"] == "meta.k8s.io/v1");
  CHECK(t["metadata"] == list_meta);
  REQUIRE(t["columnDefinitions"].size() == 6);
  Json name_column = {{"name", "Name"},
                      {"type", "string"},
                      {"format", "name"},
                      {"description", ColumnsFor("VirtualDiskSnapshot")[0].description},
                      {"priority", 0}};
  CHECK(t["columnDefinitions"][0] == name_column);
  CHECK(t["columnDefinitions"][3]["priority"] == 1);
  CHECK(t["columnDefinitions"][3]["format"] == "");
  REQUIRE(t["rows"].size() == 2);
  CHECK(t["rows"][0]["cells"] == Json::parse(R"(["snap-a","Ready",true,"linux-vm-root",
      "node-1","5m"])"));
  CHECK(t["rows"][1]["cells"] ==
        Json::parse(R"(["snap-b",null,null,"linux-vm-root",null,"3m10s"])"));
  Json partial = t["rows"][0]["object"];
  CHECK(partial["kind"] == "PartialObjectMetadata");
  CHECK(partial["apiVersion"] == "meta.k8s.io/v1");
  CHECK(partial["metadata"] == ready["metadata"]);
  CHECK_FALSE(partial.contains("spec"));
}

TEST_CASE("ToTable includeObject, v1beta1 and headerless tables") {
  Json snap = Snapshot("s", kSecond, {{"phase", "Pending"}});
  Json full = ToTable({&snap}, "VirtualDiskSnapshot", "v1beta1", IncludeObject::kObject, Now(),
                      Json::object());
  CHECK(full["apiVersion"] == "meta.k8s.io/v1beta1");
  CHECK(full["rows"][0]["object"] == snap);
  CHECK(full["metadata"] == Json::object());
  Json none = ToTable({&snap}, "VirtualDiskSnapshot", "meta.k8s.io/v1", IncludeObject::kNone, Now(),
                      Json(), /*with_definitions=*/false);
  CHECK(none["apiVersion"] == "meta.k8s.io/v1");
  CHECK(none["rows"][0].contains("object"));
  CHECK(none["rows"][0]["object"].is_null());
  CHECK(none["columnDefinitions"].is_null());
  CHECK(none["rows"][0]["cells"][1] == "Pending");
  Json empty =
      ToTable({}, "VirtualDiskSnapshot", "v1", IncludeObject::kMetadata, Now(), Json::object());
  CHECK(empty["rows"] == Json::array());
}

TEST_CASE("ParseIncludeObject takes kube's values") {
  CHECK(*ParseIncludeObject("") == IncludeObject::kMetadata);
  CHECK(*ParseIncludeObject("Metadata") == IncludeObject::kMetadata);
  CHECK(*ParseIncludeObject("Object") == IncludeObject::kObject);
  CHECK(*ParseIncludeObject("None") == IncludeObject::kNone);
  absl::StatusOr<IncludeObject> bad = ParseIncludeObject("All");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() == "unrecognized includeObject value: \"All\"");
}

TEST_CASE("Filter and date printer columns of a Node") {
  Json node = {{"kind", "Node"},
               {"metadata", {{"name", "node-1"}, {"creationTimestamp", Ago(49 * kHour)}}},
               {"status",
                {{"version", "1.2.3"},
                 {"lastHeartbeatTime", Ago(7 * kSecond)},
                 {"conditions", Json::array({{{"type", "AgentReady"}, {"status", "False"}},
                                             {{"type", "Ready"}, {"status", "True"}}})}}}};
  Json t = ToTable({&node}, "Node", "v1", IncludeObject::kNone, Now(), Json::object());
  CHECK(t["rows"][0]["cells"] == Json::parse(R"(["node-1","True","1.2.3","7s","2d1h"])"));
  Json bare = {{"metadata", {{"name", "node-2"}}}};
  CHECK(RowCells(bare, "Node", ColumnsFor("Node"), Now()) ==
        Json::parse(R"(["node-2",null,null,null,null])"));
}

TEST_CASE("Typed printer cells convert as kube's cellForJSONValue does") {
  std::vector<TableColumn> cols = {
      {"Name", "string", "name", "", "", 0}, {"Int", "integer", "", "", ".a.i", 0},
      {"Num", "number", "", "", ".a.n", 0},  {"Bool", "boolean", "", "", ".a.b", 0},
      {"Date", "date", "", "", ".a.d", 0},   {"Str", "string", "", "", ".a.s", 0},
      {"Obj", "string", "", "", ".a.o", 0},  {"Idx", "string", "", "", ".a.list[1]", 0},
  };
  Json obj = Json::parse(R"({"metadata":{"name":"x"},"a":{"i":3.7,"n":2,"b":"yes",
      "d":"not-a-date","s":"","o":{"k":1},"list":["p","q"]}})");
  Json cells = RowCells(obj, "VirtualDiskSnapshot", cols, Now());
  CHECK(cells[1] == 3);
  CHECK(cells[2] == 2.0);
  CHECK(cells[3].is_null());
  CHECK(cells[4] == "<invalid>");
  CHECK(cells[5] == "");
  CHECK(cells[6] == R"({"k":1})");
  CHECK(cells[7] == "q");
  Json zero = Json::parse(R"({"metadata":{"name":"x"},"a":{"d":""}})");
  CHECK(RowCells(zero, "VirtualDiskSnapshot", cols, Now())[4] == "<unknown>");
}

TEST_CASE("Event rows follow kube's printEvent") {
  Json ev = {{"kind", "Event"},
             {"metadata", {{"name", "snap-a.1234abcd.12"}, {"namespace", "default"}}},
             {"involvedObject",
              {{"kind", "VirtualDiskSnapshot"}, {"name", "snap-a"}, {"namespace", "default"}}},
             {"type", "Normal"},
             {"reason", "Ready"},
             {"message", "  phase Pending -> Ready\n"},
             {"source", {{"component", "berth-controller"}}},
             {"firstTimestamp", Ago(3 * kHour)},
             {"lastTimestamp", Ago(70 * kSecond)},
             {"count", 4}};
  std::vector<TableColumn> cols = ColumnsFor("Event");
  Json cells = RowCells(ev, "Event", cols, Now());
  CHECK(cells ==
        Json::array({"70s", "Normal", "Ready", "virtualdisksnapshot/snap-a", "", "berth-controller",
                     "phase Pending -> Ready", "3h", 4, "snap-a.1234abcd.12"}));

  // events.k8s.io-style: eventTime only, no count, reporting fields instead of source.
  Json modern = {{"metadata", {{"name", "e2"}}},
                 {"involvedObject", {{"kind", "Node"}}},
                 {"eventTime", "2024-10-04T07:45:05.123456Z"},
                 {"reportingComponent", "berth-agent"},
                 {"reportingInstance", "node-1"}};
  Json m = RowCells(modern, "Event", cols, Now());
  CHECK(m[0] == m[7]);
  CHECK(m[3] == "node");
  CHECK(m[5] == "berth-agent, node-1");
  CHECK(m[8] == 1);
  Json series = ev;
  series["series"] = {{"count", 9}, {"lastObservedTime", Ago(5 * kSecond)}};
  Json s = RowCells(series, "Event", cols, Now());
  CHECK(s[0] == "5s");
  CHECK(s[8] == 9);
  Json unknown = {{"metadata", {{"name", "e3"}}}};
  CHECK(RowCells(unknown, "Event", cols, Now())[0] == "<unknown>");
}

TEST_CASE("Secret, Namespace and default rows") {
  Json secret = {{"kind", "Secret"},
                 {"metadata", {{"name", "creds"}, {"creationTimestamp", Ago(2 * kDay)}}},
                 {"type", "Opaque"},
                 {"data", {{"a", "YQ=="}, {"b", "Yg=="}}}};
  CHECK(RowCells(secret, "Secret", ColumnsFor("Secret"), Now()) ==
        Json::array({"creds", "Opaque", 2, "2d"}));
  Json ns = {{"metadata", {{"name", "default"}, {"creationTimestamp", Ago(10 * kMinute)}}},
             {"status", {{"phase", "Active"}}}};
  CHECK(RowCells(ns, "Namespace", ColumnsFor("Namespace"), Now()) ==
        Json::array({"default", "Active", "10m"}));
  Json cm = {{"metadata", {{"name", "c"}, {"creationTimestamp", "2024-10-04T07:45:05.5Z"}}}};
  CHECK(RowCells(cm, "ConfigMap", ColumnsFor("ConfigMap"), Now()) ==
        Json::array({"c", "2024-10-04T07:45:05Z"}));
  Json bare = {{"metadata", {{"name", "d"}}}};
  CHECK(RowCells(bare, "ConfigMap", ColumnsFor("ConfigMap"), Now()) ==
        Json::array({"d", "0001-01-01T00:00:00Z"}));
  CHECK(RowCells(bare, "Secret", ColumnsFor("Secret"), Now()) ==
        Json::array({"d", "", 0, "<unknown>"}));
}

}  // namespace
}  // namespace berth::kubeapi
