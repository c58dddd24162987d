#include "describe.h"

#include <catch2/catch.hpp>

namespace berth::cli {
namespace {

TEST_CASE("DescribeLabel splits camelCase and keeps acronyms", "[describe]") {
  CHECK(DescribeLabel("assignedNamespace") == "Assigned Namespace");
  CHECK(DescribeLabel("vendorID") == "Vendor ID");
  CHECK(DescribeLabel("deviceNumber") == "Device Number");
  CHECK(DescribeLabel("ipAddress") == "IP Address");
  CHECK(DescribeLabel("uid") == "UID");
  CHECK(DescribeLabel("creationTimestamp") == "Creation Timestamp");
  CHECK(DescribeLabel("apiVersion") == "API Version");
  CHECK(DescribeLabel("bus") == "Bus");
}

TEST_CASE("Describe renders a NodeUSBDevice like the spec example", "[describe]") {
  Json dev = Json::parse(R"({
    "apiVersion": "virtualization.deckhouse.io/v1alpha2",
    "kind": "NodeUSBDevice",
    "metadata": {"name": "logitech-webcam", "uid": "abc123-def456-ghi789", "generation": 1,
                 "creationTimestamp": "2024-01-15T10:30:00Z", "resourceVersion": "7",
                 "finalizers": ["virtualization.deckhouse.io/usb"]},
    "spec": {"assignedNamespace": "my-project"},
    "status": {"nodeName": "node-2",
               "attributes": {"bus": 1, "vendorID": "046d", "product": "Webcam C920"},
               "conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
                               "message": "Device is ready to use",
                               "lastTransitionTime": "2024-01-15T10:30:00Z"}]}
  })");
  std::string out = Describe(dev);
  CHECK(out ==
        "Name:         logitech-webcam\n"
        "Namespace:    \n"
        "Labels:       <none>\n"
        "Annotations:  <none>\n"
        "API Version:  virtualization.deckhouse.io/v1alpha2\n"
        "Kind:         NodeUSBDevice\n"
        "Metadata:\n"
        "  Creation Timestamp:  2024-01-15T10:30:00Z\n"
        "  Finalizers:\n"
        "    virtualization.deckhouse.io/usb\n"
        "  Generation:          1\n"
        "  Resource Version:    7\n"
        "  UID:                 abc123-def456-ghi789\n"
        "Spec:\n"
        "  Assigned Namespace:  my-project\n"
        "Status:\n"
        "  Attributes:\n"
        "    Bus:        1\n"
        "    Product:    Webcam C920\n"
        "    Vendor ID:  046d\n"
        "  Node Name:  node-2\n"
        "Conditions:\n"
        "  Type    Status   Reason   Message                  LastTransitionTime\n"
        "  ----    ------   ------   -------                  ------------------\n"
        "  Ready   True     Ready    Device is ready to use   2024-01-15T10:30:00Z\n");
}

TEST_CASE("Describe lists labels one per line and hides secret data", "[describe]") {
  Json s = {
      {"apiVersion", "v1"},
      {"kind", "Secret"},
      {"metadata", {{"name", "ci"}, {"namespace", "ns"}, {"labels", {{"a", "1"}, {"b", "2"}}}}},
      {"type", "Opaque"},
      {"data", {{"userData", "aGVsbG8="}}}};
  std::string out = Describe(s);
  CHECK(out.find("Labels:       a=1\n              b=2\n") != std::string::npos);
  CHECK(out.find("User Data:  5 bytes\n") != std::string::npos);
  CHECK(out.find("aGVsbG8") == std::string::npos);
  CHECK(out.find("Type:         Opaque\n") != std::string::npos);
  CHECK(out.find("Conditions:   <none>\n") != std::string::npos);
}

}  // namespace
}  // namespace berth::cli
