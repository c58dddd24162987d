// Admission for VirtualMachine and its companions: VirtualMachineClass, VirtualMachineIPAddress,
// VirtualMachineMACAddress.
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "api/admission_internal.h"

namespace berth::controller::admission_internal {
namespace {

// USB/IP gives each vhci controller 8 ports per hub; the spec caps a VM at 8 devices.
constexpr size_t kMaxUsbDevices = 8;
constexpr size_t kMaxBlockDevices = 16;

void ValidateCpu(Obj& spec) {
  std::optional<Obj> cpu = spec.Sub("cpu", Need::kOptional);
  if (!cpu) return;
  cpu->Allow({"cores", "coreFraction"});
  cpu->Int("cores", Need::kRequired, 1);
  const std::string* fraction = cpu->Str("coreFraction", Need::kOptional);
  if (fraction == nullptr) return;
  bool ok = fraction->size() >= 2 && fraction->size() <= 4 && fraction->back() == '%';
  int percent = 0;
  for (size_t i = 0; ok && i + 1 < fraction->size(); ++i) {
    char c = (*fraction)[i];
    ok = c >= '0' && c <= '9' && !(i == 0 && c == '0');
    percent = percent * 10 + (c - '0');
  }
  if (!ok || percent < 1 || percent > 100) {
    cpu->Error("coreFraction", InvalidValue(*fraction, "must be a percentage from 1% to 100%"));
  }
}

void ValidateMemory(Obj& spec) {
  std::optional<Obj> memory = spec.Sub("memory", Need::kOptional);
  if (!memory) return;
  memory->Allow({"size"});
  memory->Quantity("size", Need::kRequired);
}

void ValidateBlockDeviceRefs(Obj& spec) {
  Json* refs = spec.Array("blockDeviceRefs", Need::kRequired, kMaxBlockDevices);
  if (refs == nullptr) return;
  std::set<std::string> seen;
  for (size_t i = 0; i < refs->size(); ++i) {
    std::string path = IndexPath(spec.Path("blockDeviceRefs"), i);
    Json& item = (*refs)[i];
    if (!item.is_object()) {
      spec.errs().Add(path, WrongType("object", item));
      continue;
    }
    Obj ref(item, path, spec.errs());
    ref.Allow({"kind", "name", "bootOrder"});
    const std::string* kind =
        ref.Enum("kind", {"VirtualDisk", "VirtualImage", "ClusterVirtualImage"}, Need::kRequired);
    NameRule rule =
        (kind != nullptr && *kind == "VirtualDisk") ? NameRule::kLabel : NameRule::kSubdomain;
    const std::string* name = ref.Name("name", rule, Need::kRequired);
    ref.Int("bootOrder", Need::kOptional, 1);
    if (kind != nullptr && name != nullptr && !seen.insert(*kind + "/" + *name).second) {
      spec.errs().Add(path, absl::StrCat("Duplicate value: ", *kind, " ", Quote(*name)));
    }
  }
}

// Checks a {kind: Secret, name} reference, defaulting kind to Secret.
void ValidateSecretRef(Obj& parent, const char* key, Need need) {
  std::optional<Obj> ref = parent.Sub(key, need);
  if (!ref) return;
  ref->Allow({"kind", "name"});
  ref->Enum("kind", {"Secret"}, Need::kRequired, "Secret");
  ref->Name("name", NameRule::kSubdomain, Need::kRequired);
}

void ValidateProvisioning(Obj& spec) {
  std::optional<Obj> prov = spec.Sub("provisioning", Need::kOptional);
  if (!prov) return;
  prov->Allow({"type", "userData", "userDataRef", "sysprepRef"});
  const std::string* type =
      prov->Enum("type", {"UserData", "UserDataRef", "SysprepRef"}, Need::kRequired);
  if (type == nullptr) return;
  struct Block {
    const char* key;
    const char* type;
  };
  for (const Block& b : {Block{"userData", "UserData"}, Block{"userDataRef", "UserDataRef"},
                         Block{"sysprepRef", "SysprepRef"}}) {
    bool wanted = *type == b.type;
    if (!wanted) {
      if (prov->Has(b.key)) prov->Error(b.key, ForbiddenUnlessType(b.type));
    } else if (std::string(b.key) == "userData") {
      prov->Str("userData", Need::kRequired);
    } else {
      ValidateSecretRef(*prov, b.key, Need::kRequired);
    }
  }
}

void ValidateUsbDevices(Obj& spec) {
  Json* devices = spec.Array("usbDevices", Need::kOptional, kMaxUsbDevices);
  if (devices == nullptr) return;
  std::set<std::string> seen;
  for (size_t i = 0; i < devices->size(); ++i) {
    std::string path = IndexPath(spec.Path("usbDevices"), i);
    Json& item = (*devices)[i];
    if (!item.is_object()) {
      spec.errs().Add(path, WrongType("object", item));
      continue;
    }
    Obj dev(item, path, spec.errs());
    dev.Allow({"name"});
    const std::string* name = dev.Name("name", NameRule::kSubdomain, Need::kRequired);
    if (name != nullptr && !seen.insert(*name).second) {
      dev.Error("name", absl::StrCat("Duplicate value: ", Quote(*name)));
    }
  }
}

void ValidateScheduling(Obj& spec) {
  spec.StringMap("nodeSelector");
  spec.Str("priorityClassName", Need::kOptional);
  spec.AnyArray("tolerations");
  spec.AnyObject("affinity");
  spec.AnyArray("topologySpreadConstraints");
  spec.Int("terminationGracePeriodSeconds", Need::kOptional, 0);
  if (std::optional<Obj> disruptions = spec.Sub("disruptions", Need::kOptional)) {
    disruptions->Allow({"restartApprovalMode"});
    disruptions->Enum("restartApprovalMode", {"Manual", "Automatic"}, Need::kOptional);
  }
}

}  // namespace

void ValidateVirtualMachine(Obj& top) {
  top.Allow({"apiVersion", "kind", "metadata", "spec"});
  std::optional<Obj> spec = top.Sub("spec", Need::kDefault);
  if (!spec) return;
  spec->Allow({"virtualMachineClassName",
               "cpu",
               "memory",
               "blockDeviceRefs",
               "runPolicy",
               "virtualMachineIPAddressName",
               "provisioning",
               "usbDevices",
               "osType",
               "bootloader",
               "networks",
               "liveMigrationPolicy",
               "disruptions",
               "terminationGracePeriodSeconds",
               "enableParavirtualization",
               "nodeSelector",
               "priorityClassName",
               "tolerations",
               "affinity",
               "topologySpreadConstraints"});
  spec->Name("virtualMachineClassName", NameRule::kSubdomain, Need::kOptional);
  ValidateCpu(*spec);
  ValidateMemory(*spec);
  ValidateBlockDeviceRefs(*spec);
  spec->Enum("runPolicy", {"AlwaysOn", "AlwaysOff", "Manual", "AlwaysOnUnlessStoppedManually"},
             Need::kOptional, "AlwaysOnUnlessStoppedManually");
  spec->Name("virtualMachineIPAddressName", NameRule::kLabel, Need::kOptional);
  ValidateProvisioning(*spec);
  ValidateUsbDevices(*spec);
  spec->Enum("osType", {"Generic", "Windows"}, Need::kOptional);
  spec->Enum("bootloader", {"BIOS", "EFI", "EFIWithSecureBoot"}, Need::kOptional);
  spec->AnyArray("networks");
  spec->Enum("liveMigrationPolicy", {"AlwaysSafe", "PreferSafe", "AlwaysForced", "PreferForced"},
             Need::kOptional);
  spec->Bool("enableParavirtualization");
  ValidateScheduling(*spec);
}

void ValidateVirtualMachineClass(Obj& top) {
  top.Allow({"apiVersion", "kind", "metadata", "spec"});
  std::optional<Obj> spec = top.Sub("spec", Need::kDefault);
  if (!spec) return;
  spec->Allow({"cpu", "sizingPolicies", "nodeSelector", "tolerations"});
  if (std::optional<Obj> cpu = spec->Sub("cpu", Need::kRequired)) {
    cpu->Allow({"type", "model", "features", "discovery"});
    const std::string* type = cpu->Enum(
        "type", {"Host", "HostPassthrough", "Discovery", "Model", "Features"}, Need::kRequired);
    bool is_model = type != nullptr && *type == "Model";
    bool is_features = type != nullptr && *type == "Features";
    cpu->Str("model", is_model ? Need::kRequired : Need::kOptional);
    if (Json* f = cpu->Array("features", is_features ? Need::kRequired : Need::kOptional)) {
      for (size_t i = 0; i < f->size(); ++i) {
        if (!(*f)[i].is_string()) {
          cpu->errs().Add(IndexPath(cpu->Path("features"), i), WrongType("string", (*f)[i]));
        }
      }
    }
    cpu->AnyObject("discovery");
  }
  spec->AnyArray("sizingPolicies");
  spec->AnyObject("nodeSelector");
  spec->AnyArray("tolerations");
}

void ValidateVirtualMachineIPAddress(Obj& top) {
  top.Allow({"apiVersion", "kind", "metadata", "spec"});
  std::optional<Obj> spec = top.Sub("spec", Need::kDefault);
  if (!spec) return;
  spec->Allow({"type", "staticIP"});
  const std::string* type = spec->Enum("type", {"Auto", "Static"}, Need::kOptional, "Auto");
  if (type == nullptr) return;
  if (*type == "Auto") {
    if (spec->Has("staticIP")) spec->Error("staticIP", ForbiddenUnlessType("Static"));
    return;
  }
  const std::string* ip = spec->Str("staticIP", Need::kRequired);
  if (ip != nullptr && !IsIPv4(*ip)) {
    spec->Error("staticIP", InvalidValue(*ip, "must be a valid IPv4 address, e.g. 10.66.10.1"));
  }
}

void ValidateVirtualMachineMACAddress(Obj& top) {
  top.Allow({"apiVersion", "kind", "metadata", "spec"});
  std::optional<Obj> spec = top.Sub("spec", Need::kOptional);
  if (!spec) return;
  spec->Allow({"address"});
  const std::string* mac = spec->Str("address", Need::kOptional);
  if (mac != nullptr && !IsMacAddress(*mac)) {
    spec->Error("address", InvalidValue(*mac, "must be a MAC address like 02:5e:10:00:00:01"));
  }
}

}  // namespace berth::controller::admission_internal
