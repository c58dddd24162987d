#include "controllers/addresses/address_machine.h"

#include <arpa/inet.h>

#include <functional>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "berth/controller/status_util.h"

namespace berth::controller::address {

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

// The spec's address, refused when another object holds it; nullopt when the spec names none.
std::optional<absl::StatusOr<std::string>> Wanted(const std::string& wanted,
                                                  const std::set<std::string>& used) {
  if (wanted.empty()) return std::nullopt;
  if (used.count(wanted)) {
    return absl::AlreadyExistsError(absl::StrCat("address ", wanted, " is already leased"));
  }
  return wanted;
}

template <typename Obj>
struct Writer;
template <>
struct Writer<types::VirtualMachineIPAddress> {
  using type = types::VirtualMachineIPAddressStatusWriter;
};
template <>
struct Writer<types::VirtualMachineMACAddress> {
  using type = types::VirtualMachineMACAddressStatusWriter;
};

}  // namespace

std::string ReferencedName(const types::VirtualMachine& vm, bool ip) {
  if (ip && vm.spec().has_virtual_machine_ip_address_name()) {
    return vm.spec().virtual_machine_ip_address_name();
  }
  return vm.name();
}

absl::StatusOr<std::string> Allocate(const types::VirtualMachineIPAddress& obj,
                                     const absl::StatusOr<std::set<std::string>>& used,
                                     const std::string& cidr) {
  if (!used.ok()) return used.status();
  if (auto wanted = Wanted(obj.spec().static_ip(), *used)) return *wanted;
  return NextFreeIPv4(cidr, *used);
}

absl::StatusOr<std::string> Allocate(const types::VirtualMachineMACAddress& obj,
                                     const absl::StatusOr<std::set<std::string>>& used) {
  if (!used.ok()) return used.status();
  if (auto wanted = Wanted(obj.spec().address(), *used)) return *wanted;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    std::string mac = MacFor(obj.uid(), attempt);
    if (!used->count(mac)) return mac;
  }
  return absl::ResourceExhaustedError("no free MAC address");
}

template <typename Obj>
Step<Action> Plan(const Obj& obj, const Observation& obs, absl::Time now) {
  using Phase = typename Obj::Phase;
  Json status = obj.status().json();
  typename Writer<Obj>::type w(status);
  Step<Action> step;
  if (obs.allocated) {
    const absl::StatusOr<std::string>& address = *obs.allocated;
    if (!address.ok()) {
      w.set_phase(Phase::kPending);
      SetCondition(status, kBound, false, kReasonAllocationFailed,
                   std::string(address.status().message()), obj.json(), now);
      step.status = std::move(status);
      step.requeue = kAllocationRetry;
      return step;
    }
    w.set_address(*address);
    SetCondition(status, kBound, true, kReasonBound, "", obj.json(), now);
  }
  w.set_phase(obs.holder.empty() ? Phase::kBound : Phase::kAttached);
  if (obs.holder.empty()) {
    w.clear_virtual_machine();
  } else {
    w.set_virtual_machine(obs.holder);
  }
  step.status = std::move(status);
  return step;
}

template Step<Action> Plan(const types::VirtualMachineIPAddress&, const Observation&, absl::Time);
template Step<Action> Plan(const types::VirtualMachineMACAddress&, const Observation&, absl::Time);

}  // namespace berth::controller::address
