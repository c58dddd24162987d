#include "printers.h"

#include <catch2/catch.hpp>

#include "berth/time_util.h"

namespace berth::cli {
namespace {

const absl::Time kNow = ParseRfc3339("2024-10-04T08:00:00Z");

Json Obj(const std::string& kind, const std::string& name, const std::string& created,
         Json status = Json::object(), Json spec = Json::object()) {
  Json o = {
      {"apiVersion", kApiVersion},
      {"kind", kind},
      {"metadata", {{"name", name}, {"namespace", "default"}, {"creationTimestamp", created}}},
      {"spec", spec},
      {"status", status}};
  return o;
}

Json Cond(const std::string& type, const std::string& status) {
  return Json{{"type", type}, {"status", status}, {"reason", type}};
}

std::string Render(const std::string& kind, const std::vector<Json>& objs, bool wide = false,
                   bool all_ns = false) {
  TableOptions t;
  t.wide = wide;
  t.all_namespaces = all_ns;
  t.now = kNow;
  return RenderTable(BuildTable(kind, objs, t), false);
}

TEST_CASE("VirtualDiskSnapshot table matches the spec example", "[printers]") {
  Json ready = Obj("VirtualDiskSnapshot", "linux-vm-root-1728027905", "2024-10-04T07:56:58Z",
                   {{"phase", "Ready"}, {"consistent", true}}, {{"virtualDiskName", "root"}});
  Json pending = Obj("VirtualDiskSnapshot", "s2", "2024-10-04T07:59:50Z", {{"phase", "Pending"}});
  CHECK(Render("VirtualDiskSnapshot", {ready, pending}) ==
        "NAME                       PHASE     CONSISTENT   AGE\n"
        "linux-vm-root-1728027905   Ready     true         3m2s\n"
        "s2                         Pending                10s\n");
  CHECK(Render("VirtualDiskSnapshot", {ready}, /*wide=*/true) ==
        "NAME                       PHASE   CONSISTENT   DISK   NODE     AGE\n"
        "linux-vm-root-1728027905   Ready   true         root   <none>   3m2s\n");
}

TEST_CASE("NodeUSBDevice columns come from conditions and spec", "[printers]") {
  Json flash = Obj(
      "NodeUSBDevice", "usb-flash-drive", "2024-10-04T07:50:00Z",
      {{"nodeName", "node-1"}, {"conditions", {Cond("Ready", "True"), Cond("Assigned", "False")}}});
  Json cam = Obj(
      "NodeUSBDevice", "logitech-webcam", "2024-10-04T07:45:00Z",
      {{"nodeName", "node-2"}, {"conditions", {Cond("Ready", "True"), Cond("Assigned", "True")}}},
      {{"assignedNamespace", "my-project"}});
  CHECK(Render("NodeUSBDevice", {flash, cam}) ==
        "NAME              NODE     READY   ASSIGNED   NAMESPACE    AGE\n"
        "usb-flash-drive   node-1   True    False                   10m\n"
        "logitech-webcam   node-2   True    True       my-project   15m\n");
}

TEST_CASE("USBDevice shows attributes, wide adds ids", "[printers]") {
  Json dev = Obj("USBDevice", "logitech-webcam", "2024-10-04T07:50:00Z",
                 {{"nodeName", "node-2"},
                  {"attributes",
                   {{"manufacturer", "Logitech"},
                    {"product", "Webcam C920"},
                    {"serial", "ABC123456"},
                    {"vendorID", "046d"},
                    {"productID", "082d"},
                    {"bus", "1"},
                    {"deviceNumber", "2"}}},
                  {"conditions", {Cond("Attached", "False")}}});
  CHECK(Render("USBDevice", {dev}) ==
        "NAME              NODE     MANUFACTURER   PRODUCT       SERIAL      ATTACHED   AGE\n"
        "logitech-webcam   node-2   Logitech       Webcam C920   ABC123456   False      10m\n");
  std::string wide = Render("USBDevice", {dev}, true);
  CHECK(wide.find("VENDORID   PRODUCTID   BUS   DEVICENUMBER   AGE") != std::string::npos);
  CHECK(wide.find("046d       082d        1     2              10m") != std::string::npos);
}

TEST_CASE("Other kinds' columns", "[printers]") {
  Json vm = Obj("VirtualMachine", "linux-vm", "2024-10-04T07:00:00Z",
                {{"phase", "Running"}, {"nodeName", "node-1"}, {"ipAddress", "10.66.10.1"}});
  CHECK(Render("VirtualMachine", {vm}) ==
        "NAME       PHASE     NODE     IPADDRESS    AGE\n"
        "linux-vm   Running   node-1   10.66.10.1   60m\n");
  Json vmop = Obj("VirtualMachineOperation", "restore", "2024-10-04T07:59:00Z",
                  {{"phase", "Completed"}}, {{"type", "Restore"}, {"virtualMachineName", "vm"}});
  CHECK(Render("VirtualMachineOperation", {vmop}) ==
        "NAME      PHASE       TYPE      VIRTUALMACHINE   AGE\n"
        "restore   Completed   Restore   vm               60s\n");
  Json vd = Obj("VirtualDisk", "root", "2024-10-01T08:00:00Z",
                {{"phase", "Ready"}, {"capacity", "10Gi"}});
  CHECK(Render("VirtualDisk", {vd}) ==
        "NAME   PHASE   CAPACITY   AGE\n"
        "root   Ready   10Gi       3d\n");
  Json node = Obj("Node", "node-1", "2024-10-03T08:00:00Z",
                  {{"version", "0.1.0"},
                   {"lastHeartbeatTime", "2024-10-04T07:59:55Z"},
                   {"conditions", {Cond("Ready", "True")}}});
  CHECK(Render("Node", {node}) ==
        "NAME     READY   VERSION   LAST-HEARTBEAT   AGE\n"
        "node-1   True    0.1.0     5s               24h\n");
  Json vi = Obj("VirtualImage", "img", "");
  CHECK(Render("VirtualImage", {vi}) ==
        "NAME   PHASE    AGE\n"
        "img    <none>   <unknown>\n");
}

TEST_CASE("All-namespaces adds NAMESPACE first", "[printers]") {
  Json a = Obj("VirtualMachineSnapshot", "snap", "2024-10-04T07:59:00Z", {{"phase", "Ready"}});
  a["metadata"]["namespace"] = "prod";
  CHECK(Render("VirtualMachineSnapshot", {a}, false, true) ==
        "NAMESPACE   NAME   PHASE   CONSISTENT   AGE\n"
        "prod        snap   Ready                60s\n");
}

TEST_CASE("ParseOutputFormat", "[printers]") {
  CHECK(ParseOutputFormat("")->type == OutputFormat::Type::kTable);
  CHECK(ParseOutputFormat("wide")->type == OutputFormat::Type::kWide);
  CHECK(ParseOutputFormat("json")->type == OutputFormat::Type::kJson);
  CHECK(ParseOutputFormat("yaml")->type == OutputFormat::Type::kYaml);
  CHECK(ParseOutputFormat("name")->type == OutputFormat::Type::kName);
  auto jp = ParseOutputFormat("jsonpath={.status.phase}");
  REQUIRE(jp.ok());
  CHECK(jp->tmpl == "{.status.phase}");
  CHECK_FALSE(ParseOutputFormat("xml").ok());
  CHECK_FALSE(ParseOutputFormat("jsonpath=").ok());
}

TEST_CASE("FormatObjects: json list, single object, name, jsonpath", "[printers]") {
  const KindInfo& vd = *ResolveKind("vd");
  Json a = Obj("VirtualDisk", "a", "2024-10-04T07:00:00Z", {{"phase", "Ready"}});
  Json b = Obj("VirtualDisk", "b", "2024-10-04T07:00:00Z", {{"phase", "Pending"}});
  auto list = FormatObjects({OutputFormat::Type::kJson, ""}, vd, {a, b}, false);
  REQUIRE(list.ok());
  Json parsed = Json::parse(*list);
  CHECK(parsed["kind"] == "List");
  CHECK(parsed["apiVersion"] == "v1");
  CHECK(parsed["items"].size() == 2);
  auto one = FormatObjects({OutputFormat::Type::kJson, ""}, vd, {a}, true);
  CHECK(Json::parse(*one)["metadata"]["name"] == "a");
  CHECK(*FormatObjects({OutputFormat::Type::kName, ""}, vd, {a, b}, false) ==
        "virtualdisk.virtualization.deckhouse.io/a\n"
        "virtualdisk.virtualization.deckhouse.io/b\n");
  CHECK(*FormatObjects({OutputFormat::Type::kJsonPath, "{.status.phase}"}, vd, {a}, true) ==
        "Ready");
  CHECK(*FormatObjects({OutputFormat::Type::kJsonPath, "{.items[*].metadata.name}"}, vd, {a, b},
                       false) == "a b");
  auto yaml = FormatObjects({OutputFormat::Type::kYaml, ""}, vd, {a}, true);
  CHECK(yaml->find("kind: VirtualDisk\n") != std::string::npos);
}

TEST_CASE("Qualified names", "[printers]") {
  CHECK(QualifiedSingular(*ResolveKind("vds")) ==
        "virtualdisksnapshot.virtualization.deckhouse.io");
  CHECK(QualifiedPlural(*ResolveKind("vm")) == "virtualmachines.virtualization.deckhouse.io");
  CHECK(QualifiedSingular(*ResolveKind("secret")) == "secret");
  Json s = {{"kind", "Secret"}, {"metadata", {{"name", "cloud-init"}}}};
  CHECK(ObjectRefName(s, *ResolveKind("vd")) == "secret/cloud-init");
}

}  // namespace
}  // namespace berth::cli
