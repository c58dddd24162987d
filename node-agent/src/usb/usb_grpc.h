// berth.agent.v1.NodeUSB over a UsbNode: proto <-> domain types only.
#ifndef BERTH_AGENT_USB_USB_GRPC_H_
#define BERTH_AGENT_USB_USB_GRPC_H_

#include <memory>
#include <string>

#include "agent.grpc.pb.h"
#include "usb/usb_node.h"

namespace berth::agent {

// `node` must outlive the service. `usbip_address` is what peers import from (may be empty).
std::unique_ptr<::berth::agent::v1::NodeUSB::Service> NewNodeUsbService(std::string node_name,
                                                                        UsbNode& node,
                                                                        std::string usbip_address);

}  // namespace berth::agent

#endif  // BERTH_AGENT_USB_USB_GRPC_H_
