#ifndef BERTH_AGENT_SERVER_DOMAIN_RPCS_H_
#define BERTH_AGENT_SERVER_DOMAIN_RPCS_H_

#include <string>

#include "agent.grpc.pb.h"
#include "berth/agent/agent_service.h"

namespace berth::agent {

// The guest RPCs of NodeAgent (domains through libvirt, multi-volume cuts with a freeze):
// proto <-> domain types and the order of calls, nothing else. Thread-safe.
class DomainRpcs {
 public:
  DomainRpcs(std::string node, const PoolMap& pools, GuestServices guests)
      : node_(std::move(node)), pools_(pools), guests_(std::move(guests)) {}

  grpc::Status Define(const v1::DefineDomainRequest& req, v1::DomainStatus* resp);
  grpc::Status Start(const v1::DomainRequest& req, v1::DomainStatus* resp);
  grpc::Status Stop(const v1::StopDomainRequest& req, v1::DomainStatus* resp);
  grpc::Status Delete(const v1::DomainRequest& req, v1::DeleteResponse* resp);
  grpc::Status Get(const v1::DomainRequest& req, v1::DomainStatus* resp);
  grpc::Status SnapshotVolumes(const v1::SnapshotVolumesRequest& req,
                               v1::SnapshotVolumesResponse* resp);

 private:
  struct Cut;  // one volume of a SnapshotVolumes call

  absl::Status Available() const;
  absl::StatusOr<DomainSpec> ToSpec(const v1::DefineDomainRequest& req);
  // Fills state and accelerator; with `probe_agent` also the guest agent's view.
  absl::Status FillStatus(const std::string& name, bool probe_agent, v1::DomainStatus* out);
  absl::StatusOr<std::vector<Cut>> PrepareCuts(const v1::SnapshotVolumesRequest& req);
  absl::Status CutAll(std::vector<Cut>& cuts);
  void DeleteNewCuts(const std::vector<Cut>& cuts);
  // Freezes `domain`, cuts, thaws; fills the freeze fields of `resp`.
  absl::Status CutFrozen(const std::string& domain, std::vector<Cut>& cuts,
                         v1::SnapshotVolumesResponse* resp);
  absl::Status Snapshot(const v1::SnapshotVolumesRequest& req, v1::SnapshotVolumesResponse* resp);

  const std::string node_;
  const PoolMap& pools_;
  const GuestServices guests_;
};

}  // namespace berth::agent

#endif  // BERTH_AGENT_SERVER_DOMAIN_RPCS_H_
