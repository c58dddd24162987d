// Discovery through the real libudev adapter against a umockdev testbed (run under
// libumockdev-preload, as ctest does): enumeration with attributes and interfaces, hubs
// skipped, hot-plug add/remove through uevents, stable names across re-plug; and the sysfs
// attribute parser on its own.
#include <umockdev.h>

#include <atomic>
#include <catch2/catch.hpp>

#include "berth/agent/usb.h"

namespace berth::agent {
namespace {

bool UnderPreload() {
  const char* p = getenv("LD_PRELOAD");
  return p != nullptr && strstr(p, "umockdev-preload") != nullptr;
}

std::string Take(gchar* s) {
  std::string out = s == nullptr ? "" : s;
  g_free(s);
  return out;
}

struct Bed {
  Bed() : tb(umockdev_testbed_new()) {
    root = Take(umockdev_testbed_add_device(tb, "usb", "usb1", nullptr, "idVendor", "1d6b",
                                            "idProduct", "0002", "bcdDevice", "0601", "busnum", "1",
                                            "devnum", "1", "speed", "480", "bDeviceClass", "09",
                                            nullptr, "DEVTYPE", "usb_device", nullptr));
  }
  ~Bed() { g_object_unref(tb); }
  std::string Plug(const char* busid, const char* devnum, const char* speed, const char* serial) {
    std::string path = Take(umockdev_testbed_add_device(
        tb, "usb", busid, root.c_str(), "idVendor", "046d", "idProduct", "082d", "bcdDevice",
        "0011", "busnum", "1", "devnum", devnum, "speed", speed, "serial", serial, "manufacturer",
        "Logitech", "product", "Webcam C920", "bDeviceClass", "ef", "bConfigurationValue", "1",
        "bNumConfigurations", "1", nullptr, "DEVTYPE", "usb_device", "MAJOR", "189", "MINOR", "5",
        nullptr));
    std::string intf = std::string(busid) + ":1.0";
    Take(umockdev_testbed_add_device(tb, "usb", intf.c_str(), path.c_str(), "bInterfaceClass", "0e",
                                     "bInterfaceSubClass", "01", "bInterfaceProtocol", "00",
                                     nullptr, "DEVTYPE", "usb_interface", nullptr));
    umockdev_testbed_uevent(tb, path.c_str(), "add");
    return path;
  }
  void Unplug(const std::string& path) {
    umockdev_testbed_uevent(tb, path.c_str(), "remove");
    // Children first: umockdev removes only the named device's own links.
    std::string intf = path + "/" + path.substr(path.rfind('/') + 1) + ":1.0";
    umockdev_testbed_remove_device(tb, intf.c_str());
    umockdev_testbed_remove_device(tb, path.c_str());
  }
  UMockdevTestbed* tb;
  std::string root;
};

template <typename F>
bool Eventually(F f) {
  for (int i = 0; i < 100; ++i) {
    if (f()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

TEST_CASE("sysfs attributes parse, and bad ones are named") {
  std::map<std::string, std::string> a = {
      {"busid", "1-2"},       {"syspath", "/sys/devices/usb1/1-2"},
      {"idVendor", "046d\n"}, {"idProduct", "082d"},
      {"bcdDevice", "0011"},  {"busnum", "1"},
      {"devnum", "3"},        {"speed", "480"},
      {"bDeviceClass", "ef"}, {"serial", "ABC123456"}};
  auto d = UsbInfoFromSysfs(a);
  REQUIRE(d.ok());
  CHECK(d->vendor_id == 0x046d);
  CHECK(d->device_class == 0xef);
  CHECK(d->speed == UsbSpeed::kHigh);
  CHECK(d->devpath == "/dev/bus/usb/001/003");
  a["idVendor"] = "zz";
  auto bad = UsbInfoFromSysfs(a);
  CHECK(absl::IsInvalidArgument(bad.status()));
  CHECK(bad.status().message().find("idVendor") != std::string::npos);
  a["idVendor"] = "046d";
  a.erase("busnum");
  CHECK(UsbInfoFromSysfs(a).status().message().find("busnum") != std::string::npos);
}

TEST_CASE("stable names depend on node, port, vendor and product only") {
  UsbDeviceInfo d;
  d.busid = "1-2";
  d.vendor_id = 0x046d;
  d.product_id = 0x082d;
  d.devnum = 3;
  std::string n = StableUsbName("node-1", d);
  CHECK(n.rfind("usb-046d-082d-", 0) == 0);
  CHECK(n.size() == 24);
  d.devnum = 9;  // re-plugged: new device number, same port
  CHECK(StableUsbName("node-1", d) == n);
  d.busid = "1-3";
  CHECK(StableUsbName("node-1", d) != n);
  d.busid = "1-2";
  CHECK(StableUsbName("node-2", d) != n);
}

TEST_CASE("libudev enumeration and hot-plug against a umockdev testbed") {
  if (!UnderPreload()) {
    WARN("not under libumockdev-preload; run through ctest");
    return;
  }
  Bed bed;
  std::string cam = bed.Plug("1-2", "3", "480", "ABC123456");
  auto inv = NewUdevUsbInventory();
  REQUIRE(inv.ok());
  std::atomic<int> changes{0};
  (*inv)->OnChange([&] { ++changes; });
  auto list = (*inv)->List();
  REQUIRE(list.size() == 1);  // the root hub (class 09) is not listed
  const UsbDeviceInfo& d = list[0];
  CHECK(d.busid == "1-2");
  CHECK(d.vendor_id == 0x046d);
  CHECK(d.product_id == 0x082d);
  CHECK(d.busnum == 1);
  CHECK(d.devnum == 3);
  CHECK(d.serial == "ABC123456");
  CHECK(d.manufacturer == "Logitech");
  CHECK(d.product == "Webcam C920");
  CHECK(d.major == 189);
  CHECK(d.minor == 5);
  CHECK(d.speed == UsbSpeed::kHigh);
  REQUIRE(d.interfaces.size() == 1);
  CHECK(d.interfaces[0].interface_class == 0x0e);
  std::string name = StableUsbName("node-1", d);

  std::string ss = bed.Plug("1-3", "4", "5000", "SS1");
  REQUIRE(Eventually([&] { return (*inv)->List().size() == 2; }));
  CHECK(changes >= 1);

  bed.Unplug(cam);
  REQUIRE(Eventually([&] { return (*inv)->List().size() == 1; }));
  CHECK((*inv)->List()[0].speed == UsbSpeed::kSuper);

  bed.Plug("1-2", "7", "480", "ABC123456");  // same port, new device number
  REQUIRE(Eventually([&] { return (*inv)->List().size() == 2; }));
  for (const UsbDeviceInfo& x : (*inv)->List()) {
    if (x.busid == "1-2") {
      CHECK(x.devnum == 7);
      CHECK(StableUsbName("node-1", x) == name);
    }
  }
}

}  // namespace
}  // namespace berth::agent
