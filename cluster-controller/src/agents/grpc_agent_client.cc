#include "absl/strings/str_cat.h"
#include "agent.grpc.pb.h"
#include "berth/controller/agent_client.h"
#include "berth/grpc_status.h"
#include "grpcpp/grpcpp.h"

namespace berth::controller {
namespace {

// Storage calls may copy whole disks (the `copy` backend), so they get a long deadline.
constexpr absl::Duration kShortDeadline = absl::Seconds(10);
constexpr absl::Duration kLongDeadline = absl::Minutes(30);
// See AgentChannels.
constexpr absl::Duration kRedialEvery = absl::Seconds(1);
// gRPC refuses answers over 4 MB by default; a pool's ListSnapshots carries about 200 bytes a
// snapshot, so a pool of more than ~20,000 snapshots could not be listed (the lost check then
// asked about each snapshot alone). 256 MiB is over a million snapshots.
constexpr int kMaxAgentAnswerBytes = 256 << 20;

class GrpcAgentClient : public AgentClient {
 public:
  GrpcAgentClient(const std::string& node, std::shared_ptr<grpc::Channel> channel)
      : node_(node), stub_(agentpb::NodeAgent::NewStub(channel)) {}

  absl::StatusOr<agentpb::NodeInfo> GetInfo() override {
    return Call<agentpb::NodeInfo>(&agentpb::NodeAgent::Stub::GetInfo, agentpb::GetInfoRequest(),
                                   kShortDeadline);
  }
  absl::StatusOr<agentpb::Volume> CreateVolume(const agentpb::CreateVolumeRequest& r) override {
    return Call<agentpb::Volume>(&agentpb::NodeAgent::Stub::CreateVolume, r, kLongDeadline);
  }
  absl::StatusOr<bool> DeleteVolume(const std::string& pool, const std::string& id) override {
    agentpb::DeleteVolumeRequest r;
    r.set_pool(pool);
    r.set_id(id);
    auto resp =
        Call<agentpb::DeleteResponse>(&agentpb::NodeAgent::Stub::DeleteVolume, r, kLongDeadline);
    if (!resp.ok()) return resp.status();
    return resp->existed();
  }
  absl::StatusOr<agentpb::Snapshot> CreateSnapshot(
      const agentpb::CreateSnapshotRequest& r) override {
    return Call<agentpb::Snapshot>(&agentpb::NodeAgent::Stub::CreateSnapshot, r, kLongDeadline);
  }
  absl::StatusOr<agentpb::Snapshot> GetSnapshot(const std::string& pool,
                                                const std::string& id) override {
    agentpb::GetSnapshotRequest r;
    r.set_pool(pool);
    r.set_id(id);
    return Call<agentpb::Snapshot>(&agentpb::NodeAgent::Stub::GetSnapshot, r, kShortDeadline);
  }
  absl::StatusOr<agentpb::ListSnapshotsResponse> ListSnapshots(const std::string& pool) override {
    agentpb::ListSnapshotsRequest r;
    r.set_pool(pool);
    return Call<agentpb::ListSnapshotsResponse>(&agentpb::NodeAgent::Stub::ListSnapshots, r,
                                                kShortDeadline);
  }
  absl::StatusOr<bool> DeleteSnapshot(const std::string& pool, const std::string& id) override {
    agentpb::DeleteSnapshotRequest r;
    r.set_pool(pool);
    r.set_id(id);
    auto resp =
        Call<agentpb::DeleteResponse>(&agentpb::NodeAgent::Stub::DeleteSnapshot, r, kLongDeadline);
    if (!resp.ok()) return resp.status();
    return resp->existed();
  }

  absl::StatusOr<agentpb::DomainStatus> DefineDomain(
      const agentpb::DefineDomainRequest& r) override {
    return Call<agentpb::DomainStatus>(&agentpb::NodeAgent::Stub::DefineDomain, r, kLongDeadline);
  }
  absl::StatusOr<agentpb::DomainStatus> StartDomain(const std::string& name) override {
    agentpb::DomainRequest r;
    r.set_name(name);
    return Call<agentpb::DomainStatus>(&agentpb::NodeAgent::Stub::StartDomain, r, kLongDeadline);
  }
  absl::StatusOr<agentpb::DomainStatus> StopDomain(const std::string& name, bool force) override {
    agentpb::StopDomainRequest r;
    r.set_name(name);
    r.set_force(force);
    return Call<agentpb::DomainStatus>(&agentpb::NodeAgent::Stub::StopDomain, r, kLongDeadline);
  }
  absl::StatusOr<bool> DeleteDomain(const std::string& name) override {
    agentpb::DomainRequest r;
    r.set_name(name);
    auto resp =
        Call<agentpb::DeleteResponse>(&agentpb::NodeAgent::Stub::DeleteDomain, r, kLongDeadline);
    if (!resp.ok()) return resp.status();
    return resp->existed();
  }
  absl::StatusOr<agentpb::DomainStatus> GetDomain(const std::string& name) override {
    agentpb::DomainRequest r;
    r.set_name(name);
    return Call<agentpb::DomainStatus>(&agentpb::NodeAgent::Stub::GetDomain, r, kShortDeadline);
  }
  absl::StatusOr<agentpb::SnapshotVolumesResponse> SnapshotVolumes(
      const agentpb::SnapshotVolumesRequest& r) override {
    return Call<agentpb::SnapshotVolumesResponse>(&agentpb::NodeAgent::Stub::SnapshotVolumes, r,
                                                  kLongDeadline);
  }
  absl::StatusOr<agentpb::PreparedMigration> PrepareMigration(
      const agentpb::DefineDomainRequest& r) override {
    return Call<agentpb::PreparedMigration>(&agentpb::NodeAgent::Stub::PrepareMigration, r,
                                            kLongDeadline);
  }
  absl::StatusOr<agentpb::MigrationStatus> MigrateDomain(
      const agentpb::MigrateDomainRequest& r) override {
    return Call<agentpb::MigrationStatus>(&agentpb::NodeAgent::Stub::MigrateDomain, r,
                                          kLongDeadline);
  }
  absl::StatusOr<agentpb::MigrationStatus> GetMigration(const std::string& name) override {
    agentpb::DomainRequest r;
    r.set_name(name);
    return Call<agentpb::MigrationStatus>(&agentpb::NodeAgent::Stub::GetMigration, r,
                                          kShortDeadline);
  }
  absl::StatusOr<agentpb::MigrationStatus> AbortMigration(const std::string& name) override {
    agentpb::DomainRequest r;
    r.set_name(name);
    return Call<agentpb::MigrationStatus>(&agentpb::NodeAgent::Stub::AbortMigration, r,
                                          kLongDeadline);
  }

 private:
  template <typename Resp, typename Req, typename Method>
  absl::StatusOr<Resp> Call(Method method, const Req& req, absl::Duration deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    Resp resp;
    grpc::Status s = (stub_.get()->*method)(&ctx, req, &resp);
    if (!s.ok()) {
      absl::Status st = FromGrpcStatus(s);
      return absl::Status(st.code(), absl::StrCat("node ", node_, ": ", st.message()));
    }
    return resp;
  }

  const std::string node_;
  std::unique_ptr<agentpb::NodeAgent::Stub> stub_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> AgentChannels::ForNode(const std::string& node) {
  auto obj = store_.Peek(ObjectKey{"Node", "", node});
  if (!obj.ok()) return absl::UnavailableError(absl::StrCat("node ", node, " is not registered"));
  std::string address = JsonString(**obj, "/status/address");
  if (address.empty()) {
    return absl::UnavailableError(absl::StrCat("node ", node, " has no address"));
  }
  absl::MutexLock l(&mu_);
  Entry& entry = channels_[node];
  if (entry.address != address || !entry.channel) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxAgentAnswerBytes);
    entry = Entry{address, grpc::CreateCustomChannel(address, credentials_, args)};
  } else if (entry.channel->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_TRANSIENT_FAILURE) {
    absl::Time now = absl::Now();  // wall time: only paces the redials
    if (now - entry.redialed >= kRedialEvery) {
      entry.redialed = now;
      grpc::experimental::ChannelResetConnectionBackoff(entry.channel.get());
    }
  }
  return entry.channel;
}

absl::StatusOr<std::shared_ptr<AgentClient>> GrpcAgentDirectory::ForNode(const std::string& node) {
  auto channel = channels_.ForNode(node);
  if (!channel.ok()) return channel.status();
  absl::MutexLock l(&mu_);
  auto& entry = clients_[node];
  if (entry.first != *channel || !entry.second) {
    entry = {*channel, std::make_shared<GrpcAgentClient>(node, *channel)};
  }
  return entry.second;
}

}  // namespace berth::controller
