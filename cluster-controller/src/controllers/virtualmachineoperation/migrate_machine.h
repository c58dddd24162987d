// Migrate and Evict (VirtualMachineOperation) as pure functions (berth/controller/step.h).
// Live migration with storage copy: the target node gets a volume for each VirtualDisk, the
// source agent migrates the domain peer-to-peer to the target's hypervisor, then the disks'
// status points at the target and the source's volumes are deleted. The VM is marked
// (status.migration) while it moves: its own reconciler leaves the domain alone meanwhile.
//
//   phase/step       observation                                -> next
//   (new)|Pending    the VM missing                             -> Failed VirtualMachineNotFound
//                    the VM not Running on a node               -> Failed VirtualMachineNotRunning
//                    a VirtualImage attached                    -> Failed NotSupported
//                    no Ready, schedulable node other than the
//                    VM's matches spec.migrate.nodeSelector and
//                    has every disk's pool                      -> Failed NoSuitableNode (each
//                                                                  node's reason in the message)
//                    otherwise                                  -> InProgress PreparingTarget,
//                                                                  step prepare, source and
//                                                                  target node (finalizer first),
//                                                                  then kMark
//   prepare                                                     -> kPrepare: the VM marked (USB
//                                                                  devices detached,
//                                                                  DetachedForMigration), the
//                                                                  target's files and volumes
//                                                                  (recorded before the migration
//                                                                  starts), MigrateDomain; step
//                                                                  migrate
//   migrate          source Running                             -> Migrating, figures, progress,
//                                                                  poll 100 ms
//                    source Completed, or the guest runs on the
//                    target                                     -> step switch
//                    source Failed                              -> step rollback, the reason
//                    source knows nothing (agent restarted)
//                    and the guest runs on the source           -> step rollback
//                                                                  MigrationInterrupted
//                    neither agent answers                      -> (the error, retried)
//   switch                                                      -> kSwitch: disks and VM point at
//                                                                  the target (its reconciler
//                                                                  attaches USB devices there),
//                                                                  the source's volumes deleted;
//                                                                  Completed
//   rollback         the guest runs on the target after all     -> step switch
//                    otherwise                                  -> kRollBack: migration aborted,
//                                                                  the target's volumes and
//                                                                  definition deleted, the VM
//                                                                  released (USB devices attached
//                                                                  on the source again); Failed
//                                                                  with the reason
//   deleting while InProgress: before switch, step rollback MigrationCancelled; at switch, the
//   switch is finished first.
#ifndef BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_MIGRATE_MACHINE_H_
#define BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_MIGRATE_MACHINE_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "berth/controller/agent_client.h"
#include "berth/controller/step.h"
#include "berth/controller/vocabulary.h"
#include "controllers/common/placement.h"

namespace berth::controller::vmop::migrate {

inline constexpr char kStepPrepare[] = "prepare";
inline constexpr char kStepMigrate[] = "migrate";
inline constexpr char kStepSwitch[] = "switch";
inline constexpr char kStepRollBack[] = "rollback";

inline constexpr int64_t kDefaultMaxDowntimeMs = 300;
// How often step migrate asks the source how far it got: the switch-over follows the end of the
// job by at most this much. A poll is one GetMigration, answered from the agent's memory; the
// figures in it change once a second (the agent's watchdog), so the status is written no more
// often than that. Since the disk copy got fast (docs/migration.md) a 1 GiB migration's job
// takes ~3.5 s, and the 125 ms a 250 ms poll lost on average was a visible part of it.
inline constexpr absl::Duration kMigratePoll = absl::Milliseconds(100);
inline constexpr int64_t kDefaultTimeoutSeconds = 600;

enum class Action {
  kNone,
  kPrepare,   // mark the VM, prepare the target, create its volumes, start the migration
  kSwitch,    // point disks and VM at the target, delete the source's volumes
  kRollBack,  // abort, delete the target's volumes and definition, release the VM
};

// A VirtualDisk of the VM as the migration sees it.
struct Disk {
  std::string name;
  std::string uid;   // the volume's id on every node
  std::string pool;  // the same pool name on the target
  std::string path;  // on the source
  uint64_t size_bytes = 0;
};

// A Node as placement sees it.
struct Node {
  std::string name;
  bool ready = false;
  bool unschedulable = false;  // cordoned
  std::map<std::string, std::string> labels;
  std::set<std::string> pools;
  Json taints = Json::array();  // spec.taints
};

struct Observation {
  const Json* vm = nullptr;  // null: not found
  std::vector<Disk> disks;
  bool has_images = false;  // a VirtualImage or ClusterVirtualImage is attached
  std::vector<Node> nodes;
  // Step migrate and rollback: what the agents say (nullopt: not asked or no answer).
  std::optional<agentpb::MigrationStatus> source;
  std::optional<agentpb::DomainStatus> source_domain;
  std::optional<agentpb::DomainStatus> target_domain;
};

// Where the VM may go: the nodes other than `source` that are Ready, schedulable, fit
// `constraints` (the VM's nodeSelector, required nodeAffinity and tolerations, with the
// operation's spec.migrate.nodeSelector added) and have every pool; sorted by name. `why` gets
// one reason per node refused.
std::vector<std::string> Targets(const std::string& source, const NodeConstraints& constraints,
                                 const std::vector<Disk>& disks, const std::vector<Node>& nodes,
                                 std::vector<std::string>* why);

// Pending: validate and choose the target.
Step<Action> PlanStart(const types::VirtualMachineOperation& op, const Observation& obs,
                       absl::Time now);

// InProgress, by step (see the table).
Step<Action> PlanStep(const types::VirtualMachineOperation& op, const Observation& obs,
                      absl::Time now);

// The status with the source's figures folded in (dataTotalBytes, progress, ...).
Json WithFigures(Json status, const agentpb::MigrationStatus& m);

// The status at `step` with a progress reason.
Json AtStep(const types::VirtualMachineOperation& op, const std::string& step,
            const std::string& reason, const std::string& message, absl::Time now);

// After kSwitch (ok) or kRollBack: the conclusion, with the target's downtime figure.
Step<Action> Conclude(const types::VirtualMachineOperation& op, Json status, bool ok,
                      const std::string& reason, const std::string& message, absl::Time now);

}  // namespace berth::controller::vmop::migrate

#endif  // BERTH_CONTROLLER_CONTROLLERS_VIRTUALMACHINEOPERATION_MIGRATE_MACHINE_H_
