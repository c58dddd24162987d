#include "berth/agent/usbip_wire.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace berth::agent::usbip {
namespace {

void Put16(std::vector<uint8_t>& o, uint16_t v) {
  o.push_back(v >> 8);
  o.push_back(v & 0xff);
}
void Put32(std::vector<uint8_t>& o, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) o.push_back((v >> shift) & 0xff);
}
uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
void PutFixedString(std::vector<uint8_t>& o, const std::string& s, size_t width) {
  size_t n = std::min(s.size(), width - 1);  // always NUL-terminated
  o.insert(o.end(), s.begin(), s.begin() + n);
  o.insert(o.end(), width - n, 0);
}
// Reads a NUL-terminated string from a fixed-width field; a field without NUL is an error.
absl::StatusOr<std::string> GetFixedString(const uint8_t* p, size_t width, const char* field) {
  const void* nul = memchr(p, 0, width);
  if (nul == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("usbip: ", field, " is not NUL-terminated"));
  }
  return std::string(reinterpret_cast<const char*>(p), static_cast<const uint8_t*>(nul) - p);
}
absl::Status Short(const char* what, size_t have, size_t want) {
  return absl::InvalidArgumentError(
      absl::StrCat("usbip: short ", what, ": ", have, " bytes, want ", want));
}
// Non-ISO URBs carry 0 (Linux) or 0xffffffff (the protocol document) packets.
absl::StatusOr<uint32_t> IsoPackets(uint32_t raw) {
  if (raw == 0xffffffffu) return 0;
  if (raw > static_cast<uint32_t>(kMaxIsoPackets)) {
    return absl::InvalidArgumentError(absl::StrCat("usbip: number_of_packets ", raw,
                                                   " exceeds the limit of ", kMaxIsoPackets,
                                                   " ISO packets (kMaxIsoPackets)"));
  }
  return raw;
}
absl::StatusOr<uint32_t> Length(uint32_t raw, const char* field) {
  int32_t v = static_cast<int32_t>(raw);
  if (v < 0 || v > kMaxTransferLength) {
    return absl::InvalidArgumentError(absl::StrCat("usbip: ", field, " ", v, " outside 0..",
                                                   kMaxTransferLength,
                                                   " bytes (kMaxTransferLength)"));
  }
  return static_cast<uint32_t>(v);
}
void AppendIso(const std::vector<UsbIsoPacket>& iso, std::vector<uint8_t>& out) {
  for (const UsbIsoPacket& p : iso) {
    Put32(out, p.offset);
    Put32(out, p.length);
    Put32(out, p.actual_length);
    Put32(out, static_cast<uint32_t>(p.status));
  }
}
std::vector<UsbIsoPacket> ParseIso(const uint8_t* p, size_t n) {
  std::vector<UsbIsoPacket> iso(n);
  for (size_t i = 0; i < n; ++i, p += kIsoDescriptorSize) {
    iso[i] = {Get32(p), Get32(p + 4), Get32(p + 8), static_cast<int32_t>(Get32(p + 12))};
  }
  return iso;
}

}  // namespace

DeviceRecord RecordFromInfo(const UsbDeviceInfo& info) {
  DeviceRecord d;
  d.path = info.syspath;
  d.busid = info.busid;
  d.busnum = info.busnum;
  d.devnum = info.devnum;
  d.speed = static_cast<uint32_t>(info.speed);
  d.id_vendor = info.vendor_id;
  d.id_product = info.product_id;
  d.bcd_device = info.bcd_device;
  d.device_class = info.device_class;
  d.device_subclass = info.device_subclass;
  d.device_protocol = info.device_protocol;
  d.configuration_value = info.configuration_value;
  d.num_configurations = info.num_configurations;
  d.num_interfaces = static_cast<uint8_t>(info.interfaces.size());
  d.interfaces = info.interfaces;
  return d;
}

std::vector<uint8_t> EncodeOpHeader(const OpHeader& h) {
  std::vector<uint8_t> o;
  Put16(o, h.version);
  Put16(o, h.code);
  Put32(o, h.status);
  return o;
}

absl::StatusOr<OpHeader> ParseOpHeader(absl::Span<const uint8_t> b) {
  if (b.size() < kOpHeaderSize) return Short("operation header", b.size(), kOpHeaderSize);
  OpHeader h{Get16(b.data()), Get16(b.data() + 2), Get32(b.data() + 4)};
  if (h.version != kVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        "usbip: protocol version 0x", absl::Hex(h.version, absl::kZeroPad4), " is not 0x0111"));
  }
  return h;
}

void AppendDeviceRecord(const DeviceRecord& d, bool with_interfaces, std::vector<uint8_t>& o) {
  PutFixedString(o, d.path, 256);
  PutFixedString(o, d.busid, kBusIdSize);
  Put32(o, d.busnum);
  Put32(o, d.devnum);
  Put32(o, d.speed);
  Put16(o, d.id_vendor);
  Put16(o, d.id_product);
  Put16(o, d.bcd_device);
  for (uint8_t v : {d.device_class, d.device_subclass, d.device_protocol, d.configuration_value,
                    d.num_configurations, d.num_interfaces}) {
    o.push_back(v);
  }
  if (!with_interfaces) return;
  for (const UsbInterfaceInfo& i : d.interfaces) {
    o.insert(o.end(), {i.interface_class, i.interface_subclass, i.interface_protocol, 0});
  }
}

absl::StatusOr<DeviceRecord> ParseDeviceRecord(absl::Span<const uint8_t> b) {
  if (b.size() < kDeviceRecordSize) return Short("device record", b.size(), kDeviceRecordSize);
  const uint8_t* p = b.data();
  DeviceRecord d;
  auto path = GetFixedString(p, 256, "path");
  if (!path.ok()) return path.status();
  auto busid = GetFixedString(p + 256, kBusIdSize, "busid");
  if (!busid.ok()) return busid.status();
  d.path = *std::move(path);
  d.busid = *std::move(busid);
  p += 256 + kBusIdSize;
  d.busnum = Get32(p);
  d.devnum = Get32(p + 4);
  d.speed = Get32(p + 8);
  d.id_vendor = Get16(p + 12);
  d.id_product = Get16(p + 14);
  d.bcd_device = Get16(p + 16);
  d.device_class = p[18];
  d.device_subclass = p[19];
  d.device_protocol = p[20];
  d.configuration_value = p[21];
  d.num_configurations = p[22];
  d.num_interfaces = p[23];
  return d;
}

std::vector<uint8_t> EncodeDevlistRequest() { return EncodeOpHeader({kVersion, kOpReqDevlist, 0}); }

std::vector<uint8_t> EncodeDevlistReply(const std::vector<DeviceRecord>& devices) {
  std::vector<uint8_t> o = EncodeOpHeader({kVersion, kOpRepDevlist, kStOk});
  Put32(o, static_cast<uint32_t>(devices.size()));
  for (const DeviceRecord& d : devices) AppendDeviceRecord(d, true, o);
  return o;
}

absl::StatusOr<std::vector<DeviceRecord>> ParseDevlistReply(absl::Span<const uint8_t> b) {
  auto h = ParseOpHeader(b);
  if (!h.ok()) return h.status();
  if (h->code != kOpRepDevlist) {
    return absl::InvalidArgumentError(
        absl::StrCat("usbip: reply code 0x", absl::Hex(h->code), " is not OP_REP_DEVLIST"));
  }
  if (h->status != kStOk) {
    return absl::UnavailableError(absl::StrCat("usbip: devlist status ", h->status));
  }
  if (b.size() < kOpHeaderSize + 4) return Short("devlist", b.size(), kOpHeaderSize + 4);
  uint32_t n = Get32(b.data() + kOpHeaderSize);
  if (n > kMaxDevices) {
    return absl::InvalidArgumentError(absl::StrCat("usbip: ndev ", n, " exceeds the limit of ",
                                                   kMaxDevices, " devices (kMaxDevices)"));
  }
  size_t off = kOpHeaderSize + 4;
  std::vector<DeviceRecord> out;
  for (uint32_t i = 0; i < n; ++i) {
    auto d = ParseDeviceRecord(b.subspan(off));
    if (!d.ok()) return d.status();
    off += kDeviceRecordSize;
    size_t want = size_t{d->num_interfaces} * kInterfaceRecordSize;
    if (b.size() - off < want) return Short("interface records", b.size() - off, want);
    for (int k = 0; k < d->num_interfaces; ++k, off += kInterfaceRecordSize) {
      d->interfaces.push_back({b[off], b[off + 1], b[off + 2]});
    }
    out.push_back(*std::move(d));
  }
  if (off != b.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("usbip: ", b.size() - off, " trailing bytes after devlist"));
  }
  return out;
}

std::vector<uint8_t> EncodeImportRequest(const std::string& busid) {
  std::vector<uint8_t> o = EncodeOpHeader({kVersion, kOpReqImport, 0});
  PutFixedString(o, busid, kBusIdSize);
  return o;
}

absl::StatusOr<std::string> ParseBusId(absl::Span<const uint8_t> b) {
  if (b.size() < kBusIdSize) return Short("busid", b.size(), kBusIdSize);
  return GetFixedString(b.data(), kBusIdSize, "busid");
}

std::vector<uint8_t> EncodeImportReply(uint32_t status, const DeviceRecord* device) {
  std::vector<uint8_t> o = EncodeOpHeader({kVersion, kOpRepImport, status});
  if (status == kStOk && device != nullptr) AppendDeviceRecord(*device, false, o);
  return o;
}

absl::StatusOr<UrbHeader> ParseUrbHeader(absl::Span<const uint8_t> b) {
  if (b.size() < kUrbHeaderSize) return Short("URB header", b.size(), kUrbHeaderSize);
  const uint8_t* p = b.data();
  UrbHeader h;
  h.command = Get32(p);
  h.seqnum = Get32(p + 4);
  h.devid = Get32(p + 8);
  h.direction = Get32(p + 12);
  h.ep = Get32(p + 16);
  for (int i = 0; i < 5; ++i) h.u[i] = Get32(p + 20 + 4 * i);
  memcpy(h.setup, p + 40, 8);
  if (h.command < kCmdSubmit || h.command > kRetUnlink) {
    return absl::InvalidArgumentError(absl::StrCat("usbip: unknown command ", h.command));
  }
  if (h.direction > 1) {
    return absl::InvalidArgumentError(absl::StrCat("usbip: direction ", h.direction));
  }
  if (h.ep > 15) return absl::InvalidArgumentError(absl::StrCat("usbip: endpoint ", h.ep));
  return h;
}

void AppendUrbHeader(const UrbHeader& h, std::vector<uint8_t>& o) {
  for (uint32_t v : {h.command, h.seqnum, h.devid, h.direction, h.ep}) Put32(o, v);
  for (uint32_t v : h.u) Put32(o, v);
  o.insert(o.end(), h.setup, h.setup + 8);
}

absl::StatusOr<size_t> UrbPayloadSize(const UrbHeader& h, bool ret_in) {
  if (h.command == kCmdUnlink || h.command == kRetUnlink) return 0;
  auto packets = IsoPackets(h.u[3]);
  if (!packets.ok()) return packets.status();
  size_t iso = size_t{*packets} * kIsoDescriptorSize;
  if (h.command == kCmdSubmit) {
    auto len = Length(h.u[1], "transfer_buffer_length");
    if (!len.ok()) return len.status();
    return (h.direction == 0 ? *len : 0) + iso;
  }
  auto len = Length(h.u[1], "actual_length");
  if (!len.ok()) return len.status();
  return (ret_in ? *len : 0) + iso;
}

absl::StatusOr<Urb> ParseCmdSubmit(const UrbHeader& h, absl::Span<const uint8_t> payload) {
  if (h.command != kCmdSubmit) return absl::InvalidArgumentError("usbip: not CMD_SUBMIT");
  auto size = UrbPayloadSize(h);
  if (!size.ok()) return size.status();
  if (payload.size() != *size) return Short("CMD_SUBMIT payload", payload.size(), *size);
  Urb u;
  u.seqnum = h.seqnum;
  u.endpoint = static_cast<uint8_t>(h.ep);
  u.in = h.direction == 1;
  u.transfer_flags = h.u[0];
  u.buffer_length = static_cast<int32_t>(h.u[1]);
  u.start_frame = static_cast<int32_t>(h.u[2]);
  u.interval = static_cast<int32_t>(h.u[4]);
  memcpy(u.setup, h.setup, 8);
  size_t data = u.in ? 0 : static_cast<size_t>(u.buffer_length);
  u.data.assign(payload.begin(), payload.begin() + data);
  u.iso = ParseIso(payload.data() + data, (payload.size() - data) / kIsoDescriptorSize);
  size_t total = 0;
  for (const UsbIsoPacket& p : u.iso) {
    if (p.offset > static_cast<uint32_t>(u.buffer_length) ||
        p.length > static_cast<uint32_t>(u.buffer_length) - p.offset) {
      return absl::InvalidArgumentError("usbip: ISO packet outside the transfer buffer");
    }
    total += p.length;
  }
  if (!u.iso.empty() && total > static_cast<size_t>(u.buffer_length)) {
    return absl::InvalidArgumentError("usbip: ISO packets exceed the transfer buffer");
  }
  return u;
}

std::vector<uint8_t> EncodeCmdSubmit(const Urb& urb, uint32_t devid) {
  UrbHeader h;
  h.command = kCmdSubmit;
  h.seqnum = urb.seqnum;
  h.devid = devid;
  h.direction = urb.in ? 1 : 0;
  h.ep = urb.endpoint;
  h.u[0] = urb.transfer_flags;
  h.u[1] = static_cast<uint32_t>(urb.in ? urb.buffer_length : urb.data.size());
  h.u[2] = static_cast<uint32_t>(urb.start_frame);
  h.u[3] = static_cast<uint32_t>(urb.iso.size());
  h.u[4] = static_cast<uint32_t>(urb.interval);
  memcpy(h.setup, urb.setup, 8);
  std::vector<uint8_t> o;
  o.reserve(kUrbHeaderSize + urb.data.size() + urb.iso.size() * kIsoDescriptorSize);
  AppendUrbHeader(h, o);
  if (!urb.in) o.insert(o.end(), urb.data.begin(), urb.data.end());
  AppendIso(urb.iso, o);
  return o;
}

std::vector<uint8_t> EncodeRetSubmit(const UrbHeader& cmd, const UrbResult& r) {
  UrbHeader h;  // devid, direction and ep are 0, as the kernel stub sends them
  h.command = kRetSubmit;
  h.seqnum = cmd.seqnum;
  bool in = cmd.direction == 1;
  int32_t actual = in ? static_cast<int32_t>(r.data.size()) : r.actual_length;
  h.u[0] = static_cast<uint32_t>(r.status);
  h.u[1] = static_cast<uint32_t>(actual);
  h.u[2] = static_cast<uint32_t>(r.start_frame);
  h.u[3] = static_cast<uint32_t>(r.iso.size());
  h.u[4] = static_cast<uint32_t>(r.error_count);
  std::vector<uint8_t> o;
  o.reserve(kUrbHeaderSize + r.data.size() + r.iso.size() * kIsoDescriptorSize);
  AppendUrbHeader(h, o);
  if (in) o.insert(o.end(), r.data.begin(), r.data.end());
  AppendIso(r.iso, o);
  return o;
}

absl::StatusOr<UrbResult> ParseRetSubmit(const UrbHeader& h, bool in,
                                         absl::Span<const uint8_t> payload) {
  if (h.command != kRetSubmit) return absl::InvalidArgumentError("usbip: not RET_SUBMIT");
  auto size = UrbPayloadSize(h, in);
  if (!size.ok()) return size.status();
  if (payload.size() != *size) return Short("RET_SUBMIT payload", payload.size(), *size);
  UrbResult r;
  r.status = static_cast<int32_t>(h.u[0]);
  r.actual_length = static_cast<int32_t>(h.u[1]);
  r.start_frame = static_cast<int32_t>(h.u[2]);
  r.error_count = static_cast<int32_t>(h.u[4]);
  size_t data = in ? static_cast<size_t>(r.actual_length) : 0;
  r.data.assign(payload.begin(), payload.begin() + data);
  r.iso = ParseIso(payload.data() + data, (payload.size() - data) / kIsoDescriptorSize);
  return r;
}

std::vector<uint8_t> EncodeCmdUnlink(uint32_t seqnum, uint32_t devid, uint32_t victim) {
  UrbHeader h;
  h.command = kCmdUnlink;
  h.seqnum = seqnum;
  h.devid = devid;
  h.u[0] = victim;
  std::vector<uint8_t> o;
  AppendUrbHeader(h, o);
  return o;
}

std::vector<uint8_t> EncodeRetUnlink(const UrbHeader& cmd, int32_t status) {
  UrbHeader h;
  h.command = kRetUnlink;
  h.seqnum = cmd.seqnum;
  h.u[0] = static_cast<uint32_t>(status);
  std::vector<uint8_t> o;
  AppendUrbHeader(h, o);
  return o;
}

absl::StatusOr<size_t> ParseCommandStream(absl::Span<const uint8_t> b) {
  size_t n = 0;
  while (!b.empty()) {
    auto h = ParseUrbHeader(b);
    if (!h.ok()) return h.status();
    if (h->command != kCmdSubmit && h->command != kCmdUnlink) {
      return absl::InvalidArgumentError(
          absl::StrCat("usbip: command ", h->command, " is not sent by clients"));
    }
    auto size = UrbPayloadSize(*h);
    if (!size.ok()) return size.status();
    b.remove_prefix(kUrbHeaderSize);
    if (b.size() < *size) return Short("URB payload", b.size(), *size);
    if (h->command == kCmdSubmit) {
      auto urb = ParseCmdSubmit(*h, b.subspan(0, *size));
      if (!urb.ok()) return urb.status();
    }
    b.remove_prefix(*size);
    ++n;
  }
  return n;
}

}  // namespace berth::agent::usbip
