#include "controllers/usb/usb_status.h"

#include "absl/strings/str_cat.h"
#include "berth/controller/status_util.h"
#include "berth/controller/usb.h"

namespace berth::controller {

std::string AttachedHolder(const std::vector<VmUsbUse>& uses) {
  for (const VmUsbUse& u : uses) {
    if (u.entry.value("attached", false) ||
        u.entry.value("state", "") == kUsbDetachedForMigration) {
      return u.vm;
    }
  }
  return "";
}

void ApplyAttached(Json& status, const Json& dev, const std::vector<VmUsbUse>& uses,
                   absl::Time now) {
  Json ready;
  for (const Json& c : status.value("conditions", Json::array())) {
    if (c.value("type", "") == "Ready") ready = c;
  }
  if (ready.value("status", "") != "True") {
    SetCondition(status, "Attached", false, "Available",
                 ready.value("reason", "") == "NotFound"
                     ? "Device is absent on the host and cannot be attached"
                     : "Device is not ready",
                 dev, now);
    return;
  }
  for (const VmUsbUse& u : uses) {
    if (u.entry.value("attached", false)) {
      SetCondition(status, "Attached", true, "AttachedToVirtualMachine",
                   absl::StrCat("Device is attached to VirtualMachine ", u.vm), dev, now);
      return;
    }
  }
  for (const VmUsbUse& u : uses) {
    if (u.entry.value("state", "") == kUsbDetachedForMigration) {
      SetCondition(status, "Attached", false, "DetachedForMigration",
                   absl::StrCat("Device was detached while VirtualMachine ", u.vm, " migrates"),
                   dev, now);
      return;
    }
    if (u.entry.value("reason", "") == "NoFreeUSBIPPort") {
      SetCondition(status, "Attached", false, "NoFreeUSBIPPort", u.entry.value("message", ""), dev,
                   now);
      return;
    }
  }
  SetCondition(status, "Attached", false, "Available", "Device is available for attachment", dev,
               now);
}

Json UsbDeviceStatus(const Json& src, const Json& usb_device, absl::Time now) {
  Json status = usb_device.value("status", Json::object());
  status["nodeName"] = src.value("nodeName", "");
  status["attributes"] = src.value("attributes", Json::object());
  for (const Json& c : src.value("conditions", Json::array())) {
    std::string type = c.value("type", "");
    if (type != "Ready" && type != "Attached") continue;
    SetCondition(status, type, c.value("status", "") == "True", c.value("reason", ""),
                 c.value("message", ""), usb_device, now);
  }
  return status;
}

UsbMigrationAction NextUsbMigrationAction(const std::string& phase, const std::string& state) {
  if (phase == "InProgress" && state == kUsbAttached) return UsbMigrationAction::kDetachFromSource;
  if (state != kUsbDetachedForMigration) return UsbMigrationAction::kNone;
  if (phase == "Succeeded") return UsbMigrationAction::kAttachOnTarget;
  if (phase == "Failed") return UsbMigrationAction::kReattachOnSource;
  return UsbMigrationAction::kNone;
}

}  // namespace berth::controller
