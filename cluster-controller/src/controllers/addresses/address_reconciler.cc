// VirtualMachineIPAddress and VirtualMachineMACAddress: allocate a unique address once and
// lease it to the one VM that references the object. Allocation is serialized in-process (one
// active controller), and checked against every other object's address, so two objects never
// hold the same address.
#include <arpa/inet.h>

#include <functional>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/status_macros.h"

namespace berth::controller {
namespace {

// Returns the first usable host address of `cidr` not in `used`.
absl::StatusOr<std::string> NextFreeIPv4(const std::string& cidr,
                                         const std::set<std::string>& used) {
  std::vector<std::string> parts = absl::StrSplit(cidr, '/');
  in_addr base{};
  int bits = 0;
  if (parts.size() != 2 || inet_pton(AF_INET, parts[0].c_str(), &base) != 1 ||
      !absl::SimpleAtoi(parts[1], &bits) || bits < 8 || bits > 30) {
    return absl::InvalidArgumentError(absl::StrCat("bad IP pool CIDR \"", cidr, "\""));
  }
  uint32_t net = ntohl(base.s_addr) & (~0u << (32 - bits));
  uint32_t size = 1u << (32 - bits);
  for (uint32_t i = 2; i < size - 1; ++i) {  // .0 network, .1 gateway, last broadcast
    in_addr a{htonl(net + i)};
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, text, sizeof(text));
    if (!used.count(text)) return std::string(text);
  }
  return absl::ResourceExhaustedError(absl::StrCat("IP pool ", cidr, " is exhausted"));
}

std::string MacFor(const std::string& seed, int attempt) {
  size_t h = std::hash<std::string>()(absl::StrCat(seed, "/", attempt));
  return absl::StrFormat("52:54:00:%02x:%02x:%02x", (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
}

class AddressReconciler : public Reconciler {
 public:
  AddressReconciler(ObjectStore& store, const Clock& clock, std::string kind, std::string cidr)
      : store_(store), clock_(clock), kind_(std::move(kind)), cidr_(std::move(cidr)) {}

  std::string Kind() const override { return kind_; }

  std::vector<ObjectKey> Related(const StoreEvent& event) override {
    if (event.object().value("kind", "") != "VirtualMachine") return {};
    std::string ns = JsonString(event.object(), "/metadata/namespace");
    std::string name = JsonString(event.object(), "/metadata/name");
    std::string ref =
        IsIp() ? JsonString(event.object(), "/spec/virtualMachineIPAddressName", name) : name;
    return {ObjectKey{kind_, ns, ref}};
  }

  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    absl::MutexLock l(&mu_);
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    Json obj = *std::move(got);
    if (IsDeleting(obj)) return ReconcileResult{};
    Json status = obj.value("status", Json::object());
    if (status.value("address", "").empty()) {
      auto address = Allocate(obj);
      if (!address.ok()) {
        status["phase"] = "Pending";
        SetCondition(status, "Bound", false, "AllocationFailed",
                     std::string(address.status().message()), obj, clock_.Now());
        BERTH_RETURN_IF_ERROR(WriteStatus(store_, obj, status).status());
        return ReconcileResult{absl::Seconds(10)};
      }
      status["address"] = *address;
      SetCondition(status, "Bound", true, "Bound", "", obj, clock_.Now());
    }
    BERTH_ASSIGN_OR_RETURN(std::string holder, Holder(obj));
    status["phase"] = holder.empty() ? "Bound" : "Attached";
    if (holder.empty()) {
      status.erase("virtualMachine");
    } else {
      status["virtualMachine"] = holder;
    }
    BERTH_RETURN_IF_ERROR(WriteStatus(store_, obj, status).status());
    return ReconcileResult{};
  }

 private:
  bool IsIp() const { return kind_ == "VirtualMachineIPAddress"; }

  absl::StatusOr<std::string> Allocate(const Json& obj) {
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> all, store_.List(kind_, ""));
    std::set<std::string> used;
    for (const Json& o : all) {
      if (JsonString(o, "/metadata/uid") != JsonString(obj, "/metadata/uid")) {
        used.insert(JsonString(o, "/status/address"));
      }
    }
    std::string wanted =
        IsIp() ? JsonString(obj, "/spec/staticIP") : JsonString(obj, "/spec/address");
    if (!wanted.empty()) {
      if (used.count(wanted)) {
        return absl::AlreadyExistsError(absl::StrCat("address ", wanted, " is already leased"));
      }
      return wanted;
    }
    if (IsIp()) return NextFreeIPv4(cidr_, used);
    for (int attempt = 0; attempt < 1000; ++attempt) {
      std::string mac = MacFor(JsonString(obj, "/metadata/uid"), attempt);
      if (!used.count(mac)) return mac;
    }
    return absl::ResourceExhaustedError("no free MAC address");
  }

  // Returns the VM that references this object, if any.
  absl::StatusOr<std::string> Holder(const Json& obj) {
    std::string name = JsonString(obj, "/metadata/name");
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> vms,
                           store_.List("VirtualMachine", JsonString(obj, "/metadata/namespace")));
    for (const Json& vm : vms) {
      std::string vm_name = JsonString(vm, "/metadata/name");
      std::string ref =
          IsIp() ? JsonString(vm, "/spec/virtualMachineIPAddressName", vm_name) : vm_name;
      if (ref == name && !IsDeleting(vm)) return vm_name;
    }
    return std::string();
  }

  ObjectStore& store_;
  const Clock& clock_;
  const std::string kind_;
  const std::string cidr_;
  absl::Mutex mu_;  // serializes allocation across this kind's workers
};

}  // namespace

std::unique_ptr<Reconciler> NewIPAddressReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<AddressReconciler>(deps.store, deps.clock, "VirtualMachineIPAddress",
                                             deps.config.ip_cidr);
}

std::unique_ptr<Reconciler> NewMACAddressReconciler(const ReconcilerDeps& deps) {
  return std::make_unique<AddressReconciler>(deps.store, deps.clock, "VirtualMachineMACAddress",
                                             "");
}

}  // namespace berth::controller
