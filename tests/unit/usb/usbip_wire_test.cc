// The USB/IP codec against byte fixtures written from the protocol document, round trips, and
// the seed corpus of the fuzz target (tests/fuzz/usbip_corpus) replayed with any compiler.
#include "berth/agent/usbip_wire.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace berth::agent::usbip {
namespace {

std::vector<uint8_t> Bytes(std::initializer_list<int> v) {
  return std::vector<uint8_t>(v.begin(), v.end());
}

TEST_CASE("op header is big-endian and version-checked") {
  CHECK(EncodeDevlistRequest() == Bytes({0x01, 0x11, 0x80, 0x05, 0, 0, 0, 0}));
  auto h = ParseOpHeader(Bytes({0x01, 0x11, 0x80, 0x03, 0, 0, 0, 2}));
  REQUIRE(h.ok());
  CHECK(h->code == kOpReqImport);
  CHECK(h->status == 2);
  auto bad = ParseOpHeader(Bytes({0x01, 0x06, 0x80, 0x05, 0, 0, 0, 0}));
  CHECK(absl::IsInvalidArgument(bad.status()));
  CHECK(bad.status().message().find("0x0106") != std::string::npos);
  CHECK(absl::IsInvalidArgument(ParseOpHeader(Bytes({0x01, 0x11})).status()));
}

DeviceRecord Sample() {
  DeviceRecord d;
  d.path = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2";
  d.busid = "1-2";
  d.busnum = 1;
  d.devnum = 3;
  d.speed = 3;
  d.id_vendor = 0x046d;
  d.id_product = 0x082d;
  d.bcd_device = 0x0011;
  d.device_class = 0xef;
  d.device_subclass = 2;
  d.device_protocol = 1;
  d.configuration_value = 1;
  d.num_configurations = 1;
  d.num_interfaces = 2;
  d.interfaces = {{0x0e, 1, 0}, {0x01, 1, 0}};
  return d;
}

TEST_CASE("device record layout matches the 312-byte struct") {
  std::vector<uint8_t> out;
  AppendDeviceRecord(Sample(), false, out);
  REQUIRE(out.size() == kDeviceRecordSize);
  CHECK(out[0] == '/');
  CHECK(out[256] == '1');
  CHECK(out[257] == '-');
  CHECK(out[258] == '2');
  CHECK(out[259] == 0);
  // busnum at 288, devnum 292, speed 296, idVendor 300, idProduct 302, bcdDevice 304.
  CHECK(std::vector<uint8_t>(out.begin() + 288, out.begin() + 300) ==
        Bytes({0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 3}));
  CHECK(std::vector<uint8_t>(out.begin() + 300, out.end()) ==
        Bytes({0x04, 0x6d, 0x08, 0x2d, 0x00, 0x11, 0xef, 2, 1, 1, 1, 2}));
  auto back = ParseDeviceRecord(out);
  REQUIRE(back.ok());
  CHECK(back->busid == "1-2");
  CHECK(back->path == Sample().path);
  CHECK(back->id_product == 0x082d);
  CHECK(back->num_interfaces == 2);
}

TEST_CASE("devlist reply round-trips with interface records") {
  std::vector<uint8_t> b = EncodeDevlistReply({Sample(), Sample()});
  CHECK(b.size() == 8 + 4 + 2 * (312 + 2 * 4));
  CHECK(std::vector<uint8_t>(b.begin(), b.begin() + 12) ==
        Bytes({0x01, 0x11, 0x00, 0x05, 0, 0, 0, 0, 0, 0, 0, 2}));
  auto list = ParseDevlistReply(b);
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[1].interfaces[1].interface_class == 0x01);
  SECTION("truncation and trailing bytes are errors") {
    std::vector<uint8_t> shorter(b.begin(), b.end() - 1);
    CHECK(absl::IsInvalidArgument(ParseDevlistReply(shorter).status()));
    b.push_back(0);
    CHECK(absl::IsInvalidArgument(ParseDevlistReply(b).status()));
  }
  SECTION("an absurd device count is refused before allocating") {
    b[8] = 0xff;
    CHECK(ParseDevlistReply(b).status().message().find("ndev") != std::string::npos);
  }
}

TEST_CASE("strings without NUL are rejected") {
  std::vector<uint8_t> out;
  AppendDeviceRecord(Sample(), false, out);
  std::fill(out.begin() + 256, out.begin() + 288, 'x');
  auto r = ParseDeviceRecord(out);
  CHECK(absl::IsInvalidArgument(r.status()));
  CHECK(r.status().message().find("busid") != std::string::npos);
  CHECK(EncodeImportRequest(std::string(40, 'a')).size() == 8 + 32);  // truncated, terminated
}

TEST_CASE("CMD_SUBMIT fixture: bulk OUT of 4 bytes with ZERO_PACKET") {
  std::vector<uint8_t> b = Bytes({0,    0,    0,    1,    0, 0, 0, 7, 0, 1,
                                  0,    3,    0,    0,    0, 0, 0, 0, 0, 2,  // cmd seq devid dir ep
                                  0,    0,    0,    0x40, 0, 0, 0, 4, 0, 0,
                                  0,    0,    0,    0,    0, 0, 0, 0, 0, 0,  // flags len sf np iv
                                  0,    0,    0,    0,    0, 0, 0, 0,        // setup
                                  0xde, 0xad, 0xbe, 0xef});
  auto h = ParseUrbHeader(b);
  REQUIRE(h.ok());
  CHECK(h->devid == 0x00010003);
  auto size = UrbPayloadSize(*h);
  REQUIRE(size.ok());
  CHECK(*size == 4);
  auto urb = ParseCmdSubmit(*h, absl::MakeSpan(b).subspan(kUrbHeaderSize));
  REQUIRE(urb.ok());
  CHECK(urb->seqnum == 7);
  CHECK_FALSE(urb->in);
  CHECK(urb->endpoint == 2);
  CHECK(urb->transfer_flags == kUrbZeroPacket);
  CHECK(urb->data == Bytes({0xde, 0xad, 0xbe, 0xef}));
  CHECK(EncodeCmdSubmit(*urb, 0x00010003) == b);
  auto n = ParseCommandStream(b);
  REQUIRE(n.ok());
  CHECK(*n == 1);
}

TEST_CASE("number_of_packets 0xffffffff means not ISO") {
  Urb u;
  u.in = true;
  u.endpoint = 1;
  u.buffer_length = 512;
  std::vector<uint8_t> b = EncodeCmdSubmit(u, 1);
  for (int i = 32; i < 36; ++i) b[i] = 0xff;
  auto h = ParseUrbHeader(b);
  REQUIRE(h.ok());
  auto size = UrbPayloadSize(*h);
  REQUIRE(size.ok());
  CHECK(*size == 0);  // IN: no data follows
}

TEST_CASE("RET_SUBMIT carries IN data and ISO descriptors; the direction comes from the URB") {
  UrbHeader cmd;
  cmd.command = kCmdSubmit;
  cmd.seqnum = 9;
  cmd.direction = 1;
  cmd.ep = 3;
  UrbResult r;
  r.data = {1, 2, 3};
  r.iso = {{0, 3, 3, 0}};
  std::vector<uint8_t> b = EncodeRetSubmit(cmd, r);
  REQUIRE(b.size() == 48 + 3 + 16);
  CHECK(std::vector<uint8_t>(b.begin(), b.begin() + 20) ==
        Bytes({0, 0, 0, 3, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  auto h = ParseUrbHeader(b);
  REQUIRE(h.ok());
  auto back = ParseRetSubmit(*h, true, absl::MakeSpan(b).subspan(48));
  REQUIRE(back.ok());
  CHECK(back->data == r.data);
  REQUIRE(back->iso.size() == 1);
  CHECK(back->iso[0].actual_length == 3);
  CHECK_FALSE(ParseRetSubmit(*h, false, absl::MakeSpan(b).subspan(48)).ok());
}

TEST_CASE("unlink fixtures") {
  std::vector<uint8_t> b = EncodeCmdUnlink(11, 0x00010002, 7);
  CHECK(b.size() == 48);
  CHECK(std::vector<uint8_t>(b.begin() + 20, b.begin() + 24) == Bytes({0, 0, 0, 7}));
  UrbHeader cmd;
  cmd.seqnum = 11;
  std::vector<uint8_t> ret = EncodeRetUnlink(cmd, -104);
  CHECK(std::vector<uint8_t>(ret.begin(), ret.begin() + 8) == Bytes({0, 0, 0, 4, 0, 0, 0, 11}));
  CHECK(std::vector<uint8_t>(ret.begin() + 20, ret.begin() + 24) ==
        Bytes({0xff, 0xff, 0xff, 0x98}));  // -ECONNRESET
}

TEST_CASE("hostile lengths are refused") {
  Urb u;
  u.endpoint = 1;
  std::vector<uint8_t> b = EncodeCmdSubmit(u, 1);
  SECTION("negative transfer length") {
    b[24] = 0xff;
    auto h = ParseUrbHeader(b);
    REQUIRE(h.ok());
    CHECK(UrbPayloadSize(*h).status().message().find("transfer_buffer_length") !=
          std::string::npos);
  }
  SECTION("too many ISO packets") {
    b[34] = 0x10;  // 4096 packets
    auto h = ParseUrbHeader(b);
    REQUIRE(h.ok());
    CHECK(absl::IsInvalidArgument(UrbPayloadSize(*h).status()));
  }
  SECTION("unknown command, bad direction, bad endpoint") {
    b[3] = 9;
    CHECK(absl::IsInvalidArgument(ParseUrbHeader(b).status()));
    b[3] = 1;
    b[15] = 2;
    CHECK(absl::IsInvalidArgument(ParseUrbHeader(b).status()));
    b[15] = 0;
    b[19] = 16;
    CHECK(absl::IsInvalidArgument(ParseUrbHeader(b).status()));
  }
  SECTION("ISO packet outside the buffer") {
    Urb iso;
    iso.endpoint = 4;
    iso.data = {1, 2, 3, 4};
    iso.iso = {{2, 8, 0, 0}};
    std::vector<uint8_t> ib = EncodeCmdSubmit(iso, 1);
    CHECK_FALSE(ParseCommandStream(ib).ok());
  }
}

TEST_CASE("URB limits are clear errors naming the limit and the value") {
  UrbHeader h;
  h.command = kCmdSubmit;
  h.direction = 0;
  SECTION("transfer_buffer_length at and over kMaxTransferLength") {
    h.u[1] = kMaxTransferLength;
    auto at = UrbPayloadSize(h);
    REQUIRE(at.ok());
    CHECK(*at == static_cast<size_t>(kMaxTransferLength));
    h.u[1] = kMaxTransferLength + 1;
    auto over = UrbPayloadSize(h);
    CHECK(absl::IsInvalidArgument(over.status()));
    std::string msg(over.status().message());
    CHECK(msg.find("transfer_buffer_length 16777217") != std::string::npos);
    CHECK(msg.find("16777216") != std::string::npos);
    CHECK(msg.find("kMaxTransferLength") != std::string::npos);
    // An IN URB carries no data but still asks the server for the buffer.
    h.direction = 1;
    CHECK(absl::IsInvalidArgument(UrbPayloadSize(h).status()));
  }
  SECTION("RET_SUBMIT actual_length over the limit") {
    h.command = kRetSubmit;
    h.u[1] = 0x7fffffff;
    auto over = UrbPayloadSize(h, true);
    CHECK(absl::IsInvalidArgument(over.status()));
    CHECK(over.status().message().find("actual_length 2147483647") != std::string::npos);
  }
  SECTION("number_of_packets at and over kMaxIsoPackets") {
    h.u[3] = kMaxIsoPackets;
    auto at = UrbPayloadSize(h);
    REQUIRE(at.ok());
    CHECK(*at == static_cast<size_t>(kMaxIsoPackets) * kIsoDescriptorSize);
    h.u[3] = kMaxIsoPackets + 1;
    auto over = UrbPayloadSize(h);
    CHECK(absl::IsInvalidArgument(over.status()));
    CHECK(over.status().message().find("number_of_packets 1025 exceeds the limit of 1024") !=
          std::string::npos);
    h.u[3] = 0xffffffffu;  // non-ISO marker of the protocol document
    CHECK(UrbPayloadSize(h).ok());
  }
  SECTION("a stream announcing a huge URB fails before any allocation") {
    h.u[1] = 0x7ffffff0;
    std::vector<uint8_t> b;
    AppendUrbHeader(h, b);
    auto n = ParseCommandStream(b);
    CHECK(absl::IsInvalidArgument(n.status()));
    CHECK(n.status().message().find("kMaxTransferLength") != std::string::npos);
  }
}

TEST_CASE("seed corpus replays without crashing and valid seeds parse") {
  std::filesystem::path dir = BERTH_USBIP_CORPUS;
  int files = 0, valid = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ++files;
    bool ok = ParseCommandStream(b).ok();
    bool ok2 = ParseDevlistReply(b).ok();
    if (e.path().filename().string().rfind("valid-", 0) == 0) {
      CHECK((ok || ok2));
      ++valid;
    }
  }
  CHECK(files >= 6);
  CHECK(valid >= 3);
}

}  // namespace
}  // namespace berth::agent::usbip
