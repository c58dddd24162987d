// The VirtualMachineIPAddress / VirtualMachineMACAddress state machine (address_machine.h) as a
// table of (object, allocation, holder) -> (phase, Bound reason, address, virtualMachine).
#include "controllers/addresses/address_machine.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

namespace berth::controller::address {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);

Json Ip(const std::string& address = "", const std::string& static_ip = "") {
  Json o = {{"kind", "VirtualMachineIPAddress"},
            {"metadata", {{"name", "vm"}, {"namespace", "ns"}, {"uid", "ip-uid"}}},
            {"spec", {{"type", static_ip.empty() ? "Auto" : "Static"}}}};
  if (!static_ip.empty()) o["spec"]["staticIP"] = static_ip;
  if (!address.empty()) o["status"] = {{"address", address}, {"phase", "Bound"}};
  return o;
}

Json Mac(const std::string& address = "") {
  Json o = {{"kind", "VirtualMachineMACAddress"},
            {"metadata", {{"name", "vm"}, {"namespace", "ns"}, {"uid", "mac-uid"}}},
            {"spec", Json::object()}};
  if (!address.empty())
    o["status"] = {{"address", address}, {"phase", "Attached"}, {"virtualMachine", "old"}};
  return o;
}

struct Row {
  const char* name;
  Json obj;
  std::optional<absl::StatusOr<std::string>> allocated;
  std::string holder;
  // Expected:
  std::string phase;
  std::string bound_reason;  // "" when the object has no Bound condition
  std::string address;
  std::string virtual_machine;
  absl::Duration requeue;
};

template <typename Obj>
void Check(const Row& row) {
  INFO(row.name);
  Obj obj(row.obj);
  Observation obs{row.allocated, row.holder};
  Step<Action> step = Plan(obj, obs, kNow);
  CHECK(step.action == Action::kNone);
  CHECK_FALSE(step.add_finalizer);
  CHECK(step.requeue == row.requeue);
  REQUIRE(step.status.has_value());
  Json after_json = {{"status", *step.status}};
  Obj after(after_json);
  CHECK(std::string(types::Name(after.status().phase())) == row.phase);
  CHECK(after.status().conditions().Get(kBound).reason() == row.bound_reason);
  CHECK(after.status().address() == row.address);
  CHECK(after.status().virtual_machine() == row.virtual_machine);
}

TEST_CASE("addresses: Plan, row by row") {
  const absl::Duration retry = kAllocationRetry, none = absl::ZeroDuration();
  std::vector<Row> ip_rows = {
      {"allocation refused", Ip(), absl::StatusOr<std::string>(absl::AlreadyExistsError("leased")),
       "", "Pending", kReasonAllocationFailed, "", "", retry},
      {"allocated, no VM", Ip(), absl::StatusOr<std::string>("10.66.0.2"), "", "Bound",
       kReasonBound, "10.66.0.2", "", none},
      {"allocated, a VM references it", Ip(), absl::StatusOr<std::string>("10.66.0.2"), "vm",
       "Attached", kReasonBound, "10.66.0.2", "vm", none},
      {"has its address, a VM references it", Ip("10.66.0.9"), std::nullopt, "vm", "Attached", "",
       "10.66.0.9", "vm", none},
  };
  for (const Row& row : ip_rows) Check<types::VirtualMachineIPAddress>(row);
  std::vector<Row> mac_rows = {
      {"the VM went away", Mac("52:54:00:00:00:01"), std::nullopt, "", "Bound", "",
       "52:54:00:00:00:01", "", none},
      {"pool exhausted", Mac(), absl::StatusOr<std::string>(absl::ResourceExhaustedError("full")),
       "", "Pending", kReasonAllocationFailed, "", "", retry},
  };
  for (const Row& row : mac_rows) Check<types::VirtualMachineMACAddress>(row);

  // The refusal's message is the condition's.
  Json ip = Ip();
  Observation failed{
      absl::StatusOr<std::string>(absl::ResourceExhaustedError("IP pool x is exhausted")), ""};
  Step<Action> step = Plan(types::VirtualMachineIPAddress(ip), failed, kNow);
  CHECK(types::VirtualMachineIPAddressStatus(*step.status).conditions().Get(kBound).message() ==
        "IP pool x is exhausted");
}

TEST_CASE("addresses: allocation") {
  std::set<std::string> used = {"", "10.66.0.2", "10.66.0.3"};
  types::VirtualMachineIPAddress auto_ip(Ip());
  CHECK(*Allocate(auto_ip, used, "10.66.0.0/16") == "10.66.0.4");
  CHECK(absl::IsInvalidArgument(Allocate(auto_ip, used, "10.66.0.0").status()));
  CHECK(absl::IsInvalidArgument(Allocate(auto_ip, used, "10.66.0.0/31").status()));
  // A /30 has one usable address past the gateway.
  CHECK(*Allocate(auto_ip, std::set<std::string>{}, "10.0.0.0/30") == "10.0.0.2");
  CHECK(absl::IsResourceExhausted(
      Allocate(auto_ip, std::set<std::string>{"10.0.0.2"}, "10.0.0.0/30").status()));
  Json static_json = Ip("", "10.66.0.3");
  types::VirtualMachineIPAddress static_ip(static_json);
  CHECK(absl::IsAlreadyExists(Allocate(static_ip, used, "10.66.0.0/16").status()));
  CHECK(*Allocate(static_ip, std::set<std::string>{}, "10.66.0.0/16") == "10.66.0.3");
  CHECK(absl::IsUnavailable(
      Allocate(auto_ip, absl::UnavailableError("store down"), "10.66.0.0/16").status()));

  Json mac_json = Mac();
  types::VirtualMachineMACAddress mac(mac_json);
  absl::StatusOr<std::string> first = Allocate(mac, std::set<std::string>{});
  REQUIRE(first.ok());
  CHECK(first->rfind("52:54:00:", 0) == 0);
  CHECK(*Allocate(mac, std::set<std::string>{}) == *first);  // derived from the uid
  absl::StatusOr<std::string> second = Allocate(mac, std::set<std::string>{*first});
  REQUIRE(second.ok());
  CHECK(*second != *first);
  mac_json["spec"]["address"] = "52:54:00:aa:bb:cc";
  CHECK(*Allocate(types::VirtualMachineMACAddress(mac_json), std::set<std::string>{}) ==
        "52:54:00:aa:bb:cc");
}

TEST_CASE("addresses: the object a VM references") {
  Json vm = {{"kind", "VirtualMachine"}, {"metadata", {{"name", "vm"}}}, {"spec", Json::object()}};
  CHECK(ReferencedName(types::VirtualMachine(vm), true) == "vm");
  vm["spec"]["virtualMachineIPAddressName"] = "shared";
  CHECK(ReferencedName(types::VirtualMachine(vm), true) == "shared");
  CHECK(ReferencedName(types::VirtualMachine(vm), false) == "vm");
  CHECK(NeedsAddress(types::VirtualMachineIPAddress(Ip())));
  Json bound = Ip("10.66.0.2");
  CHECK_FALSE(NeedsAddress(types::VirtualMachineIPAddress(bound)));
}

}  // namespace
}  // namespace berth::controller::address
