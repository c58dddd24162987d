// Admission defaulting and normalisation: what Admit adds or rewrites in an accepted object.
#include "admission_test_util.h"

namespace berth::controller::testing {
namespace {

TEST_CASE("VirtualDiskSnapshot defaults requiredConsistency to true", "[admission][defaults]") {
  Json out = AdmitOk(std::string(kHeader) + R"(kind: VirtualDiskSnapshot
metadata: {name: s1}
spec: {virtualDiskName: linux-vm-root}
)");
  CHECK(out["spec"]["requiredConsistency"] == true);
}

TEST_CASE("An explicit requiredConsistency is kept", "[admission][defaults]") {
  Json out = AdmitOk(std::string(kHeader) + R"(kind: VirtualDiskSnapshot
metadata: {name: s1}
spec: {virtualDiskName: linux-vm-root, requiredConsistency: false}
)");
  CHECK(out["spec"]["requiredConsistency"] == false);
}

TEST_CASE("VirtualMachineSnapshot defaults consistency and keepIPAddress",
          "[admission][defaults]") {
  Json out = AdmitOk(std::string(kHeader) + R"(kind: VirtualMachineSnapshot
metadata: {name: linux-vm-snapshot}
spec: {virtualMachineName: linux-vm}
)");
  CHECK(out["spec"]["requiredConsistency"] == true);
  CHECK(out["spec"]["keepIPAddress"] == "Always");

  Json never = AdmitOk(std::string(kHeader) + R"(kind: VirtualMachineSnapshot
metadata: {name: linux-vm-snapshot}
spec: {virtualMachineName: linux-vm, keepIPAddress: Never, requiredConsistency: false}
)");
  CHECK(never["spec"]["keepIPAddress"] == "Never");
  CHECK(never["spec"]["requiredConsistency"] == false);
}

TEST_CASE("VirtualMachine defaults runPolicy", "[admission][defaults]") {
  Json out = AdmitOk(std::string(kHeader) + R"(kind: VirtualMachine
metadata: {name: linux-vm}
spec:
  blockDeviceRefs: [{kind: VirtualDisk, name: linux-vm-root}]
)");
  CHECK(out["spec"]["runPolicy"] == "AlwaysOnUnlessStoppedManually");

  Json off = AdmitOk(std::string(kHeader) + R"(kind: VirtualMachine
metadata: {name: linux-vm}
spec:
  runPolicy: AlwaysOff
  blockDeviceRefs: [{kind: VirtualDisk, name: linux-vm-root}]
)");
  CHECK(off["spec"]["runPolicy"] == "AlwaysOff");
}

TEST_CASE("Namespaced kinds default the namespace; cluster-scoped kinds have none",
          "[admission][defaults]") {
  Json vds = AdmitOk(std::string(kHeader) + R"(kind: VirtualDiskSnapshot
metadata: {name: s1}
spec: {virtualDiskName: linux-vm-root}
)");
  CHECK(vds["metadata"]["namespace"] == "default");

  Json empty = AdmitOk(std::string(kHeader) + R"(kind: VirtualDiskSnapshot
metadata: {name: s1, namespace: ""}
spec: {virtualDiskName: linux-vm-root}
)");
  CHECK(empty["metadata"]["namespace"] == "default");

  Json kept = AdmitOk(std::string(kHeader) + R"(kind: VirtualDiskSnapshot
metadata: {name: s1, namespace: my-project}
spec: {virtualDiskName: linux-vm-root}
)");
  CHECK(kept["metadata"]["namespace"] == "my-project");

  Json nusb = AdmitOk(std::string(kHeader) + R"(kind: NodeUSBDevice
metadata: {name: logitech-webcam, namespace: ""}
spec: {assignedNamespace: my-project}
)");
  CHECK_FALSE(nusb["metadata"].contains("namespace"));

  Json secret = AdmitOk(R"(apiVersion: v1
kind: Secret
metadata: {name: cloud-init}
)");
  CHECK(secret["metadata"]["namespace"] == "default");
}

TEST_CASE("Singular nameReplacement is normalised to nameReplacements", "[admission][defaults]") {
  Json vmop = AdmitOk(std::string(kHeader) + R"(kind: VirtualMachineOperation
metadata: {name: clone-database}
spec:
  type: Clone
  virtualMachineName: database
  clone:
    mode: Strict
    nameReplacement:
      - from: {kind: VirtualMachine, name: database}
        to: {name: database-clone}
)");
  const Json& clone = vmop["spec"]["clone"];
  CHECK_FALSE(clone.contains("nameReplacement"));
  REQUIRE(clone["nameReplacements"].size() == 1);
  CHECK(clone["nameReplacements"][0]["to"]["name"] == "database-clone");

  Json vmsop = AdmitOk(std::string(kHeader) + R"(kind: VirtualMachineSnapshotOperation
metadata: {name: clone-database-from-snapshot}
spec:
  type: CreateVirtualMachine
  virtualMachineSnapshotName: database-snapshot
  createVirtualMachine:
    mode: DryRun
    nameReplacement:
      - from: {name: database-root}
        to: {name: database-clone-root}
)");
  const Json& create = vmsop["spec"]["createVirtualMachine"];
  CHECK_FALSE(create.contains("nameReplacement"));
  CHECK(create["nameReplacements"][0]["from"]["name"] == "database-root");
}

TEST_CASE("Both replacement spellings are accepted when they agree", "[admission][defaults]") {
  Json out = AdmitOk(std::string(kHeader) + R"(kind: VirtualMachineOperation
metadata: {name: clone-database}
spec:
  type: Clone
  virtualMachineName: database
  clone:
    mode: Strict
    nameReplacement: [{from: {name: database}, to: {name: database-clone}}]
    nameReplacements: [{from: {name: database}, to: {name: database-clone}}]
)");
  CHECK(out["spec"]["clone"]["nameReplacements"].size() == 1);
  CHECK_FALSE(out["spec"]["clone"].contains("nameReplacement"));
}

TEST_CASE("Incoming status is dropped and nulls are pruned", "[admission][defaults]") {
  Json out = AdmitOk(std::string(kHeader) + R"(kind: VirtualDiskSnapshot
metadata: {name: s1, labels: null}
spec: {virtualDiskName: linux-vm-root, requiredConsistency: null}
status: {phase: Ready, consistent: true}
)");
  CHECK_FALSE(out.contains("status"));
  CHECK_FALSE(out["metadata"].contains("labels"));
  CHECK(out["spec"]["requiredConsistency"] == true);
}

TEST_CASE("Other defaults: IP address type, secret type and stringData, secret ref kind",
          "[admission][defaults]") {
  Json ip = AdmitOk(std::string(kHeader) + R"(kind: VirtualMachineIPAddress
metadata: {name: linux-vm}
)");
  CHECK(ip["spec"]["type"] == "Auto");

  Json secret = AdmitOk(R"(apiVersion: v1
kind: Secret
metadata: {name: cloud-init}
data: {a: YQ==}
stringData: {userData: "hello"}
)");
  CHECK(secret["type"] == "Opaque");
  CHECK_FALSE(secret.contains("stringData"));
  CHECK(secret["data"]["userData"] == "aGVsbG8=");
  CHECK(secret["data"]["a"] == "YQ==");

  Json vm = AdmitOk(std::string(kHeader) + R"(kind: VirtualMachine
metadata: {name: linux-vm}
spec:
  blockDeviceRefs: [{kind: VirtualDisk, name: linux-vm-root}]
  provisioning: {type: UserDataRef, userDataRef: {name: cloud-init}}
)");
  CHECK(vm["spec"]["provisioning"]["userDataRef"]["kind"] == "Secret");
}

TEST_CASE("Admit does not change an already admitted object", "[admission][defaults]") {
  Json first = AdmitOk(std::string(kHeader) + R"(kind: VirtualMachineOperation
metadata: {name: clone-database}
spec:
  type: Clone
  virtualMachineName: database
  clone: {mode: Strict, customization: {namePrefix: clone-, nameSuffix: -prod}}
)");
  absl::StatusOr<Json> second = Admit(first, nullptr);
  REQUIRE(second.ok());
  CHECK(*second == first);
}

}  // namespace
}  // namespace berth::controller::testing
