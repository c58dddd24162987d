// The agent's USB state end to end, without hardware: a device node's UsbNode exports the
// software device through our USB/IP server; the VM node's UsbNode imports it over TCP and
// attaches it to a testbed vhci_hcd directory. Exports gate imports, port accounting holds
// across 16 attachments and an agent restart, the 17th gets NoFreeUSBIPPort, detach frees.
#include "usb/usb_node.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "software_device.h"
#include "usb/usbip_server.h"
#include "vhci_status_text.h"

namespace berth::agent {
namespace {

// Options with the defaults for everything but the name and state directory.
UsbNodeOptions Options(const std::string& name, const std::string& state_dir) {
  UsbNodeOptions o;
  o.node_name = name;
  o.state_dir = state_dir;
  return o;
}

class FixedInventory : public UsbInventory {
 public:
  std::vector<UsbDeviceInfo> List() const override { return devices; }
  void OnChange(std::function<void()>) override {}
  std::vector<UsbDeviceInfo> devices;
};

struct Rig {
  Rig() {
    root = std::filesystem::temp_directory_path() /
           ("berth-usbnode-" + std::to_string(getpid()) + "-" + std::to_string(rand()));
    std::filesystem::create_directories(root / "vhci");
    std::ofstream(root / "vhci/status") << testing::VhciStatusText();
    std::ofstream(root / "vhci/attach") << "";
    std::ofstream(root / "vhci/detach") << "";
    for (int i = 0; i < 9; ++i) {
      UsbDeviceInfo hs = testing::SoftwareUsbDevice::DefaultInfo("1-" + std::to_string(i + 1));
      hs.devnum = 10 + i;
      UsbDeviceInfo ss = testing::SoftwareUsbDevice::DefaultInfo("2-" + std::to_string(i + 1));
      ss.speed = UsbSpeed::kSuper;
      ss.devnum = 30 + i;
      devices.devices.push_back(hs);
      devices.devices.push_back(ss);
    }
    device_node = std::make_unique<UsbNode>(Options("node-a", (root / "a").string()), devices,
                                            nullptr, nullptr);
    UsbIpServerConfig config;
    config.listen = "127.0.0.1:0";
    auto s = UsbIpServer::Create(
        config, [this] { return device_node->Exported(); },
        [this](const std::string& busid) -> absl::StatusOr<std::unique_ptr<UsbDevice>> {
          for (const auto& d : devices.devices) {
            if (d.busid == busid) return std::make_unique<testing::SoftwareUsbDevice>(d);
          }
          return absl::NotFoundError("no such device");
        });
    REQUIRE(s.ok());
    server = *std::move(s);
    device_node->SetServer(server.get());
    OpenVmNode();
  }
  ~Rig() {
    vm_node.reset();
    std::filesystem::remove_all(root);
  }
  void OpenVmNode() {
    vm_node.reset();
    vhci.reset();
    auto v = VhciDriver::Open((root / "vhci").string());
    REQUIRE(v.ok());
    vhci = *std::move(v);
    vm_node = std::make_unique<UsbNode>(Options("node-b", (root / "b").string()), empty, vhci.get(),
                                        nullptr);
  }
  absl::StatusOr<UsbAttachmentInfo> Attach(const std::string& busid) {
    UsbAttachRequest r{"vm-uid/" + busid, "dom", busid, server->ListenAddress(),
                       busid[0] == '1' ? UsbSpeed::kHigh : UsbSpeed::kSuper};
    return vm_node->Attach(r);
  }
  std::string Read(const char* f) {
    std::ifstream in(root / "vhci" / f);
    std::string s;
    std::getline(in, s);
    return s;
  }

  std::filesystem::path root;
  FixedInventory devices, empty;
  std::unique_ptr<UsbNode> device_node;
  std::unique_ptr<UsbIpServer> server;
  std::unique_ptr<VhciDriver> vhci;
  std::unique_ptr<UsbNode> vm_node;
};

TEST_CASE("only exported devices can be imported; exports survive a restart") {
  Rig rig;
  auto refused = rig.Attach("1-1");
  CHECK(absl::IsNotFound(refused.status()));
  CHECK(rig.device_node->SetExports({"1-1", "9-9"}) == std::vector<std::string>{"1-1"});
  auto a = rig.Attach("1-1");
  REQUIRE(a.ok());
  CHECK(a->mode == "usbip");
  CHECK(a->vhci_port == 0);
  CHECK(a->port == 1);
  CHECK_FALSE(a->guest_attached);
  CHECK(a->message.find("--usb_guest_attach=none") != std::string::npos);
  CHECK(rig.Read("attach").rfind("0 ", 0) == 0);
  CHECK(rig.Read("attach").find(" " + std::to_string(9 << 16 | 10) + " 3") != std::string::npos);
  UsbNode again(Options("node-a", (rig.root / "a").string()), rig.devices, nullptr, nullptr);
  CHECK(again.IsExported("1-1"));
  CHECK_FALSE(again.IsExported("1-2"));
}

TEST_CASE("8 high-speed + 8 super-speed attachments; the 17th gets NoFreeUSBIPPort") {
  Rig rig;
  std::vector<std::string> all;
  for (const auto& d : rig.devices.devices) all.push_back(d.busid);
  rig.device_node->SetExports(all);
  std::set<int> ports;
  for (int i = 1; i <= 8; ++i) {
    auto a = rig.Attach("1-" + std::to_string(i));
    REQUIRE(a.ok());
    CHECK(a->vhci_port < 8);
    ports.insert(a->vhci_port);
  }
  auto ninth_hs = rig.Attach("1-9");
  REQUIRE(absl::IsResourceExhausted(ninth_hs.status()));
  CHECK(ninth_hs.status().message().find("high-speed (USB 2.0)") != std::string::npos);
  for (int i = 1; i <= 8; ++i) {
    auto a = rig.Attach("2-" + std::to_string(i));
    REQUIRE(a.ok());
    CHECK(a->vhci_port >= 8);
    ports.insert(a->vhci_port);
  }
  CHECK(ports.size() == 16);
  auto seventeenth = rig.Attach("2-9");
  CHECK(absl::IsResourceExhausted(seventeenth.status()));
  CHECK(seventeenth.status().message().rfind("NoFreeUSBIPPort", 0) == 0);

  // The same id again returns the same attachment (idempotent), even after a restart, and the
  // restarted agent still holds all 16 ports.
  auto same = rig.Attach("1-3");
  REQUIRE(same.ok());
  CHECK(same->vhci_port == 2);
  rig.OpenVmNode();
  CHECK(rig.vm_node->Attachments().size() == 16);
  CHECK(absl::IsResourceExhausted(rig.Attach("1-9").status()));
  auto gone = rig.vm_node->Detach("vm-uid/1-4");
  REQUIRE(gone.ok());
  CHECK(*gone);
  CHECK(rig.Read("detach") == "3");
  auto reuse = rig.Attach("1-9");
  REQUIRE(reuse.ok());
  CHECK(reuse->vhci_port == 3);
  CHECK(*rig.vm_node->Detach("nope") == false);
}

TEST_CASE("without a speed from the caller the device's own speed picks the hub") {
  Rig rig;
  rig.device_node->SetExports({"2-1"});
  auto a = rig.vm_node->Attach({"x", "dom", "2-1", rig.server->ListenAddress(), {}});
  REQUIRE(a.ok());
  CHECK(a->vhci_port == 8);
  REQUIRE(*rig.vm_node->Detach("x"));
  // A caller that names the wrong speed does not put a USB 3 device on the USB 2.0 hub.
  auto wrong =
      rig.vm_node->Attach({"y", "dom", "2-1", rig.server->ListenAddress(), UsbSpeed::kHigh});
  REQUIRE(wrong.ok());
  CHECK(wrong->vhci_port == 8);
  CHECK_FALSE(rig.vm_node->Attach({"z", "dom", "1-1", "", UsbSpeed::kHigh}).ok());  // not local
}

TEST_CASE("local devices attach directly; bad requests are named") {
  Rig rig;
  UsbNode local(Options("node-a", (rig.root / "l").string()), rig.devices, nullptr, nullptr);
  auto a = local.Attach({"id", "dom", "1-2", "", UsbSpeed::kHigh});
  REQUIRE(a.ok());
  CHECK(a->mode == "local");
  CHECK(a->vhci_port == -1);
  CHECK(a->bus == 9);
  CHECK(a->port == 2);
  CHECK(absl::IsNotFound(local.Attach({"id2", "dom", "7-7", "", UsbSpeed::kHigh}).status()));
  CHECK(absl::IsInvalidArgument(local.Attach({"", "dom", "1-2", "", UsbSpeed::kHigh}).status()));
  CHECK(absl::IsFailedPrecondition(local.Attach({"id", "other", "1-2", "", {}}).status()));
  auto no_vhci = local.Attach({"id3", "dom", "1-2", "127.0.0.1:1", UsbSpeed::kHigh});
  CHECK(absl::IsFailedPrecondition(no_vhci.status()));
  CHECK(no_vhci.status().message().find("vhci") != std::string::npos);
  auto bad_addr = rig.vm_node->Attach({"id4", "dom", "1-2", "nonsense", UsbSpeed::kHigh});
  CHECK(absl::IsInvalidArgument(bad_addr.status()));
}

}  // namespace
}  // namespace berth::agent
