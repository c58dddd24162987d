// The Linux USB/IP wire protocol (Documentation/usb/usbip_protocol.rst): pure encoders and
// parsers over bytes, no I/O. Every multi-byte field is big-endian. Parsers reject what the
// kernel would (bad version, absurd lengths) with InvalidArgument naming the field.
#ifndef BERTH_AGENT_USBIP_WIRE_H_
#define BERTH_AGENT_USBIP_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "berth/agent/usb.h"

namespace berth::agent::usbip {

inline constexpr uint16_t kVersion = 0x0111;
inline constexpr uint16_t kOpReqDevlist = 0x8005;
inline constexpr uint16_t kOpRepDevlist = 0x0005;
inline constexpr uint16_t kOpReqImport = 0x8003;
inline constexpr uint16_t kOpRepImport = 0x0003;

inline constexpr uint32_t kCmdSubmit = 1;
inline constexpr uint32_t kCmdUnlink = 2;
inline constexpr uint32_t kRetSubmit = 3;
inline constexpr uint32_t kRetUnlink = 4;

// OP_REP_* status values.
inline constexpr uint32_t kStOk = 0;
inline constexpr uint32_t kStNa = 1;
inline constexpr uint32_t kStDevBusy = 2;
inline constexpr uint32_t kStDevErr = 3;
inline constexpr uint32_t kStNoDev = 4;
inline constexpr uint32_t kStError = 5;

inline constexpr size_t kOpHeaderSize = 8;
inline constexpr size_t kDeviceRecordSize = 312;
inline constexpr size_t kInterfaceRecordSize = 4;
inline constexpr size_t kBusIdSize = 32;
inline constexpr size_t kUrbHeaderSize = 48;
inline constexpr size_t kIsoDescriptorSize = 16;
// Limits on what a peer may ask us to allocate; a header beyond one is InvalidArgument naming
// the field, its value and the limit, and the connection is dropped.
// kMaxTransferLength bounds transfer_buffer_length (CMD_SUBMIT) and actual_length
// (RET_SUBMIT): 16 MiB is Linux usbfs's default usbfs_memory_mb, the most buffer memory libusb
// transfers may hold at once, so a larger URB could never be submitted to the device anyway;
// the kernel stub (stub_rx.c) allocates the buffer with kmalloc, which caps lower still.
inline constexpr int32_t kMaxTransferLength = 16 << 20;
// kMaxIsoPackets bounds number_of_packets: the kernel's USBIP_MAX_ISO_PACKETS
// (drivers/usb/usbip/usbip_common.h), checked by stub_rx.c and vhci_rx.c the same way.
inline constexpr int32_t kMaxIsoPackets = 1024;
inline constexpr uint32_t kMaxDevices = 4096;

inline constexpr uint32_t kUrbZeroPacket = 0x40;

struct OpHeader {
  uint16_t version = kVersion;
  uint16_t code = 0;
  uint32_t status = 0;
};

// The 312-byte device record plus, in OP_REP_DEVLIST, its interface records.
struct DeviceRecord {
  std::string path;   // sysfs path, at most 255 bytes
  std::string busid;  // at most 31 bytes
  uint32_t busnum = 0;
  uint32_t devnum = 0;
  uint32_t speed = 0;
  uint16_t id_vendor = 0;
  uint16_t id_product = 0;
  uint16_t bcd_device = 0;
  uint8_t device_class = 0;
  uint8_t device_subclass = 0;
  uint8_t device_protocol = 0;
  uint8_t configuration_value = 0;
  uint8_t num_configurations = 0;
  uint8_t num_interfaces = 0;
  std::vector<UsbInterfaceInfo> interfaces;
};

DeviceRecord RecordFromInfo(const UsbDeviceInfo& info);

std::vector<uint8_t> EncodeOpHeader(const OpHeader& h);
absl::StatusOr<OpHeader> ParseOpHeader(absl::Span<const uint8_t> b);

// Appends the 312-byte record; with `with_interfaces`, then its interface records.
void AppendDeviceRecord(const DeviceRecord& d, bool with_interfaces, std::vector<uint8_t>& out);
// Parses the 312-byte record (interfaces are not part of it).
absl::StatusOr<DeviceRecord> ParseDeviceRecord(absl::Span<const uint8_t> b);

std::vector<uint8_t> EncodeDevlistRequest();
std::vector<uint8_t> EncodeDevlistReply(const std::vector<DeviceRecord>& devices);
// Parses a complete OP_REP_DEVLIST (header, count, records with interfaces). Fails on a short
// buffer or trailing bytes.
absl::StatusOr<std::vector<DeviceRecord>> ParseDevlistReply(absl::Span<const uint8_t> b);

std::vector<uint8_t> EncodeImportRequest(const std::string& busid);
// Parses the 32-byte busid that follows an OP_REQ_IMPORT header.
absl::StatusOr<std::string> ParseBusId(absl::Span<const uint8_t> b);
// Header plus, when status is OK, the device record.
std::vector<uint8_t> EncodeImportReply(uint32_t status, const DeviceRecord* device);

// The 48-byte URB header, all commands.
struct UrbHeader {
  uint32_t command = 0;
  uint32_t seqnum = 0;
  uint32_t devid = 0;
  uint32_t direction = 0;  // 0 out, 1 in
  uint32_t ep = 0;
  // CMD_SUBMIT: transfer_flags, buffer length, start_frame, number_of_packets, interval.
  // RET_SUBMIT: status, actual_length, start_frame, number_of_packets, error_count.
  // CMD_UNLINK: unlink seqnum in u[0]. RET_UNLINK: status in u[0].
  uint32_t u[5] = {};
  uint8_t setup[8] = {};
};

absl::StatusOr<UrbHeader> ParseUrbHeader(absl::Span<const uint8_t> b);
void AppendUrbHeader(const UrbHeader& h, std::vector<uint8_t>& out);

// Returns how many bytes follow a header of this command (OUT data + ISO descriptors for
// CMD_SUBMIT; IN data + ISO descriptors for RET_SUBMIT, whose header does not carry the
// direction: `ret_in` says whether the URB it answers was IN; 0 for unlinks), or
// InvalidArgument for lengths beyond the limits or an unknown command.
absl::StatusOr<size_t> UrbPayloadSize(const UrbHeader& h, bool ret_in = false);

// CMD_SUBMIT <-> Urb. `payload` is exactly UrbPayloadSize(h) bytes.
absl::StatusOr<Urb> ParseCmdSubmit(const UrbHeader& h, absl::Span<const uint8_t> payload);
std::vector<uint8_t> EncodeCmdSubmit(const Urb& urb, uint32_t devid);
// RET_SUBMIT for `urb` (its seqnum, direction and endpoint) carrying `r`.
std::vector<uint8_t> EncodeRetSubmit(const UrbHeader& cmd, const UrbResult& r);
absl::StatusOr<UrbResult> ParseRetSubmit(const UrbHeader& h, bool in,
                                         absl::Span<const uint8_t> payload);
std::vector<uint8_t> EncodeCmdUnlink(uint32_t seqnum, uint32_t devid, uint32_t victim);
std::vector<uint8_t> EncodeRetUnlink(const UrbHeader& cmd, int32_t status);

// Parses a whole stream of client commands (headers + payloads) as a server would; used by
// the fuzz target and fixture tests. Returns the number of commands.
absl::StatusOr<size_t> ParseCommandStream(absl::Span<const uint8_t> b);

}  // namespace berth::agent::usbip

#endif  // BERTH_AGENT_USBIP_WIRE_H_
