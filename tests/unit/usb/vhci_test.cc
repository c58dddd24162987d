// vhci_hcd port accounting against a testbed sysfs directory laid out like the kernel's
// (status with 8 hs + 8 ss ports, attach, detach), and the status parser on kernel text.
#include "usb/vhci.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "vhci_status_text.h"

namespace berth::agent {
namespace {

using testing::VhciStatusText;

struct Testbed {
  Testbed() {
    dir = std::filesystem::temp_directory_path() /
          ("berth-vhci-" + std::to_string(getpid()) + "-" + std::to_string(rand()));
    std::filesystem::create_directories(dir);
    Write("status", VhciStatusText());
    Write("attach", "");
    Write("detach", "");
  }
  ~Testbed() { std::filesystem::remove_all(dir); }
  void Write(const std::string& f, const std::string& text) {
    std::ofstream(dir / f, std::ios::trunc) << text;
  }
  std::string Read(const std::string& f) {
    std::ifstream in(dir / f);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::filesystem::path dir;
};

TEST_CASE("parses the kernel's status format") {
  auto ports = ParseVhciStatus(VhciStatusText({2, 9}));
  REQUIRE(ports.ok());
  REQUIRE(ports->size() == 16);
  CHECK((*ports)[2].status == 6);
  CHECK_FALSE((*ports)[2].free());
  CHECK((*ports)[2].devid == 0x10002);
  CHECK((*ports)[2].local_busid == "3-1");
  CHECK((*ports)[9].super_speed);
  CHECK((*ports)[0].free());
  auto bad = ParseVhciStatus("hub port\nxs 0000 004 000 00000000 000000 0-0\n");
  CHECK(absl::IsInvalidArgument(bad.status()));
  CHECK(bad.status().message().find("hs or ss") != std::string::npos);
  CHECK_FALSE(ParseVhciStatus("").ok());
}

TEST_CASE("a USB 2.0 device never takes a super-speed port, and vice versa") {
  auto ports = *ParseVhciStatus(VhciStatusText({0, 1, 2, 3, 4, 5, 6, 7}));
  auto hs = ChooseVhciPort(ports, UsbSpeed::kHigh, {});
  CHECK(absl::IsResourceExhausted(hs.status()));
  CHECK(hs.status().message().rfind("NoFreeUSBIPPort", 0) == 0);
  CHECK(*ChooseVhciPort(ports, UsbSpeed::kSuper, {}) == 8);
  CHECK_FALSE(ChooseVhciPort(ports, UsbSpeed::kFull, {}).ok());
  auto empty_ss = *ParseVhciStatus(VhciStatusText({8, 9, 10, 11, 12, 13, 14, 15}));
  CHECK(*ChooseVhciPort(empty_ss, UsbSpeed::kLow, {}) == 0);
  CHECK(absl::IsResourceExhausted(ChooseVhciPort(empty_ss, UsbSpeed::kSuperPlus, {}).status()));
}

TEST_CASE("16 devices fit (8 hs + 8 ss); the 17th gets NoFreeUSBIPPort") {
  Testbed tb;
  auto vhci = VhciDriver::Open(tb.dir.string());
  REQUIRE(vhci.ok());
  std::set<int> ports;
  for (int i = 0; i < 8; ++i) {
    auto p = (*vhci)->Attach(100 + i, 0x10000 + i, UsbSpeed::kHigh);
    REQUIRE(p.ok());
    CHECK(*p < 8);
    CHECK(tb.Read("attach") == std::to_string(*p) + " " + std::to_string(100 + i) + " " +
                                   std::to_string(0x10000 + i) + " 3");
    ports.insert(*p);
  }
  auto ninth = (*vhci)->Attach(200, 0x20001, UsbSpeed::kHigh);  // USB 2.0: hs hub full
  CHECK(absl::IsResourceExhausted(ninth.status()));
  for (int i = 0; i < 8; ++i) {
    auto p = (*vhci)->Attach(300 + i, 0x30000 + i, UsbSpeed::kSuper);
    REQUIRE(p.ok());
    CHECK(*p >= 8);
    ports.insert(*p);
  }
  CHECK(ports.size() == 16);
  auto seventeenth = (*vhci)->Attach(400, 0x40001, UsbSpeed::kSuper);
  REQUIRE(absl::IsResourceExhausted(seventeenth.status()));
  CHECK(seventeenth.status().message().find(kNoFreeUsbIpPort) != std::string::npos);

  REQUIRE((*vhci)->Detach(3).ok());
  CHECK(tb.Read("detach") == "3");
  auto again = (*vhci)->Attach(500, 0x50001, UsbSpeed::kFull);
  REQUIRE(again.ok());
  CHECK(*again == 3);
}

TEST_CASE("ports the kernel reports used are skipped; a missing vhci is a clear error") {
  Testbed tb;
  tb.Write("status", VhciStatusText({0, 1}));
  auto vhci = VhciDriver::Open(tb.dir.string());
  REQUIRE(vhci.ok());
  CHECK(*(*vhci)->Attach(5, 0x10001, UsbSpeed::kHigh) == 2);
  (*vhci)->Hold(3);
  CHECK(*(*vhci)->Attach(6, 0x10002, UsbSpeed::kHigh) == 4);
  auto missing = VhciDriver::Open((tb.dir / "nope").string());
  CHECK(absl::IsFailedPrecondition(missing.status()));
  CHECK(missing.status().message().find("vhci-hcd") != std::string::npos);
}

}  // namespace
}  // namespace berth::agent
