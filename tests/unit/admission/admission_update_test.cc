// Admission of updates: immutable specs, immutable disk fields, the size-grow rule.
#include "absl/strings/str_cat.h"
#include "admission_test_util.h"

namespace berth::controller::testing {
namespace {

std::string Disk(const std::string& pvc, const std::string& source = "") {
  return absl::StrCat(kHeader, "kind: VirtualDisk\nmetadata: {name: linux-vm-data}\nspec:\n",
                      "  persistentVolumeClaim: ", pvc, "\n", source);
}

std::string UpdateError(const std::string& original, const std::string& update) {
  absl::StatusOr<Json> out = AdmitUpdate(original, update);
  REQUIRE_FALSE(out.ok());
  REQUIRE(out.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(out.status().message());
}

TEST_CASE("Disk size may grow but never shrink", "[admission][update]") {
  CHECK(AdmitUpdate(Disk("{size: 10Gi}"), Disk("{size: 20Gi}")).ok());
  CHECK(AdmitUpdate(Disk("{size: 10Gi}"), Disk("{size: 10Gi}")).ok());
  CHECK(AdmitUpdate(Disk("{size: 10Gi}"), Disk("{size: 10240Mi}")).ok());
  CHECK(AdmitUpdate(Disk("{size: 10Gi}"), Disk("{size: 10737418240}")).ok());
  CHECK(UpdateError(Disk("{size: 10Gi}"), Disk("{size: 5Gi}")) ==
        "VirtualDisk \"linux-vm-data\": spec.persistentVolumeClaim.size: Invalid value \"5Gi\": "
        "the disk size may only grow, it cannot shrink below the current size 10Gi");
  CHECK_THAT(UpdateError(Disk("{size: 10Gi}"), Disk("{size: 10737418239}")),
             Catch::Contains("may only grow"));
  CHECK_THAT(UpdateError(Disk("{size: 10Gi}"),
                         Disk("{storageClassName: null}", "  dataSource: {type: Upload}\n")),
             Catch::Contains("spec.persistentVolumeClaim.size: Forbidden: may not be removed"));
  // A disk created from a source without a size may be given one later.
  CHECK(AdmitUpdate(Disk("{}", "  dataSource: {type: Upload}\n"),
                    Disk("{size: 1Gi}", "  dataSource: {type: Upload}\n"))
            .ok());
}

TEST_CASE("Disk storageClassName and dataSource are immutable", "[admission][update]") {
  CHECK_THAT(UpdateError(Disk("{size: 1Gi, storageClassName: a}"),
                         Disk("{size: 1Gi, storageClassName: b}")),
             Catch::Contains("spec.persistentVolumeClaim.storageClassName: field is immutable"));
  CHECK_THAT(UpdateError(Disk("{size: 1Gi}"), Disk("{size: 1Gi, storageClassName: b}")),
             Catch::Contains("spec.persistentVolumeClaim.storageClassName: field is immutable"));
  CHECK_THAT(UpdateError(Disk("{size: 1Gi}"), Disk("{size: 1Gi}",
                                                   "  dataSource: {type: "
                                                   "Upload}\n")),
             Catch::Contains("spec.dataSource: field is immutable"));
  std::string http = "  dataSource: {type: HTTP, http: {url: \"http://x/a.img\"}}\n";
  CHECK(AdmitUpdate(Disk("{size: 1Gi}", http), Disk("{size: 2Gi}", http)).ok());
}

TEST_CASE("Snapshot and operation specs are immutable", "[admission][update]") {
  std::string vds = absl::StrCat(kHeader, "kind: VirtualDiskSnapshot\nmetadata: {name: s1}\n");
  // Re-applying the same manifest is fine even though the stored copy carries defaults.
  CHECK(
      AdmitUpdate(vds + "spec: {virtualDiskName: d}\n", vds + "spec: {virtualDiskName: d}\n").ok());
  CHECK(AdmitUpdate(vds + "spec: {virtualDiskName: d}\n",
                    vds + "spec: {virtualDiskName: d, requiredConsistency: true}\n")
            .ok());
  CHECK(UpdateError(vds + "spec: {virtualDiskName: d}\n",
                    vds + "spec: {virtualDiskName: d, requiredConsistency: false}\n") ==
        "VirtualDiskSnapshot \"s1\": spec: field is immutable");
  // Labels may change on an immutable-spec object.
  CHECK(AdmitUpdate(vds + "spec: {virtualDiskName: d}\n",
                    absl::StrCat(kHeader,
                                 "kind: VirtualDiskSnapshot\nmetadata: {name: s1, "
                                 "labels: {a: b}}\nspec: {virtualDiskName: d}\n"))
            .ok());

  std::string vms = absl::StrCat(kHeader, "kind: VirtualMachineSnapshot\nmetadata: {name: s}\n");
  CHECK(AdmitUpdate(vms + "spec: {virtualMachineName: vm}\n",
                    vms + "spec: {virtualMachineName: vm, keepIPAddress: Always}\n")
            .ok());
  CHECK_THAT(UpdateError(vms + "spec: {virtualMachineName: vm}\n",
                         vms + "spec: {virtualMachineName: vm2}\n"),
             Catch::Contains("spec: field is immutable"));

  std::string vmop = absl::StrCat(kHeader,
                                  "kind: VirtualMachineOperation\nmetadata: {name: op}\n"
                                  "spec:\n  type: Clone\n  virtualMachineName: db\n");
  std::string plural =
      "  clone: {mode: Strict, nameReplacements: [{from: {name: db}, to: {name: "
      "db2}}]}\n";
  std::string singular =
      "  clone: {mode: Strict, nameReplacement: [{from: {name: db}, to: {name: "
      "db2}}]}\n";
  CHECK(AdmitUpdate(vmop + plural, vmop + singular).ok());
  CHECK_THAT(UpdateError(vmop + plural, vmop + "  clone: {mode: DryRun, nameReplacements: "
                                               "[{from: {name: db}, to: {name: db2}}]}\n"),
             Catch::Contains("spec: field is immutable"));

  std::string vmsop = absl::StrCat(kHeader,
                                   "kind: VirtualMachineSnapshotOperation\nmetadata: {name: op}\n"
                                   "spec:\n  type: CreateVirtualMachine\n");
  CHECK_THAT(UpdateError(vmsop + "  virtualMachineSnapshotName: a\n  createVirtualMachine: "
                                 "{mode: Strict, customization: {namePrefix: c-}}\n",
                         vmsop + "  virtualMachineSnapshotName: b\n  createVirtualMachine: "
                                 "{mode: Strict, customization: {namePrefix: c-}}\n"),
             Catch::Contains("spec: field is immutable"));
}

TEST_CASE("Mutable kinds accept spec changes; identity never changes", "[admission][update]") {
  std::string vm = absl::StrCat(kHeader,
                                "kind: VirtualMachine\nmetadata: {name: vm}\nspec:\n"
                                "  blockDeviceRefs: [{kind: VirtualDisk, name: d}]\n");
  CHECK(AdmitUpdate(vm, vm + "  runPolicy: AlwaysOff\n  usbDevices: [{name: webcam}]\n").ok());
  std::string other = absl::StrCat(kHeader,
                                   "kind: VirtualMachine\nmetadata: {name: vm2}\nspec:\n"
                                   "  blockDeviceRefs: [{kind: VirtualDisk, name: d}]\n");
  CHECK_THAT(UpdateError(vm, other), Catch::Contains("metadata.name: field is immutable"));
  std::string moved = absl::StrCat(kHeader,
                                   "kind: VirtualMachine\nmetadata: {name: vm, namespace: "
                                   "x}\nspec:\n  blockDeviceRefs: [{kind: VirtualDisk, "
                                   "name: d}]\n");
  CHECK_THAT(UpdateError(vm, moved), Catch::Contains("metadata.namespace: field is immutable"));
}

TEST_CASE("Updates compare against the stored object, status and server fields included",
          "[admission][update]") {
  std::string nusb = absl::StrCat(kHeader,
                                  "kind: NodeUSBDevice\nmetadata: {name: webcam}\n"
                                  "spec: {assignedNamespace: my-project}\n");
  Json stored = AdmitOk(nusb);
  stored["metadata"]["namespace"] = "";  // a store may keep cluster-scoped objects this way
  stored["metadata"]["uid"] = "0b6f2a4e-1111-4222-8333-944445555666";
  stored["status"] = {{"nodeName", "node-2"}};
  absl::StatusOr<Json> out = Admit(Yaml(nusb), &stored);
  INFO(out.status().ToString());
  CHECK(out.ok());

  std::string vds = absl::StrCat(kHeader,
                                 "kind: VirtualDiskSnapshot\nmetadata: {name: s1}\n"
                                 "spec: {virtualDiskName: d}\n");
  Json snap = AdmitOk(vds);
  snap["status"] = {{"phase", "Ready"}};
  CHECK(Admit(Yaml(vds), &snap).ok());
}

TEST_CASE("Secrets: type is immutable, data is frozen by immutable: true", "[admission][update]") {
  std::string s = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n";
  CHECK(AdmitUpdate(s + "data: {a: YQ==}\n", s + "data: {a: Yg==}\n").ok());
  CHECK_THAT(UpdateError(s + "data: {a: YQ==}\n", s + "type: Other\ndata: {a: YQ==}\n"),
             Catch::Contains("type: field is immutable"));
  CHECK_THAT(UpdateError(s + "immutable: true\ndata: {a: YQ==}\n",
                         s + "immutable: true\ndata: {a: Yg==}\n"),
             Catch::Contains("data: field is immutable when `immutable` is set"));
}

}  // namespace
}  // namespace berth::controller::testing
