#include "controllers/common/vm_common.h"

#include "absl/strings/str_cat.h"

namespace berth::controller {

std::string DomainName(const Json& vm) {
  // The uid keeps domains apart across clusters sharing one libvirtd (tests, developers)
  // and keeps a re-created VM of the same name from meeting a leftover domain.
  return absl::StrCat("berth-", JsonString(vm, "/metadata/namespace"), "-",
                      JsonString(vm, "/metadata/name"), "-",
                      JsonString(vm, "/metadata/uid").substr(0, 8));
}

std::vector<std::string> VmDiskNames(const Json& vm) {
  std::vector<std::string> out;
  for (const Json& ref : JsonAt(vm, "/spec/blockDeviceRefs")) {
    if (ref.is_object() && ref.value("kind", "") == "VirtualDisk") {
      out.push_back(ref.value("name", ""));
    }
  }
  return out;
}

bool VmUsesDisk(const Json& vm, const std::string& disk) {
  for (const std::string& d : VmDiskNames(vm)) {
    if (d == disk) return true;
  }
  return false;
}

bool VmActive(const std::string& phase) {
  return phase == "Running" || phase == "Starting" || phase == "Stopping" || phase == "Migrating" ||
         phase == "Pause" || phase == "Pausing";
}

absl::StatusOr<std::vector<Json>> VmsUsingDisk(ObjectStore& store, const std::string& ns,
                                               const std::string& disk) {
  auto vms = store.List("VirtualMachine", ns);
  if (!vms.ok()) return vms.status();
  std::vector<Json> out;
  for (Json& vm : *vms) {
    if (VmUsesDisk(vm, disk)) out.push_back(std::move(vm));
  }
  return out;
}

}  // namespace berth::controller
