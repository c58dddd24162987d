// Hot-plugs host USB devices into running domains as libvirt <hostdev type='usb'>, addressed by
// bus and device number (vendor/product alone is ambiguous with two identical devices).
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "usb/usb_node.h"

namespace berth::agent {
namespace {

struct ConnCloser {
  void operator()(virConnectPtr c) const { virConnectClose(c); }
};
struct DomainFreer {
  void operator()(virDomainPtr d) const { virDomainFree(d); }
};
using UniqueConn = std::unique_ptr<virConnect, ConnCloser>;
using UniqueDomain = std::unique_ptr<virDomain, DomainFreer>;

void QuietErrors(void*, virErrorPtr) {}

std::string LastError() {
  const char* text = virGetLastErrorMessage();
  return text == nullptr ? "unknown libvirt error" : text;
}

std::string HostdevXml(const UsbDeviceInfo& d) {
  return absl::StrCat("<hostdev mode='subsystem' type='usb' managed='no'><source>",
                      "<vendor id='0x", Hex4(d.vendor_id), "'/><product id='0x", Hex4(d.product_id),
                      "'/><address bus='", d.busnum, "' device='", d.devnum,
                      "'/></source></hostdev>");
}

class LibvirtUsbAttacher : public UsbGuestAttacher {
 public:
  LibvirtUsbAttacher(std::string uri, UniqueConn conn)
      : uri_(std::move(uri)), conn_(std::move(conn)) {}

  absl::Status Attach(const std::string& domain, const UsbDeviceInfo& device) override {
    return Apply(domain, device, true);
  }
  absl::Status Detach(const std::string& domain, const UsbDeviceInfo& device) override {
    return Apply(domain, device, false);
  }

 private:
  absl::Status Apply(const std::string& domain, const UsbDeviceInfo& device, bool attach) {
    absl::MutexLock l(&mu_);
    if (!conn_ || virConnectIsAlive(conn_.get()) != 1) {
      conn_.reset(virConnectOpen(uri_.c_str()));
      if (!conn_) return absl::UnavailableError("libvirt: cannot connect to " + uri_);
    }
    UniqueDomain dom(virDomainLookupByName(conn_.get(), domain.c_str()));
    if (!dom) return absl::NotFoundError(absl::StrCat("libvirt: no domain ", domain));
    std::string xml = HostdevXml(device);
    unsigned int flags = VIR_DOMAIN_AFFECT_LIVE;
    int rc = attach ? virDomainAttachDeviceFlags(dom.get(), xml.c_str(), flags)
                    : virDomainDetachDeviceFlags(dom.get(), xml.c_str(), flags);
    if (rc != 0) {
      return absl::FailedPreconditionError(absl::StrCat("libvirt: ", attach ? "attach" : "detach",
                                                        " USB ", device.busid, " to ", domain, ": ",
                                                        LastError()));
    }
    return absl::OkStatus();
  }

  const std::string uri_;
  absl::Mutex mu_;
  UniqueConn conn_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<UsbGuestAttacher>> NewLibvirtUsbAttacher(const std::string& uri) {
  virSetErrorFunc(nullptr, QuietErrors);
  UniqueConn conn(virConnectOpen(uri.c_str()));
  if (!conn)
    return absl::UnavailableError("libvirt: cannot connect to " + uri + ": " + LastError());
  return std::make_unique<LibvirtUsbAttacher>(uri, std::move(conn));
}

}  // namespace berth::agent
