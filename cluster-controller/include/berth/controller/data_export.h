// Disk export (DataExport) and upload (dataSource type Upload) on the controller side: the
// client of the agents' NodeExport service, the reconciler factories and the helper the
// VirtualMachine controller uses to refuse starting a VM whose disk is being exported.
// See docs/export.md.
#ifndef BERTH_CONTROLLER_DATA_EXPORT_H_
#define BERTH_CONTROLLER_DATA_EXPORT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent.pb.h"
#include "berth/controller/agent_client.h"
#include "berth/controller/controllers.h"
#include "berth/json.h"

namespace berth::controller {

inline constexpr char kExportFinalizer[] = "virtualization.deckhouse.io/berth-export";

// Returns whether any DataExport in `exports` (all of one namespace) targets the VirtualDisk
// named `disk` and may still read it: every phase but Expired and Failed, deleting included
// (until its finalizer has released the data). Pure.
bool DiskHasActiveExport(const std::vector<Json>& exports, const std::string& disk);

// Calls the NodeExport service of node agents. Thread-safe.
class ExportAgents {
 public:
  virtual ~ExportAgents() = default;
  virtual absl::StatusOr<agentpb::ExportInfo> StartExport(const std::string& node,
                                                          const agentpb::StartExportRequest& r) = 0;
  // NotFound when the agent does not serve the export.
  virtual absl::StatusOr<agentpb::ExportInfo> GetExport(const std::string& node,
                                                        const std::string& id) = 0;
  virtual absl::StatusOr<bool> StopExport(const std::string& node, const std::string& id) = 0;
};

// Dials agents at the address their Node object records (status.address).
std::unique_ptr<ExportAgents> NewGrpcExportAgents(AgentChannels& channels);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_DATA_EXPORT_H_
