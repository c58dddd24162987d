#ifndef BERTH_AGENT_AGENT_SERVICE_H_
#define BERTH_AGENT_AGENT_SERVICE_H_

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "agent.grpc.pb.h"
#include "berth/agent/storage_backend.h"

namespace berth::agent {

inline constexpr char kAgentVersion[] = "0.1.0";

// Pools this node serves, by pool name. Fixed after start-up.
using PoolMap = std::map<std::string, std::unique_ptr<StorageBackend>>;

// Serves berth.agent.v1.NodeAgent over the node's pools: proto <-> domain types only.
std::unique_ptr<::berth::agent::v1::NodeAgent::Service> NewNodeAgentService(
    const std::string& node_name, const PoolMap& pools);

// Registers the node with the controller and sends heartbeats from an owned thread;
// registers again whenever the controller says it does not know the node. Stop() joins.
class Registration {
 public:
  Registration(std::string controller, std::string node_name, std::string advertise);
  ~Registration();
  void Start();
  void Stop();

 private:
  void Run();
  const std::string controller_;
  const std::string node_name_;
  const std::string advertise_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace berth::agent

#endif  // BERTH_AGENT_AGENT_SERVICE_H_
