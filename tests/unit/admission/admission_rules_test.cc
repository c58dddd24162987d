// Admission validation rules: names, kinds, types, required fields, enums and limits.
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "admission_test_util.h"

namespace berth::controller::testing {
namespace {

std::string Vds(const std::string& name) {
  return absl::StrCat(kHeader, "kind: VirtualDiskSnapshot\nmetadata: {name: \"", name,
                      "\"}\nspec: {virtualDiskName: linux-vm-root}\n");
}

std::string Vm(const std::string& name, const std::string& extra_spec = "") {
  return absl::StrCat(kHeader, "kind: VirtualMachine\nmetadata: {name: \"", name,
                      "\"}\nspec:\n  blockDeviceRefs: [{kind: VirtualDisk, name: linux-vm-root}]\n",
                      extra_spec);
}

TEST_CASE("Error messages name the kind, the object and the field", "[admission][rules]") {
  CHECK(AdmitError(absl::StrCat(kHeader, "kind: VirtualDiskSnapshot\nmetadata: {name: s1}\n")) ==
        "VirtualDiskSnapshot \"s1\": spec.virtualDiskName: Required value");
  CHECK(AdmitError(absl::StrCat(kHeader, R"(kind: VirtualMachineOperation
metadata: {name: op, namespace: my-project}
spec:
  type: Restore
  virtualMachineName: linux-vm
  restore: {mode: Fast, virtualMachineSnapshotName: linux-vm-snapshot}
)")) == "VirtualMachineOperation \"op\": spec.restore.mode: Unsupported value \"Fast\": "
        "supported values: \"DryRun\", \"Strict\", \"BestEffort\"");
}

TEST_CASE("References do not cross namespaces", "[admission][rules]") {
  CHECK(AdmitError(absl::StrCat(kHeader, R"(kind: VirtualDisk
metadata: {name: d, namespace: team-a}
spec:
  persistentVolumeClaim: {size: 1Gi}
  dataSource:
    type: ObjectRef
    objectRef: {kind: VirtualDiskSnapshot, name: s, namespace: team-b}
)"))
            .find("spec.dataSource.objectRef.namespace") != std::string::npos);
  std::string ev = AdmitError(
      "apiVersion: v1\nkind: Event\nmetadata: {name: e, namespace: team-a}\n"
      "involvedObject: {kind: VirtualDisk, name: d, namespace: team-b}\n");
  CHECK(ev.find("involvedObject.namespace: Forbidden: must be the Event's own namespace") !=
        std::string::npos);
  AdmitOk(
      "apiVersion: v1\nkind: Event\nmetadata: {name: e, namespace: team-a}\n"
      "involvedObject: {kind: VirtualDisk, name: d, namespace: team-a}\n");
}

TEST_CASE("Several problems are reported together", "[admission][rules]") {
  std::string msg = AdmitError(absl::StrCat(kHeader, R"(kind: VirtualMachineSnapshot
metadata: {name: snap}
spec: {keepIPAddress: Sometimes, requiredConsistency: 1}
)"));
  CHECK_THAT(msg, Catch::Contains("spec.virtualMachineName: Required value"));
  CHECK_THAT(msg, Catch::Contains("spec.requiredConsistency: Invalid type: expected boolean, got "
                                  "integer"));
  CHECK_THAT(msg, Catch::Contains("spec.keepIPAddress: Unsupported value \"Sometimes\""));
}

TEST_CASE("Names follow DNS-1123: subdomains in general, labels for VM, disk, IP and MAC",
          "[admission][rules]") {
  AdmitOk(Vds("linux-vm-root.daily"));
  AdmitOk(Vds(std::string(253, 'a')));
  CHECK_THAT(AdmitError(Vds(std::string(254, 'a'))),
             Catch::Contains("must be no more than 253 characters"));
  for (const char* bad : {"Upper", "under_score", "-dash", "dash-", "a..b", "sp ace", ""}) {
    INFO(bad);
    CHECK_THAT(AdmitError(Vds(bad)), Catch::Contains("metadata.name: "));
  }
  AdmitOk(Vm(std::string(63, 'v')));
  CHECK_THAT(AdmitError(Vm(std::string(64, 'v'))),
             Catch::Contains("must be no more than 63 characters"));
  CHECK_THAT(AdmitError(Vm("linux.vm")), Catch::Contains("a lowercase RFC 1123 label"));
  CHECK_THAT(AdmitError(absl::StrCat(kHeader,
                                     "kind: VirtualDisk\nmetadata: {name: a.b}\n"
                                     "spec: {persistentVolumeClaim: {size: 1Gi}}\n")),
             Catch::Contains("a lowercase RFC 1123 label"));
  CHECK(AdmitError(absl::StrCat(kHeader,
                                "kind: VirtualDiskSnapshot\nspec: {virtualDiskName: "
                                "d}\n")) ==
        "VirtualDiskSnapshot \"\": metadata.name: Required value");
}

TEST_CASE("Kind and apiVersion must be exact", "[admission][rules]") {
  CHECK_THAT(AdmitError(absl::StrCat(kHeader, "kind: Foo\nmetadata: {name: x}\n")),
             Catch::StartsWith("unknown kind \"Foo\""));
  CHECK_THAT(AdmitError(absl::StrCat(kHeader, "kind: vds\nmetadata: {name: x}\n")),
             Catch::Contains("did you mean \"VirtualDiskSnapshot\"?"));
  CHECK(AdmitError("metadata: {name: x}\n") == "kind: Required value");
  CHECK_THAT(AdmitError("kind: VirtualDiskSnapshot\nmetadata: {name: s1}\n"
                        "spec: {virtualDiskName: d}\n"),
             Catch::Contains("apiVersion: Required value"));
  CHECK_THAT(AdmitError("apiVersion: v1\nkind: Node\nmetadata: {name: node-1}\n"),
             Catch::Contains("apiVersion: Unsupported value \"v1\""));
  AdmitOk(absl::StrCat(kHeader,
                       "kind: Node\nmetadata: {name: node-1, labels: {zone: a}}\n"
                       "spec: {address: 10.0.0.1}\n"));
}

TEST_CASE("Scope: cluster-scoped kinds take no namespace", "[admission][rules]") {
  for (const char* kind : {"NodeUSBDevice", "Node", "VirtualMachineClass", "ClusterVirtualImage"}) {
    INFO(kind);
    CHECK_THAT(AdmitError(absl::StrCat(kHeader, "kind: ", kind,
                                       "\nmetadata: {name: x, namespace: my-project}\n")),
               Catch::Contains("metadata.namespace: Forbidden"));
  }
}

TEST_CASE("Metadata: labels, annotations and unknown fields", "[admission][rules]") {
  AdmitOk(absl::StrCat(kHeader, R"(kind: VirtualDiskSnapshot
metadata:
  name: s1
  labels: {app.kubernetes.io/name: db, tier: ""}
  annotations: {example.com/note: "any text, even long ones"}
  uid: 1c0c4a6e
  resourceVersion: "42"
  generation: 3
  finalizers: [berth.io/cleanup]
spec: {virtualDiskName: linux-vm-root}
)"));
  CHECK_THAT(AdmitError(absl::StrCat(kHeader,
                                     "kind: VirtualDiskSnapshot\nmetadata: {name: s1, "
                                     "labels: {\"bad key!\": x}}\nspec: "
                                     "{virtualDiskName: d}\n")),
             Catch::Contains("metadata.labels: Invalid value \"bad key!\""));
  CHECK_THAT(AdmitError(absl::StrCat(kHeader,
                                     "kind: VirtualDiskSnapshot\nmetadata: {name: s1, "
                                     "labels: {a: 5}}\nspec: {virtualDiskName: d}\n")),
             Catch::Contains("metadata.labels.a: Invalid type: expected string, got integer"));
  CHECK_THAT(AdmitError(absl::StrCat(kHeader,
                                     "kind: VirtualDiskSnapshot\nmetadata: {name: s1, "
                                     "nmae: x}\nspec: {virtualDiskName: d}\n")),
             Catch::Contains("metadata.nmae: unknown field"));
}

TEST_CASE("Unknown fields are rejected at every level", "[admission][rules]") {
  CHECK_THAT(AdmitError(Vm("linux-vm", "  cpu: {cores: 1, sockets: 2}\n")),
             Catch::Contains("spec.cpu.sockets: unknown field (supported fields: cores, "
                             "coreFraction"));
  CHECK_THAT(AdmitError(Vm("linux-vm", "  runPolcy: AlwaysOn\n")),
             Catch::Contains("spec.runPolcy: unknown field"));
  CHECK_THAT(AdmitError(absl::StrCat(kHeader,
                                     "kind: VirtualDiskSnapshot\nmetadata: {name: s1}\n"
                                     "spec: {virtualDiskName: d, consistent: true}\n")),
             Catch::Contains("spec.consistent: unknown field"));
}

TEST_CASE("VirtualMachine fields", "[admission][rules]") {
  AdmitOk(Vm("linux-vm", R"(  virtualMachineClassName: generic
  cpu: {cores: 2, coreFraction: 100%}
  memory: {size: 2Gi}
  virtualMachineIPAddressName: linux-vm-ip
  networks: [{type: Main}]
  nodeSelector: {kubernetes.io/hostname: node-1}
  tolerations: [{key: a, operator: Exists}]
  terminationGracePeriodSeconds: 60
  enableParavirtualization: true
  provisioning: {type: UserData, userData: "#cloud-config"}
)"));
  CHECK_THAT(
      AdmitError(Vm("linux-vm", "  cpu: {cores: 0}\n")),
      Catch::Contains("spec.cpu.cores: Invalid value 0: must be greater than or equal to 1"));
  CHECK_THAT(AdmitError(Vm("linux-vm", "  cpu: {cores: 1.5}\n")),
             Catch::Contains("spec.cpu.cores: Invalid type: expected integer, got number"));
  for (const char* bad : {"0%", "101%", "10", "ten%", "05%"}) {
    INFO(bad);
    CHECK_THAT(AdmitError(Vm("linux-vm",
                             absl::StrCat("  cpu: {cores: 1, coreFraction: \"", bad, "\"}\n"))),
               Catch::Contains("spec.cpu.coreFraction: Invalid value"));
  }
  CHECK_THAT(AdmitError(Vm("linux-vm", "  memory: {size: 0}\n")),
             Catch::Contains("spec.memory.size: Invalid value \"0\": must be greater than zero"));
  CHECK_THAT(AdmitError(Vm("linux-vm", "  provisioning: {type: UserDataRef, userData: x}\n")),
             Catch::Contains("spec.provisioning.userDataRef: Required value"));
  CHECK_THAT(AdmitError(Vm("linux-vm", "  provisioning: {type: UserDataRef, userData: x}\n")),
             Catch::Contains("spec.provisioning.userData: Forbidden"));
  CHECK_THAT(AdmitError(absl::StrCat(kHeader,
                                     "kind: VirtualMachine\nmetadata: {name: vm}\n"
                                     "spec: {blockDeviceRefs: []}\n")),
             Catch::Contains("spec.blockDeviceRefs: Required value"));
  CHECK_THAT(AdmitError(absl::StrCat(kHeader,
                                     "kind: VirtualMachine\nmetadata: {name: vm}\n"
                                     "spec: {blockDeviceRefs: [{kind: VirtualDisk}]}\n")),
             Catch::Contains("spec.blockDeviceRefs[0].name: Required value"));
}

std::string UsbDevices(int n, bool duplicate) {
  std::string out = "  usbDevices:\n";
  for (int i = 0; i < n; ++i) {
    absl::StrAppend(&out, "    - name: usb-", duplicate ? 0 : i, "\n");
  }
  return out;
}

TEST_CASE("usbDevices: at most 8, names unique", "[admission][rules]") {
  AdmitOk(Vm("linux-vm", UsbDevices(8, false)));
  CHECK_THAT(AdmitError(Vm("linux-vm", UsbDevices(9, false))),
             Catch::Contains("spec.usbDevices: Too many: 9: must have at most 8 items"));
  CHECK_THAT(AdmitError(Vm("linux-vm", UsbDevices(2, true))),
             Catch::Contains("spec.usbDevices[1].name: Duplicate value: \"usb-0\""));
  CHECK_THAT(AdmitError(Vm("linux-vm", "  usbDevices: [{}]\n")),
             Catch::Contains("spec.usbDevices[0].name: Required value"));
}

std::string Clone(const std::string& clone_body) {
  return absl::StrCat(kHeader, R"(kind: VirtualMachineOperation
metadata: {name: clone-database}
spec:
  type: Clone
  virtualMachineName: database
  clone:
    mode: Strict
)",
                      clone_body);
}

TEST_CASE("Clone needs new names of 1-59 characters", "[admission][rules]") {
  AdmitOk(Clone("    customization: {namePrefix: clone-}\n"));
  AdmitOk(Clone("    customization: {nameSuffix: -prod}\n"));
  AdmitOk(Clone("    nameReplacements: [{from: {name: database}, to: {name: db2}}]\n"));
  AdmitOk(Clone(absl::StrCat("    customization: {namePrefix: ", std::string(59, 'p'), "}\n")));
  CHECK_THAT(AdmitError(Clone("    customization: {}\n")),
             Catch::Contains("spec.clone: Required value"));
  CHECK_THAT(AdmitError(Clone("    nameReplacements: []\n")),
             Catch::Contains("spec.clone: Required value"));
  CHECK_THAT(
      AdmitError(
          Clone(absl::StrCat("    customization: {nameSuffix: ", std::string(60, 's'), "}\n"))),
      Catch::Contains("spec.clone.customization.nameSuffix: Too long: must have at most 59"));
  CHECK_THAT(AdmitError(Clone("    customization: {namePrefix: \"\"}\n")),
             Catch::Contains("spec.clone.customization.namePrefix: Invalid value \"\": must have "
                             "at least 1 character"));
  CHECK_THAT(AdmitError(Clone("    customization: {namePrefix: Clone-}\n")),
             Catch::Contains("spec.clone.customization.namePrefix: Invalid value \"Clone-\""));
  CHECK_THAT(AdmitError(Clone("    nameReplacements: [{from: {name: database}}]\n")),
             Catch::Contains("spec.clone.nameReplacements[0].to: Required value"));
  CHECK_THAT(AdmitError(Clone("    nameReplacements: [{from: {name: a}, to: {name: \"\"}}]\n")),
             Catch::Contains("spec.clone.nameReplacements[0].to.name: Required value"));
  CHECK_THAT(AdmitError(Clone("    nameReplacements: [{to: {name: b}}]\n")),
             Catch::Contains("spec.clone.nameReplacements[0].from: Required value"));
}

TEST_CASE("Operation blocks are required iff the type asks for them", "[admission][rules]") {
  std::string base = absl::StrCat(kHeader, R"(kind: VirtualMachineOperation
metadata: {name: op}
spec:
  virtualMachineName: linux-vm
)");
  AdmitOk(base + "  type: Start\n  force: true\n");
  CHECK_THAT(AdmitError(base + "  type: Clone\n"), Catch::Contains("spec.clone: Required value"));
  CHECK_THAT(AdmitError(base + "  type: Stop\n  clone: {mode: Strict}\n"),
             Catch::Contains("spec.clone: Forbidden: may only be set when type is \"Clone\""));
  CHECK_THAT(AdmitError(base + "  type: Restore\n  restore: {mode: Strict}\n"),
             Catch::Contains("spec.restore.virtualMachineSnapshotName: Required value"));
  CHECK_THAT(AdmitError(base + "  type: Stop\n  force: \"true\"\n"),
             Catch::Contains("spec.force: Invalid type: expected boolean, got string"));
  CHECK_THAT(AdmitError(absl::StrCat(kHeader,
                                     "kind: VirtualMachineSnapshotOperation\n"
                                     "metadata: {name: op}\nspec: {type: "
                                     "CreateVirtualMachine, virtualMachineSnapshotName: "
                                     "s}\n")),
             Catch::Contains("spec.createVirtualMachine: Required value"));
}

TEST_CASE("Disks and images: sizes and data sources", "[admission][rules]") {
  std::string vd = absl::StrCat(kHeader, "kind: VirtualDisk\nmetadata: {name: d}\nspec:\n");
  AdmitOk(vd + "  persistentVolumeClaim: {size: 10737418240}\n");
  AdmitOk(vd + "  dataSource: {type: HTTP, http: {url: \"https://example.com/a.qcow2\"}}\n");
  AdmitOk(vd + "  dataSource: {type: ContainerImage, containerImage: {image: reg/img:1}}\n");
  AdmitOk(vd + "  dataSource: {type: Upload}\n");
  CHECK_THAT(AdmitError(vd + "  dataSource: {type: HTTP}\n"),
             Catch::Contains("spec.dataSource.http: Required value"));
  CHECK_THAT(AdmitError(vd + "  dataSource: {type: HTTP, http: {url: ftp://x}}\n"),
             Catch::Contains("spec.dataSource.http.url: Invalid value \"ftp://x\""));
  CHECK_THAT(AdmitError(vd + "  dataSource: {type: ContainerImage, containerImage: {}}\n"),
             Catch::Contains("spec.dataSource.containerImage.image: Required value"));
  CHECK_THAT(AdmitError(vd + "  dataSource: {type: ObjectRef, objectRef: {kind: VirtualImage}}\n"),
             Catch::Contains("spec.dataSource.objectRef.name: Required value"));
  CHECK_THAT(AdmitError(vd + "  persistentVolumeClaim: {size: -1Gi}\n"),
             Catch::Contains("spec.persistentVolumeClaim.size: Invalid value \"-1Gi\""));
  CHECK_THAT(AdmitError(vd + "  persistentVolumeClaim: {size: true}\n"),
             Catch::Contains("spec.persistentVolumeClaim.size: Invalid type"));

  std::string cvi = absl::StrCat(kHeader, "kind: ClusterVirtualImage\nmetadata: {name: ubuntu}\n");
  AdmitOk(cvi +
          "spec: {dataSource: {type: ObjectRef, objectRef: {kind: VirtualDisk, name: d, "
          "namespace: my-project}}}\n");
  AdmitOk(cvi +
          "spec: {dataSource: {type: ObjectRef, objectRef: {kind: ClusterVirtualImage, "
          "name: base}}}\n");
  CHECK_THAT(AdmitError(cvi + "spec: {dataSource: {type: ObjectRef, objectRef: {kind: "
                              "VirtualImage, name: vi}}}\n"),
             Catch::Contains("spec.dataSource.objectRef.namespace: Required value"));
  CHECK_THAT(AdmitError(cvi + "spec: {}\n"), Catch::Contains("spec.dataSource: Required value"));
  std::string vi = absl::StrCat(kHeader, "kind: VirtualImage\nmetadata: {name: ubuntu}\n");
  CHECK_THAT(AdmitError(vi + "spec: {dataSource: {type: ObjectRef, objectRef: {kind: "
                             "VirtualImage, name: vi, namespace: x}}}\n"),
             Catch::Contains("spec.dataSource.objectRef.namespace: unknown field"));
}

TEST_CASE("Addresses, USB, secrets, classes", "[admission][rules]") {
  std::string ip = absl::StrCat(kHeader, "kind: VirtualMachineIPAddress\nmetadata: {name: ip}\n");
  AdmitOk(ip + "spec: {type: Static, staticIP: 10.66.10.1}\n");
  for (const char* bad : {"10.66.10", "10.66.10.1.2", "010.1.1.1", "a.b.c.d", "::1"}) {
    INFO(bad);
    CHECK_THAT(AdmitError(ip + "spec: {type: Static, staticIP: \"" + bad + "\"}\n"),
               Catch::Contains("must be a valid IPv4 address"));
  }
  CHECK_THAT(AdmitError(ip + "spec: {type: Auto, staticIP: 10.0.0.1}\n"),
             Catch::Contains("spec.staticIP: Forbidden"));
  std::string mac = absl::StrCat(kHeader, "kind: VirtualMachineMACAddress\nmetadata: {name: m}\n");
  AdmitOk(mac);
  AdmitOk(mac + "spec: {address: \"02:5E:10:00:00:01\"}\n");
  CHECK_THAT(AdmitError(mac + "spec: {address: \"02-5e-10-00-00-01\"}\n"),
             Catch::Contains("must be a MAC address"));

  std::string nusb = absl::StrCat(kHeader, "kind: NodeUSBDevice\nmetadata: {name: webcam}\n");
  AdmitOk(nusb + "spec: {assignedNamespace: \"\"}\n");
  CHECK_THAT(AdmitError(nusb + "spec: {assignedNamespace: My_NS}\n"),
             Catch::Contains("spec.assignedNamespace: Invalid value \"My_NS\""));
  AdmitOk(absl::StrCat(kHeader, "kind: USBDevice\nmetadata: {name: webcam}\nspec: {}\n"));

  std::string secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n";
  AdmitOk(secret +
          "type: provisioning.virtualization.deckhouse.io/cloud-init\n"
          "data: {userData: I2Nsb3VkLWNvbmZpZw==}\n");
  CHECK_THAT(AdmitError(secret + "data: {userData: \"YQ=\"}\n"),
             Catch::Contains("data.userData: Invalid value: must be base64-encoded"));
  CHECK_THAT(AdmitError(secret + "stringData: {\"bad/key\": x}\n"),
             Catch::Contains("stringData: Invalid value \"bad/key\""));
  CHECK_THAT(AdmitError(secret + "spec: {}\n"), Catch::Contains("spec: unknown field"));

  std::string vmclass = absl::StrCat(kHeader, "kind: VirtualMachineClass\nmetadata: {name: c}\n");
  AdmitOk(vmclass + "spec: {cpu: {type: Host}, sizingPolicies: [{cores: {min: 1, max: 4}}]}\n");
  CHECK_THAT(AdmitError(vmclass + "spec: {cpu: {type: Model}}\n"),
             Catch::Contains("spec.cpu.model: Required value"));
  CHECK_THAT(AdmitError(vmclass + "spec: {}\n"), Catch::Contains("spec.cpu: Required value"));
}

// One enum: a manifest with `{}` where the value goes, the field path, and the allowed values.
struct EnumCase {
  std::string path;
  std::vector<std::string> values;
  std::function<std::string(const std::string&)> manifest;
};

std::string Fill(const std::string& text, const std::string& value) {
  return absl::StrReplaceAll(text, {{"{}", value}});
}

std::vector<EnumCase> EnumCases() {
  auto simple = [](std::string tmpl) {
    return [tmpl](const std::string& v) { return Fill(tmpl, v); };
  };
  std::string vmop = absl::StrCat(kHeader,
                                  "kind: VirtualMachineOperation\nmetadata: {name: op}\n"
                                  "spec:\n  virtualMachineName: linux-vm\n");
  std::string vm = Vm("linux-vm");
  std::string vd = absl::StrCat(kHeader, "kind: VirtualDisk\nmetadata: {name: d}\nspec:\n");
  return {
      {"spec.type",
       {"Start", "Stop", "Restart", "Migrate", "Evict", "Restore", "Clone"},
       [vmop](const std::string& v) {
         std::string extra;
         if (v == "Restore") extra = "  restore: {mode: Strict, virtualMachineSnapshotName: s}\n";
         if (v == "Clone") extra = "  clone: {mode: Strict, customization: {namePrefix: c-}}\n";
         return absl::StrCat(vmop, "  type: ", v, "\n", extra);
       }},
      {"spec.restore.mode",
       {"DryRun", "Strict", "BestEffort"},
       simple(vmop + "  type: Restore\n  restore: {mode: {}, virtualMachineSnapshotName: s}\n")},
      {"spec.clone.mode",
       {"DryRun", "Strict", "BestEffort"},
       simple(vmop + "  type: Clone\n  clone: {mode: {}, customization: {nameSuffix: -c}}\n")},
      {"spec.createVirtualMachine.mode",
       {"DryRun", "Strict", "BestEffort"},
       simple(absl::StrCat(kHeader,
                           "kind: VirtualMachineSnapshotOperation\nmetadata: {name: o}\n"
                           "spec:\n  type: CreateVirtualMachine\n"
                           "  virtualMachineSnapshotName: s\n  createVirtualMachine: "
                           "{mode: {}, customization: {namePrefix: c-}}\n"))},
      {"spec.type",
       {"CreateVirtualMachine"},
       simple(absl::StrCat(kHeader,
                           "kind: VirtualMachineSnapshotOperation\nmetadata: {name: o}\n"
                           "spec:\n  type: {}\n  virtualMachineSnapshotName: s\n"
                           "  createVirtualMachine: {mode: Strict, customization: "
                           "{namePrefix: c-}}\n"))},
      {"spec.clone.nameReplacements[0].from.kind",
       {"VirtualMachine", "VirtualDisk", "VirtualMachineIPAddress", "VirtualMachineMACAddress",
        "Secret"},
       simple(vmop + "  type: Clone\n  clone: {mode: Strict, nameReplacements: [{from: {kind: {}, "
                     "name: a}, to: {name: b}}]}\n")},
      {"spec.keepIPAddress",
       {"Always", "Never"},
       simple(absl::StrCat(kHeader,
                           "kind: VirtualMachineSnapshot\nmetadata: {name: s}\n"
                           "spec: {virtualMachineName: vm, keepIPAddress: {}}\n"))},
      {"spec.runPolicy",
       {"AlwaysOn", "AlwaysOff", "Manual", "AlwaysOnUnlessStoppedManually"},
       simple(vm + "  runPolicy: {}\n")},
      {"spec.osType", {"Generic", "Windows"}, simple(vm + "  osType: {}\n")},
      {"spec.bootloader", {"BIOS", "EFI", "EFIWithSecureBoot"}, simple(vm + "  bootloader: {}\n")},
      {"spec.liveMigrationPolicy",
       {"AlwaysSafe", "PreferSafe", "AlwaysForced", "PreferForced"},
       simple(vm + "  liveMigrationPolicy: {}\n")},
      {"spec.disruptions.restartApprovalMode",
       {"Manual", "Automatic"},
       simple(vm + "  disruptions: {restartApprovalMode: {}}\n")},
      {"spec.blockDeviceRefs[0].kind",
       {"VirtualDisk", "VirtualImage", "ClusterVirtualImage"},
       simple(absl::StrCat(kHeader,
                           "kind: VirtualMachine\nmetadata: {name: vm}\n"
                           "spec: {blockDeviceRefs: [{kind: {}, name: x}]}\n"))},
      {"spec.provisioning.type",
       {"UserData", "UserDataRef", "SysprepRef"},
       [vm](const std::string& v) {
         std::string block = "userData: x";
         if (v == "UserDataRef") block = "userDataRef: {kind: Secret, name: ci}";
         if (v == "SysprepRef") block = "sysprepRef: {kind: Secret, name: sp}";
         return absl::StrCat(vm, "  provisioning: {type: ", v, ", ", block, "}\n");
       }},
      {"spec.provisioning.userDataRef.kind",
       {"Secret"},
       simple(vm + "  provisioning: {type: UserDataRef, userDataRef: {kind: {}, name: ci}}\n")},
      {"spec.dataSource.type",
       {"HTTP", "ContainerImage", "ObjectRef", "Upload"},
       [vd](const std::string& v) {
         std::string block;
         if (v == "HTTP") block = ", http: {url: \"http://x/a.img\"}";
         if (v == "ContainerImage") block = ", containerImage: {image: r/i}";
         if (v == "ObjectRef") block = ", objectRef: {kind: VirtualImage, name: i}";
         return absl::StrCat(vd, "  dataSource: {type: ", v, block, "}\n");
       }},
      {"spec.dataSource.objectRef.kind",
       {"VirtualDiskSnapshot", "VirtualImage", "ClusterVirtualImage"},
       simple(vd + "  dataSource: {type: ObjectRef, objectRef: {kind: {}, name: x}}\n")},
      {"spec.storage",
       {"ContainerRegistry", "PersistentVolumeClaim", "Kubernetes"},
       simple(absl::StrCat(kHeader,
                           "kind: VirtualImage\nmetadata: {name: i}\nspec: {storage: {}, "
                           "dataSource: {type: Upload}}\n"))},
      {"spec.cpu.type",
       {"Host", "HostPassthrough", "Discovery", "Model", "Features"},
       simple(absl::StrCat(kHeader,
                           "kind: VirtualMachineClass\nmetadata: {name: c}\n"
                           "spec: {cpu: {type: {}, model: m, features: [f]}}\n"))},
      {"spec.type",
       {"Auto", "Static"},
       [](const std::string& v) {
         return absl::StrCat(kHeader, "kind: VirtualMachineIPAddress\nmetadata: {name: ip}\n",
                             "spec: {type: ", v, v == "Static" ? ", staticIP: 10.0.0.9" : "",
                             "}\n");
       }},
  };
}

TEST_CASE("Every enum accepts each of its values and rejects others", "[admission][rules]") {
  for (const EnumCase& c : EnumCases()) {
    for (const std::string& v : c.values) {
      INFO(c.path << " = " << v);
      AdmitOk(c.manifest(v));
    }
    std::vector<std::string> quoted;
    for (const std::string& v : c.values) quoted.push_back("\"" + v + "\"");
    std::string want = absl::StrCat(
        c.path, ": Unsupported value \"Bogus\": supported values: ", absl::StrJoin(quoted, ", "));
    INFO(c.path);
    CHECK_THAT(AdmitError(c.manifest("Bogus")), Catch::Contains(want));
  }
}

}  // namespace
}  // namespace berth::controller::testing
