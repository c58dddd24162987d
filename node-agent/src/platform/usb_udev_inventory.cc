// Discovery through libudev: enumeration at start, then a monitor thread that re-enumerates on
// every add/remove/change of a usb_device. Hubs (class 09) are not passthrough candidates and
// are skipped. Under a umockdev testbed (UMOCKDEV_DIR + libumockdev-preload) libudev sees the
// testbed's sysfs and uevents instead of the host's.
#include <libudev.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "berth/agent/usb.h"
#include "berth/log.h"
#include "platform/unique_fd.h"

namespace berth::agent {
namespace {

struct UdevDeleter {
  void operator()(udev* u) const { udev_unref(u); }
};
struct EnumDeleter {
  void operator()(udev_enumerate* e) const { udev_enumerate_unref(e); }
};
struct DeviceDeleter {
  void operator()(udev_device* d) const { udev_device_unref(d); }
};
struct MonitorDeleter {
  void operator()(udev_monitor* m) const { udev_monitor_unref(m); }
};
using UdevPtr = std::unique_ptr<udev, UdevDeleter>;
using EnumPtr = std::unique_ptr<udev_enumerate, EnumDeleter>;
using DevicePtr = std::unique_ptr<udev_device, DeviceDeleter>;
using MonitorPtr = std::unique_ptr<udev_monitor, MonitorDeleter>;

const char* const kAttributes[] = {"idVendor",
                                   "idProduct",
                                   "bcdDevice",
                                   "busnum",
                                   "devnum",
                                   "speed",
                                   "serial",
                                   "manufacturer",
                                   "product",
                                   "bDeviceClass",
                                   "bDeviceSubClass",
                                   "bDeviceProtocol",
                                   "bConfigurationValue",
                                   "bNumConfigurations"};

constexpr int kRescanMs = 5000;

std::string Str(const char* s) { return s == nullptr ? "" : s; }

// Returns the syspaths an enumeration matched.
std::vector<std::string> Scan(udev* u, const char* devtype, udev_device* parent) {
  EnumPtr e(udev_enumerate_new(u));
  std::vector<std::string> out;
  if (!e) return out;
  udev_enumerate_add_match_subsystem(e.get(), "usb");
  udev_enumerate_add_match_property(e.get(), "DEVTYPE", devtype);
  if (parent != nullptr) udev_enumerate_add_match_parent(e.get(), parent);
  udev_enumerate_scan_devices(e.get());
  udev_list_entry* entry;
  udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e.get())) {
    out.push_back(Str(udev_list_entry_get_name(entry)));
  }
  return out;
}

absl::StatusOr<UsbDeviceInfo> ReadDevice(udev* u, const std::string& syspath) {
  DevicePtr d(udev_device_new_from_syspath(u, syspath.c_str()));
  if (!d) return absl::NotFoundError(absl::StrCat("udev: ", syspath, " vanished"));
  std::map<std::string, std::string> attrs;
  for (const char* a : kAttributes) attrs[a] = Str(udev_device_get_sysattr_value(d.get(), a));
  attrs["busid"] = Str(udev_device_get_sysname(d.get()));
  attrs["syspath"] = syspath;
  attrs["devnode"] = Str(udev_device_get_devnode(d.get()));
  attrs["MAJOR"] = Str(udev_device_get_property_value(d.get(), "MAJOR"));
  attrs["MINOR"] = Str(udev_device_get_property_value(d.get(), "MINOR"));
  auto info = UsbInfoFromSysfs(attrs);
  if (!info.ok()) return info.status();
  for (const std::string& path : Scan(u, "usb_interface", d.get())) {
    DevicePtr i(udev_device_new_from_syspath(u, path.c_str()));
    if (!i) continue;
    auto hex = [&](const char* a) {
      return static_cast<uint8_t>(
          strtoul(Str(udev_device_get_sysattr_value(i.get(), a)).c_str(), nullptr, 16));
    };
    info->interfaces.push_back(
        {hex("bInterfaceClass"), hex("bInterfaceSubClass"), hex("bInterfaceProtocol")});
  }
  return info;
}

class UdevUsbInventory : public UsbInventory {
 public:
  UdevUsbInventory(UdevPtr u, MonitorPtr m, platform::UniqueFd stop)
      : udev_(std::move(u)), monitor_(std::move(m)), stop_(std::move(stop)) {
    Rescan();
    thread_ = std::thread([this] { Run(); });
  }
  ~UdevUsbInventory() override {
    uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof(one));
    thread_.join();
  }

  std::vector<UsbDeviceInfo> List() const override {
    absl::MutexLock l(&mu_);
    std::vector<UsbDeviceInfo> out;
    for (const auto& [path, info] : devices_) out.push_back(info);
    return out;
  }
  void OnChange(std::function<void()> changed) override {
    absl::MutexLock l(&mu_);
    changed_ = std::move(changed);
  }

 private:
  // Returns whether the set of devices (or any attribute) changed.
  bool Rescan() {
    std::map<std::string, UsbDeviceInfo> found;
    std::vector<std::string> paths = Scan(udev_.get(), "usb_device", nullptr);
    // A removal is trusted until sysfs agrees, so a lost "add" cannot hide a re-plug forever.
    for (auto it = removed_.begin(); it != removed_.end();) {
      it = std::find(paths.begin(), paths.end(), *it) == paths.end() ? removed_.erase(it) : ++it;
    }
    for (const std::string& path : paths) {
      auto info = ReadDevice(udev_.get(), path);
      if (!info.ok()) {
        if (!absl::IsNotFound(info.status())) {
          log::Warning(absl::StrCat("usb: skipping ", path, ": ", info.status().ToString()));
        }
        continue;
      }
      if (info->device_class == 0x09) continue;  // hubs
      if (removed_.count(path) != 0) continue;
      found[path] = *std::move(info);
    }
    absl::MutexLock l(&mu_);
    bool changed = found.size() != devices_.size();
    for (auto it = found.begin(); !changed && it != found.end(); ++it) {
      auto old = devices_.find(it->first);
      changed = old == devices_.end() || old->second.devnum != it->second.devnum ||
                old->second.serial != it->second.serial;
    }
    devices_.swap(found);
    return changed;
  }

  // Applies one uevent; returns whether the inventory changed.
  bool Apply(const std::string& path, bool removed) {
    std::optional<UsbDeviceInfo> info;
    if (removed) {
      removed_.insert(path);
    } else {
      removed_.erase(path);
      auto read = ReadDevice(udev_.get(), path);
      if (read.ok() && read->device_class != 0x09) info = *std::move(read);
    }
    absl::MutexLock l(&mu_);
    if (!info) return devices_.erase(path) > 0;
    devices_[path] = *std::move(info);
    return true;
  }

  void Run() {
    pollfd fds[2] = {{udev_monitor_get_fd(monitor_.get()), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    for (;;) {
      // Events can be lost (a full netlink buffer): look at the whole picture every few seconds
      // anyway, so the inventory converges without them.
      int ready = ::poll(fds, 2, kRescanMs);
      if (ready < 0) continue;
      if (fds[1].revents != 0) return;
      // Apply each queued event to the one device it names (cheap, so the event queue never
      // overflows while many devices arrive); a timeout re-reads everything.
      bool changed = ready == 0 ? Rescan() : false;
      while (ready > 0 && (fds[0].revents & POLLIN) != 0) {
        DevicePtr d{udev_monitor_receive_device(monitor_.get())};
        if (!d) break;
        changed |= Apply(Str(udev_device_get_syspath(d.get())),
                         Str(udev_device_get_action(d.get())) == "remove");
      }
      if (!changed) continue;
      std::function<void()> cb;
      {
        absl::MutexLock l(&mu_);
        cb = changed_;
      }
      if (cb) cb();
    }
  }

  UdevPtr udev_;
  MonitorPtr monitor_;
  platform::UniqueFd stop_;
  mutable absl::Mutex mu_;
  std::map<std::string, UsbDeviceInfo> devices_ ABSL_GUARDED_BY(mu_);
  std::function<void()> changed_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> removed_;  // only touched by the monitor thread (and the constructor)
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<UsbInventory>> NewUdevUsbInventory() {
  UdevPtr u(udev_new());
  if (!u) return absl::UnavailableError("udev: udev_new failed");
  // Without udevd (containers, minimal hosts) only the kernel's own uevents exist.
  bool have_udevd = getenv("UMOCKDEV_DIR") != nullptr || access("/run/udev/control", F_OK) == 0;
  MonitorPtr m(udev_monitor_new_from_netlink(u.get(), have_udevd ? "udev" : "kernel"));
  if (!m) return absl::UnavailableError("udev: cannot open the udev monitor (netlink)");
  udev_monitor_filter_add_match_subsystem_devtype(m.get(), "usb", "usb_device");
  if (udev_monitor_enable_receiving(m.get()) < 0) {
    return absl::UnavailableError("udev: cannot receive udev events");
  }
  platform::UniqueFd stop(::eventfd(0, EFD_CLOEXEC));
  if (!stop.valid()) return absl::InternalError("udev: eventfd failed");
  return std::make_unique<UdevUsbInventory>(std::move(u), std::move(m), std::move(stop));
}

}  // namespace berth::agent
