#include "berth/kinds.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace berth {

const std::vector<KindInfo>& AllKinds() {
  static const auto* kinds = new std::vector<KindInfo>{
      {"VirtualDisk", "virtualdisks", "virtualdisk", {"vd"}, true, kApiVersion},
      {"VirtualDiskSnapshot",
       "virtualdisksnapshots",
       "virtualdisksnapshot",
       {"vdsnapshot", "vds"},
       true,
       kApiVersion},
      {"VirtualMachine", "virtualmachines", "virtualmachine", {"vm"}, true, kApiVersion},
      {"VirtualMachineSnapshot",
       "virtualmachinesnapshots",
       "virtualmachinesnapshot",
       {"vmsnapshot"},
       true,
       kApiVersion},
      {"VirtualMachineOperation",
       "virtualmachineoperations",
       "virtualmachineoperation",
       {"vmop"},
       true,
       kApiVersion},
      {"VirtualMachineSnapshotOperation",
       "virtualmachinesnapshotoperations",
       "virtualmachinesnapshotoperation",
       {"vmsop"},
       true,
       kApiVersion},
      {"VirtualImage", "virtualimages", "virtualimage", {"vi"}, true, kApiVersion},
      {"ClusterVirtualImage",
       "clustervirtualimages",
       "clustervirtualimage",
       {"cvi"},
       false,
       kApiVersion},
      {"VirtualMachineClass",
       "virtualmachineclasses",
       "virtualmachineclass",
       {"vmclass"},
       false,
       kApiVersion},
      {"VirtualMachineIPAddress",
       "virtualmachineipaddresses",
       "virtualmachineipaddress",
       {"vmip"},
       true,
       kApiVersion},
      {"VirtualMachineMACAddress",
       "virtualmachinemacaddresses",
       "virtualmachinemacaddress",
       {"vmmac"},
       true,
       kApiVersion},
      {"NodeUSBDevice", "nodeusbdevices", "nodeusbdevice", {}, false, kApiVersion},
      {"USBDevice", "usbdevices", "usbdevice", {}, true, kApiVersion},
      {"Secret", "secrets", "secret", {}, true, "v1"},
      {"Node", "nodes", "node", {"no"}, false, kApiVersion},
      {"DataExport", "dataexports", "dataexport", {"dex"}, true, kApiVersion},
      {"Event", "events", "event", {"ev"}, true, "v1"},
  };
  return *kinds;
}

const KindInfo* ResolveKind(std::string_view name) {
  std::string n = absl::AsciiStrToLower(std::string(name));
  std::string group_suffix = std::string(".") + kApiGroup;
  if (absl::EndsWith(n, group_suffix)) n.resize(n.size() - group_suffix.size());
  for (const KindInfo& k : AllKinds()) {
    if (n == absl::AsciiStrToLower(k.kind) || n == k.plural || n == k.singular) return &k;
    for (const std::string& s : k.short_names) {
      if (n == s) return &k;
    }
  }
  return nullptr;
}

}  // namespace berth
