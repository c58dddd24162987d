#ifndef BERTH_AGENT_AGENT_SERVICE_H_
#define BERTH_AGENT_AGENT_SERVICE_H_

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent.grpc.pb.h"
#include "berth/agent/guest.h"
#include "berth/agent/hypervisor.h"
#include "berth/agent/storage_backend.h"
#include "grpcpp/security/credentials.h"

namespace berth::agent {

inline constexpr char kAgentVersion[] = "0.1.0";

// What the guest (VM) RPCs run on; none of it is owned. With libvirt unavailable the three
// pointers are null and the VM RPCs (and SnapshotVolumes with freeze) return Unavailable
// carrying `unavailable_reason`.
struct GuestServices {
  Hypervisor* hypervisor = nullptr;
  GuestAgent* agent = nullptr;
  Freezer* freezer = nullptr;
  std::string unavailable_reason;
  // NoCloud seed images go to STATE/cloud-init, serial console logs to STATE/console.
  std::string state_dir;
  // This node's libvirtd as other nodes' hypervisors reach it (live migration's target URI).
  std::string migration_uri;
  // Tests only: SnapshotVolumes keeps the freeze this long after its cuts.
  absl::Duration debug_hold_freeze = absl::ZeroDuration();
  // Times snapshot freezes; null: the system clock.
  const Clock* clock = nullptr;
};

// Serves berth.agent.v1.NodeAgent over the node's pools and guests: proto <-> domain types
// only. `pools` and everything `guests` points to must outlive the service.
std::unique_ptr<::berth::agent::v1::NodeAgent::Service> NewNodeAgentService(
    const std::string& node_name, const PoolMap& pools, GuestServices guests = {});

// Registers the node with the controller and sends heartbeats from an owned thread;
// registers again whenever the controller says it does not know the node. Stop() joins.
class Registration {
 public:
  Registration(std::string controller, std::string node_name, std::string advertise,
               std::shared_ptr<grpc::ChannelCredentials> credentials);
  ~Registration();
  void Start();
  void Stop();

 private:
  void Run();
  const std::string controller_;
  const std::string node_name_;
  const std::string advertise_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace berth::agent

#endif  // BERTH_AGENT_AGENT_SERVICE_H_
