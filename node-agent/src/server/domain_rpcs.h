#ifndef BERTH_AGENT_SERVER_DOMAIN_RPCS_H_
#define BERTH_AGENT_SERVER_DOMAIN_RPCS_H_

#include <memory>
#include <string>

#include "agent.grpc.pb.h"
#include "berth/agent/agent_service.h"
#include "berth/time_util.h"
#include "guest/migrations.h"
#include "guest/snapshot_coordinator.h"

namespace berth::agent {

// The guest RPCs of NodeAgent (domains through libvirt, multi-volume snapshots through the
// SnapshotCoordinator): proto <-> domain types and the order of calls, nothing else.
// Thread-safe.
class DomainRpcs {
 public:
  DomainRpcs(std::string node, const PoolMap& pools, GuestServices guests);

  grpc::Status Define(const v1::DefineDomainRequest& req, v1::DomainStatus* resp);
  grpc::Status Start(const v1::DomainRequest& req, v1::DomainStatus* resp);
  grpc::Status Stop(const v1::StopDomainRequest& req, v1::DomainStatus* resp);
  grpc::Status Delete(const v1::DomainRequest& req, v1::DeleteResponse* resp);
  grpc::Status Get(const v1::DomainRequest& req, v1::DomainStatus* resp);
  grpc::Status SnapshotVolumes(const v1::SnapshotVolumesRequest& req,
                               v1::SnapshotVolumesResponse* resp);
  const std::string& migration_uri() const { return guests_.migration_uri; }
  grpc::Status PrepareMigration(const v1::DefineDomainRequest& req, v1::PreparedMigration* resp);
  grpc::Status Migrate(const v1::MigrateDomainRequest& req, v1::MigrationStatus* resp);
  grpc::Status GetMigration(const v1::DomainRequest& req, v1::MigrationStatus* resp);
  grpc::Status AbortMigration(const v1::DomainRequest& req, v1::MigrationStatus* resp);

 private:
  // The domain's files under the state directory.
  std::string SerialLog(const std::string& name) const;
  std::string CloudInitIso(const std::string& name) const;
  static void FillMigration(const std::string& name, const MigrationState& m,
                            v1::MigrationStatus* out);
  absl::Status Available() const;
  absl::StatusOr<DomainSpec> ToSpec(const v1::DefineDomainRequest& req);
  // Fills state and accelerator; with `probe_agent` also the guest agent's view.
  absl::Status FillStatus(const std::string& name, bool probe_agent, v1::DomainStatus* out);
  static SnapshotRequest ToRequest(const v1::SnapshotVolumesRequest& req);
  absl::Status Snapshot(const v1::SnapshotVolumesRequest& req, v1::SnapshotVolumesResponse* resp);

  const std::string node_;
  const GuestServices guests_;
  const RealClock real_clock_;  // used when `guests_.clock` is null
  const SnapshotCoordinator snapshots_;
  std::unique_ptr<Migrations> migrations_;  // null without libvirt
};

}  // namespace berth::agent

#endif  // BERTH_AGENT_SERVER_DOMAIN_RPCS_H_
