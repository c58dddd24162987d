#include "usb/usb_grpc.h"

#include "berth/grpc_status.h"
#include "usb/usbip_server.h"

namespace berth::agent {
namespace {

namespace pb = ::berth::agent::v1;

void ToProto(const UsbAttachmentInfo& a, pb::UsbAttachment* out) {
  out->set_id(a.id);
  out->set_domain(a.domain);
  out->set_busid(a.busid);
  out->set_mode(a.mode);
  out->set_vhci_port(a.vhci_port);
  out->set_bus(a.bus);
  out->set_port(a.port);
  out->set_guest_attached(a.guest_attached);
  out->set_message(a.message);
}

class NodeUsbService : public pb::NodeUSB::Service {
 public:
  NodeUsbService(std::string node, UsbNode& usb, std::string address)
      : node_(std::move(node)), usb_(usb), address_(std::move(address)) {}

  grpc::Status ListUsbDevices(grpc::ServerContext*, const pb::ListUsbDevicesRequest*,
                              pb::ListUsbDevicesResponse* resp) override {
    std::set<std::string> imported;
    if (UsbIpServer* s = usb_.server()) imported = s->Imported();
    for (const UsbDeviceInfo& d : usb_.Devices()) {
      pb::UsbDeviceAttributes* a = resp->add_devices();
      a->set_name(StableUsbName(node_, d));
      a->set_busid(d.busid);
      a->set_syspath(d.syspath);
      a->set_bus(d.busnum);
      a->set_device_number(d.devnum);
      a->set_speed(UsbSpeedMbps(d.speed));
      a->set_speed_code(static_cast<uint32_t>(d.speed));
      a->set_vendor_id(Hex4(d.vendor_id));
      a->set_product_id(Hex4(d.product_id));
      a->set_bcd(Hex4(d.bcd_device));
      a->set_serial(d.serial);
      a->set_manufacturer(d.manufacturer);
      a->set_product(d.product);
      a->set_device_path(d.devpath);
      a->set_major(d.major);
      a->set_minor(d.minor);
      a->set_exported(usb_.IsExported(d.busid));
      a->set_imported(imported.count(d.busid) != 0);
    }
    resp->set_usbip_address(address_);
    if (VhciDriver* vhci = usb_.vhci()) {
      auto ports = vhci->Ports();
      resp->set_vhci_available(ports.ok());
      if (ports.ok()) {
        std::set<int> held;
        for (const UsbAttachmentInfo& a : usb_.Attachments()) held.insert(a.vhci_port);
        for (const VhciPort& p : *ports) {
          if (!p.free() || held.count(p.port)) continue;
          if (p.super_speed) {
            resp->set_free_super_speed_ports(resp->free_super_speed_ports() + 1);
          } else {
            resp->set_free_high_speed_ports(resp->free_high_speed_ports() + 1);
          }
        }
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status SetUsbExports(grpc::ServerContext*, const pb::SetUsbExportsRequest* req,
                             pb::SetUsbExportsResponse* resp) override {
    std::vector<std::string> busids(req->busids().begin(), req->busids().end());
    for (const std::string& b : usb_.SetExports(busids)) resp->add_exported(b);
    return grpc::Status::OK;
  }

  grpc::Status AttachUsb(grpc::ServerContext*, const pb::AttachUsbRequest* req,
                         pb::UsbAttachment* resp) override {
    UsbAttachRequest r{req->id(), req->domain(), req->busid(), req->remote_address(),
                       static_cast<UsbSpeed>(req->speed_code())};
    auto a = usb_.Attach(r);
    if (!a.ok()) return ToGrpcStatus(a.status());
    ToProto(*a, resp);
    return grpc::Status::OK;
  }

  grpc::Status DetachUsb(grpc::ServerContext*, const pb::DetachUsbRequest* req,
                         pb::DeleteResponse* resp) override {
    auto existed = usb_.Detach(req->id());
    if (!existed.ok()) return ToGrpcStatus(existed.status());
    resp->set_existed(*existed);
    return grpc::Status::OK;
  }

  grpc::Status ListUsbAttachments(grpc::ServerContext*, const pb::ListUsbAttachmentsRequest*,
                                  pb::ListUsbAttachmentsResponse* resp) override {
    for (const UsbAttachmentInfo& a : usb_.Attachments()) ToProto(a, resp->add_attachments());
    return grpc::Status::OK;
  }

 private:
  const std::string node_;
  UsbNode& usb_;
  const std::string address_;
};

}  // namespace

std::unique_ptr<pb::NodeUSB::Service> NewNodeUsbService(std::string node_name, UsbNode& node,
                                                        std::string usbip_address) {
  return std::make_unique<NodeUsbService>(std::move(node_name), node, std::move(usbip_address));
}

}  // namespace berth::agent
