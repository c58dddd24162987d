// The words the controller writes into objects that the CRDs cannot declare: condition types,
// condition reasons, finalizers and annotations, one namespace per kind. Fields, phases and
// other enums come from the CRDs themselves (berth/types/resources.h, generated).
#ifndef BERTH_CONTROLLER_VOCABULARY_H_
#define BERTH_CONTROLLER_VOCABULARY_H_

#include "berth/types/resources.h"

namespace berth::controller {

namespace types = ::berth::types;
namespace kinds = ::berth::types::kinds;

// Reasons and types shared by several kinds.
namespace common {
inline constexpr char kReady[] = "Ready";
inline constexpr char kCompleted[] = "Completed";
inline constexpr char kInProgress[] = "InProgress";
inline constexpr char kNotFound[] = "NotFound";
}  // namespace common

namespace node {
inline constexpr char kReady[] = "Ready";  // condition
inline constexpr char kReasonAgentHeartbeat[] = "AgentHeartbeat";
inline constexpr char kReasonAgentNotResponding[] = "AgentNotResponding";
}  // namespace node

namespace vd {                             // VirtualDisk
inline constexpr char kReady[] = "Ready";  // condition
inline constexpr char kReasonProvisioning[] = "Provisioning";
inline constexpr char kReasonReady[] = "Ready";
inline constexpr char kReasonStorageClassNotFound[] = "StorageClassNotFound";
inline constexpr char kReasonWaitingForDataSource[] = "WaitingForDataSource";
inline constexpr char kReasonWaitingForNode[] = "WaitingForNode";
inline constexpr char kReasonProvisioningFailed[] = "ProvisioningFailed";
}  // namespace vd

namespace vi {                             // VirtualImage and ClusterVirtualImage
inline constexpr char kReady[] = "Ready";  // condition
inline constexpr char kReasonProvisioning[] = "Provisioning";
inline constexpr char kReasonReady[] = "Ready";
inline constexpr char kReasonWaitingForSource[] = "WaitingForSource";
inline constexpr char kReasonSourceInUse[] = "SourceInUse";
inline constexpr char kReasonDataSourceNotSupported[] = "DataSourceNotSupported";
inline constexpr char kReasonStorageClassNotFound[] = "StorageClassNotFound";
inline constexpr char kReasonWaitingForNode[] = "WaitingForNode";
inline constexpr char kReasonProvisioningFailed[] = "ProvisioningFailed";
}  // namespace vi

namespace vds {                                                  // VirtualDiskSnapshot
inline constexpr char kVirtualDiskReady[] = "VirtualDiskReady";  // condition
inline constexpr char kVirtualDiskSnapshotReady[] = "VirtualDiskSnapshotReady";  // condition
inline constexpr char kReasonVirtualDiskReady[] = "VirtualDiskReady";
inline constexpr char kReasonVirtualDiskNotReady[] = "VirtualDiskNotReadyForSnapshotting";
inline constexpr char kReasonWaitingForTheVirtualDisk[] = "WaitingForTheVirtualDisk";
inline constexpr char kReasonSnapshotting[] = "Snapshotting";
inline constexpr char kReasonFileSystemFreezing[] = "FileSystemFreezing";
inline constexpr char kReasonReady[] = "VirtualDiskSnapshotReady";
inline constexpr char kReasonFailed[] = "VirtualDiskSnapshotFailed";
inline constexpr char kReasonPotentiallyInconsistent[] = "PotentiallyInconsistent";
inline constexpr char kReasonLost[] = "Lost";
// Marks a snapshot cut by a VirtualMachineSnapshot (all disks of a VM at one instant): its
// value is the VirtualMachineSnapshot's name.
inline constexpr char kManagedByAnnotation[] = "virtualization.deckhouse.io/berth-vmsnapshot";
}  // namespace vds

namespace vm {                                                     // VirtualMachine
inline constexpr char kAgentReady[] = "AgentReady";                // condition
inline constexpr char kBlockDevicesReady[] = "BlockDevicesReady";  // condition
inline constexpr char kReasonGuestAgentReady[] = "GuestAgentReady";
inline constexpr char kReasonGuestAgentNotReady[] = "GuestAgentNotReady";
inline constexpr char kReasonVirtualMachineStopped[] = "VirtualMachineStopped";
inline constexpr char kReasonBlockDevicesReady[] = "BlockDevicesReady";
inline constexpr char kReasonBlockDevicesNotReady[] = "BlockDevicesNotReady";
inline constexpr char kReasonDiskExportInProgress[] = "DiskExportInProgress";
inline constexpr char kReasonNodeSelectorMismatch[] = "NodeSelectorMismatch";
}  // namespace vm

namespace vmsnapshot {                                                 // VirtualMachineSnapshot
inline constexpr char kVirtualMachineReady[] = "VirtualMachineReady";  // condition
inline constexpr char kVirtualMachineSnapshotReady[] = "VirtualMachineSnapshotReady";  // condition
inline constexpr char kReasonVirtualMachineReady[] = "VirtualMachineReady";
inline constexpr char kReasonVirtualMachineNotFound[] = "VirtualMachineNotFound";
inline constexpr char kReasonWaitingForTheVirtualMachine[] = "WaitingForTheVirtualMachine";
inline constexpr char kReasonSnapshotting[] = "Snapshotting";
inline constexpr char kReasonFileSystemFreezing[] = "FileSystemFreezing";
inline constexpr char kReasonReady[] = "VirtualMachineSnapshotReady";
inline constexpr char kReasonFailed[] = "VirtualMachineSnapshotFailed";
inline constexpr char kReasonBlockDevicesNotReady[] = "BlockDevicesNotReady";
inline constexpr char kReasonPotentiallyInconsistent[] = "PotentiallyInconsistent";
inline constexpr char kReasonVirtualDiskSnapshotLost[] = "VirtualDiskSnapshotLost";
}  // namespace vmsnapshot

namespace vmop {  // VirtualMachineOperation and VirtualMachineSnapshotOperation
inline constexpr char kCompleted[] = "Completed";              // condition
inline constexpr char kSnapshotReady[] = "SnapshotReady";      // condition
inline constexpr char kMaintenanceMode[] = "MaintenanceMode";  // condition
inline constexpr char kReasonInProgress[] = "InProgress";
inline constexpr char kReasonWaitingForOtherOperation[] = "WaitingForOtherOperation";
inline constexpr char kReasonCreatingVirtualMachine[] = "CreatingVirtualMachine";
inline constexpr char kReasonCreatingClone[] = "CreatingClone";
inline constexpr char kReasonFinishingBeforeDeletion[] = "FinishingBeforeDeletion";
inline constexpr char kReasonFinishedBeforeDeletion[] = "FinishedBeforeDeletion";
inline constexpr char kReasonSnapshotReady[] = "SnapshotReady";
inline constexpr char kReasonWaitingForTheSnapshot[] = "WaitingForTheSnapshot";
inline constexpr char kReasonMaintenanceMode[] = "MaintenanceMode";
inline constexpr char kReasonMaintenanceModeOff[] = "MaintenanceModeOff";
inline constexpr char kReasonConflictsFound[] = "ConflictsFound";
inline constexpr char kReasonDryRunCompleted[] = "DryRunCompleted";
inline constexpr char kReasonStartingVirtualMachine[] = "StartingVirtualMachine";
inline constexpr char kReasonStoppingVirtualMachine[] = "StoppingVirtualMachine";
inline constexpr char kReasonCompleted[] = "Completed";
inline constexpr char kReasonNotSupported[] = "NotSupported";
inline constexpr char kReasonRunPolicyForbids[] = "RunPolicyForbids";
inline constexpr char kReasonVirtualMachineNotFound[] = "VirtualMachineNotFound";
inline constexpr char kReasonVirtualMachineNotReady[] = "VirtualMachineNotReady";
inline constexpr char kReasonVirtualMachineSnapshotNotFound[] = "VirtualMachineSnapshotNotFound";
inline constexpr char kReasonVirtualMachineSnapshotFailed[] = "VirtualMachineSnapshotFailed";
inline constexpr char kReasonVirtualMachineSnapshotLost[] = "VirtualMachineSnapshotLost";
inline constexpr char kReasonRestoringDisks[] = "RestoringDisks";
inline constexpr char kReasonVirtualDiskRestoreFailed[] = "VirtualDiskRestoreFailed";
inline constexpr char kReasonRolledBack[] = "RolledBack";
inline constexpr char kReasonSnapshotting[] = "Snapshotting";  // a Clone's temporary snapshot
inline constexpr char kReasonSnapshotFailed[] = "SnapshotFailed";
inline constexpr char kReasonSnapshotLost[] = "SnapshotLost";
// Migrate and Evict
inline constexpr char kReasonVirtualMachineNotRunning[] = "VirtualMachineNotRunning";
inline constexpr char kReasonNoSuitableNode[] = "NoSuitableNode";
inline constexpr char kReasonPreparingTarget[] = "PreparingTarget";
inline constexpr char kReasonMigrating[] = "Migrating";
inline constexpr char kReasonSwitchingOver[] = "SwitchingOver";
inline constexpr char kReasonMigrationFailed[] = "MigrationFailed";
inline constexpr char kReasonMigrationTimedOut[] = "MigrationTimedOut";
inline constexpr char kReasonMigrationInterrupted[] = "MigrationInterrupted";
inline constexpr char kReasonMigrationCancelled[] = "MigrationCancelled";
}  // namespace vmop

namespace vmsop {  // VirtualMachineSnapshotOperation: the words are vmop's
using namespace ::berth::controller::vmop;  // NOLINT(build/namespaces)
}  // namespace vmsop

namespace address {                        // VirtualMachineIPAddress and VirtualMachineMACAddress
inline constexpr char kBound[] = "Bound";  // condition
inline constexpr char kReasonBound[] = "Bound";
inline constexpr char kReasonAllocationFailed[] = "AllocationFailed";
}  // namespace address

namespace usb {                            // NodeUSBDevice, USBDevice and a VM's status.usbDevices
inline constexpr char kReady[] = "Ready";  // condition
inline constexpr char kAssigned[] = "Assigned";  // condition
inline constexpr char kAttached[] = "Attached";  // condition
inline constexpr char kReasonReady[] = "Ready";
inline constexpr char kReasonNotReady[] = "NotReady";
inline constexpr char kReasonNotFound[] = "NotFound";
inline constexpr char kReasonAvailable[] = "Available";
inline constexpr char kReasonAssigned[] = "Assigned";
inline constexpr char kReasonInProgress[] = "InProgress";
inline constexpr char kReasonAttachedToVirtualMachine[] = "AttachedToVirtualMachine";
inline constexpr char kReasonDetachedForMigration[] = "DetachedForMigration";
inline constexpr char kReasonNoFreeUSBIPPort[] = "NoFreeUSBIPPort";
inline constexpr char kReasonAttachFailed[] = "AttachFailed";
// Why a VM's status.usbDevices entry is not attached (besides the reasons above).
inline constexpr char kReasonVirtualMachineStopped[] = "VirtualMachineStopped";
inline constexpr char kReasonUSBDisabled[] = "USBDisabled";
inline constexpr char kReasonInUse[] = "InUse";
}  // namespace usb

namespace dataexport {
inline constexpr char kReady[] = "Ready";  // condition
inline constexpr char kReasonServing[] = "Serving";
inline constexpr char kReasonWaitingForTarget[] = "WaitingForTarget";
inline constexpr char kReasonInvalidTTL[] = "InvalidTTL";
inline constexpr char kReasonExportRefused[] = "ExportRefused";
inline constexpr char kReasonExportFailed[] = "ExportFailed";
inline constexpr char kReasonExpired[] = "Expired";
// The upload flow (dataSource Upload of VirtualDisks and images) writes the object's Ready
// condition (common::kReady) with these reasons.
inline constexpr char kReasonUploadReady[] = "Ready";
inline constexpr char kReasonUploadProvisioningFailed[] = "ProvisioningFailed";
inline constexpr char kReasonWaitForUserUpload[] = "WaitForUserUpload";
inline constexpr char kReasonUploadExpired[] = "UploadExpired";
}  // namespace dataexport

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_VOCABULARY_H_
