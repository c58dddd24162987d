#ifndef BERTH_CONTROLLER_AGENT_CLIENT_H_
#define BERTH_CONTROLLER_AGENT_CLIENT_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent.pb.h"
#include "berth/controller/object_store.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"

namespace berth::controller {

namespace agentpb = ::berth::agent::v1;

// Calls one node agent. Every call is idempotent on the agent side. Thread-safe.
class AgentClient {
 public:
  virtual ~AgentClient() = default;
  virtual absl::StatusOr<agentpb::NodeInfo> GetInfo() = 0;
  virtual absl::StatusOr<agentpb::Volume> CreateVolume(const agentpb::CreateVolumeRequest& r) = 0;
  virtual absl::StatusOr<bool> DeleteVolume(const std::string& pool, const std::string& id) = 0;
  virtual absl::StatusOr<agentpb::Snapshot> CreateSnapshot(
      const agentpb::CreateSnapshotRequest& r) = 0;
  virtual absl::StatusOr<agentpb::Snapshot> GetSnapshot(const std::string& pool,
                                                        const std::string& id) = 0;
  virtual absl::StatusOr<bool> DeleteSnapshot(const std::string& pool, const std::string& id) = 0;
  // Every snapshot in `pool`.
  virtual absl::StatusOr<agentpb::ListSnapshotsResponse> ListSnapshots(const std::string& pool) = 0;

  virtual absl::StatusOr<agentpb::DomainStatus> DefineDomain(
      const agentpb::DefineDomainRequest& r) = 0;
  virtual absl::StatusOr<agentpb::DomainStatus> StartDomain(const std::string& name) = 0;
  virtual absl::StatusOr<agentpb::DomainStatus> StopDomain(const std::string& name, bool force) = 0;
  virtual absl::StatusOr<bool> DeleteDomain(const std::string& name) = 0;
  virtual absl::StatusOr<agentpb::DomainStatus> GetDomain(const std::string& name) = 0;
  virtual absl::StatusOr<agentpb::SnapshotVolumesResponse> SnapshotVolumes(
      const agentpb::SnapshotVolumesRequest& r) = 0;

  // Live migration (proto/agent.proto). Agents that cannot migrate answer Unimplemented.
  virtual absl::StatusOr<agentpb::PreparedMigration> PrepareMigration(
      const agentpb::DefineDomainRequest& r) {
    return absl::UnimplementedError("this agent cannot receive migrations");
  }
  virtual absl::StatusOr<agentpb::MigrationStatus> MigrateDomain(
      const agentpb::MigrateDomainRequest& r) {
    return absl::UnimplementedError("this agent cannot migrate domains");
  }
  virtual absl::StatusOr<agentpb::MigrationStatus> GetMigration(const std::string& name) {
    return absl::UnimplementedError("this agent cannot migrate domains");
  }
  virtual absl::StatusOr<agentpb::MigrationStatus> AbortMigration(const std::string& name) {
    return absl::UnimplementedError("this agent cannot migrate domains");
  }
};

// Finds the client for a node. Thread-safe.
class AgentDirectory {
 public:
  virtual ~AgentDirectory() = default;
  // Unavailable when the node is unknown or has no address yet.
  virtual absl::StatusOr<std::shared_ptr<AgentClient>> ForNode(const std::string& node) = 0;
};

// One gRPC channel per node, dialled at the address its Node object records in
// status.address with the controller's credentials (mTLS), replaced when the address changes.
// Thread-safe; shared by every agent-facing client.
//
// A channel that failed to connect (the agent was restarting) waits out gRPC's reconnect
// backoff, which grows to minutes, failing every call meanwhile. Callers already retry with
// their own backoff, so a channel in that state is let to dial again at once, at most once per
// kRedialEvery: a restarted agent is reachable as soon as it listens.
class AgentChannels {
 public:
  AgentChannels(ObjectStore& store, std::shared_ptr<grpc::ChannelCredentials> credentials)
      : store_(store), credentials_(std::move(credentials)) {}
  absl::StatusOr<std::shared_ptr<grpc::Channel>> ForNode(const std::string& node);

 private:
  struct Entry {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
    absl::Time redialed = absl::InfinitePast();
  };
  ObjectStore& store_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  absl::Mutex mu_;
  std::map<std::string, Entry> channels_ ABSL_GUARDED_BY(mu_);
};

// Dials agents over gRPC through `channels`.
class GrpcAgentDirectory : public AgentDirectory {
 public:
  explicit GrpcAgentDirectory(AgentChannels& channels) : channels_(channels) {}
  absl::StatusOr<std::shared_ptr<AgentClient>> ForNode(const std::string& node) override;

 private:
  AgentChannels& channels_;
  absl::Mutex mu_;
  std::map<std::string, std::pair<std::shared_ptr<grpc::Channel>, std::shared_ptr<AgentClient>>>
      clients_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_AGENT_CLIENT_H_
