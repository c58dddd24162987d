// Our USB/IP client against our USB/IP server over real loopback TCP, relaying URBs to the
// software device: devlist, import (ok, unknown, busy, unexported), control/bulk/interrupt
// URBs, the requests the server performs itself, unlink, peer restriction.
#include <catch2/catch.hpp>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/synchronization/notification.h"
#include "platform/usb_usbip_host.h"
#include "software_device.h"
#include "usb/usbip_client.h"
#include "usb/usbip_server.h"

namespace berth::agent {
namespace {

using testing::SoftwareUsbDevice;

struct Rig {
  explicit Rig(std::vector<std::string> peers = {}) {
    exported = {SoftwareUsbDevice::DefaultInfo("9-1"), SoftwareUsbDevice::DefaultInfo("9-2")};
    UsbIpServerConfig config;
    config.listen = "127.0.0.1:0";
    config.allowed_peers = std::move(peers);
    auto s = UsbIpServer::Create(
        config, [this] { return exported; },
        [this](const std::string& busid) -> absl::StatusOr<std::unique_ptr<UsbDevice>> {
          for (const auto& d : exported) {
            if (d.busid == busid) {
              auto dev = std::make_unique<SoftwareUsbDevice>(d);
              last = dev.get();
              return dev;
            }
          }
          return absl::NotFoundError("gone");
        });
    REQUIRE(s.ok());
    server = *std::move(s);
  }
  std::unique_ptr<UsbIpUrbClient> Import(const std::string& busid) {
    auto imp = UsbIpImport("127.0.0.1", server->Port(), busid);
    REQUIRE(imp.ok());
    return std::make_unique<UsbIpUrbClient>(*std::move(imp));
  }
  std::vector<UsbDeviceInfo> exported;
  SoftwareUsbDevice* last = nullptr;
  std::unique_ptr<UsbIpServer> server;
};

Urb Control(uint8_t type, uint8_t req, uint16_t value, uint16_t index, uint16_t length) {
  Urb u;
  u.in = (type & 0x80) != 0;
  u.buffer_length = length;
  uint8_t setup[8] = {type,
                      req,
                      static_cast<uint8_t>(value),
                      static_cast<uint8_t>(value >> 8),
                      static_cast<uint8_t>(index),
                      static_cast<uint8_t>(index >> 8),
                      static_cast<uint8_t>(length),
                      static_cast<uint8_t>(length >> 8)};
  memcpy(u.setup, setup, 8);
  return u;
}

Urb Bulk(uint8_t ep, bool in, std::vector<uint8_t> data, int32_t length = 0) {
  Urb u;
  u.endpoint = ep;
  u.in = in;
  u.data = std::move(data);
  u.buffer_length = in ? length : static_cast<int32_t>(u.data.size());
  return u;
}

TEST_CASE("devlist lists exported devices with interfaces") {
  Rig rig;
  auto list = UsbIpListRemote("127.0.0.1", rig.server->Port());
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].busid == "9-1");
  CHECK((*list)[0].id_vendor == 0x1209);
  CHECK((*list)[0].speed == 3);
  REQUIRE((*list)[0].interfaces.size() == 1);
  CHECK((*list)[0].interfaces[0].interface_class == 0xff);
  rig.exported.pop_back();
  list = UsbIpListRemote("127.0.0.1", rig.server->Port());
  REQUIRE(list.ok());
  CHECK(list->size() == 1);
}

TEST_CASE("import errors are specific") {
  Rig rig;
  CHECK(absl::IsNotFound(UsbIpImport("127.0.0.1", rig.server->Port(), "3-3").status()));
  auto first = rig.Import("9-1");
  CHECK(rig.server->Imported() == std::set<std::string>{"9-1"});
  auto busy = UsbIpImport("127.0.0.1", rig.server->Port(), "9-1");
  CHECK(absl::IsFailedPrecondition(busy.status()));
  CHECK(busy.status().message().find("busy") != std::string::npos);
  CHECK(absl::IsInvalidArgument(UsbIpImport("127.0.0.1", 1, "").status()));
  CHECK(absl::IsUnavailable(UsbIpImport("127.0.0.1", 1, "9-1").status()));
}

TEST_CASE("URBs run through TCP to the device and back") {
  Rig rig;
  auto c = rig.Import("9-1");
  CHECK(c->Device().devnum == 2);

  auto dd = c->Submit(Control(0x80, 6, 0x0100, 0, 18));
  REQUIRE(dd.ok());
  REQUIRE(dd->status == 0);
  REQUIRE(dd->data.size() == 18);
  CHECK(dd->data[8] == 0x09);  // idVendor 0x1209, little-endian in the descriptor
  CHECK(dd->data[9] == 0x12);

  auto name = c->Submit(Control(0x80, 6, 0x0302, 0x0409, 255));
  REQUIRE(name.ok());
  CHECK(name->data.size() == 2 + 2 * std::string("Software Loopback").size());

  std::vector<uint8_t> payload(16384);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7);
  auto out = c->Submit(Bulk(1, false, payload));
  REQUIRE(out.ok());
  CHECK(out->status == 0);
  CHECK(out->actual_length == 16384);
  auto in = c->Submit(Bulk(1, true, {}, 16384));
  REQUIRE(in.ok());
  CHECK(in->data == payload);

  auto vendor = c->Submit([] {
    Urb u = Control(0x40, 1, 0, 0, 3);
    u.data = {7, 8, 9};
    return u;
  }());
  REQUIRE(vendor.ok());
  CHECK(vendor->actual_length == 3);
  auto back = c->Submit(Control(0xc0, 1, 0, 0, 64));
  REQUIRE(back.ok());
  CHECK(back->data == std::vector<uint8_t>{7, 8, 9});

  auto report = c->Submit(Bulk(3, true, {}, 8));
  REQUIRE(report.ok());
  CHECK(report->data.size() == 8);

  auto stall = c->Submit(Control(0x80, 6, 0x0700, 0, 10));  // no such descriptor
  REQUIRE(stall.ok());
  CHECK(stall->status == -EPIPE);
}

TEST_CASE("the server performs SET_CONFIGURATION, CLEAR_FEATURE(HALT) and port reset") {
  Rig rig;
  auto c = rig.Import("9-1");
  REQUIRE(c->Submit(Control(0x00, 9, 1, 0, 0))->status == 0);
  CHECK(rig.last->configuration() == 1);
  CHECK(c->Submit(Control(0x00, 9, 5, 0, 0))->status == -EPIPE);  // no configuration 5

  REQUIRE(c->Submit(Control(0x02, 3, 0, 0x82, 0))->status == 0);  // SET_FEATURE halt (relayed)
  CHECK(c->Submit(Bulk(2, true, {}, 64))->status == -EPIPE);
  REQUIRE(c->Submit(Control(0x02, 1, 0, 0x82, 0))->status == 0);  // CLEAR_FEATURE: intercepted
  CHECK(rig.last->clear_halts() == 1);
  CHECK(c->Submit(Bulk(2, true, {}, 64))->data.size() == 64);

  REQUIRE(c->Submit(Control(0x23, 3, 4, 1, 0))->status == 0);  // port reset
  CHECK(rig.last->resets() == 1);
  REQUIRE(c->Submit(Control(0x01, 0x0b, 0, 0, 0))->status == 0);  // SET_INTERFACE 0/0
}

TEST_CASE("unlink cancels a pending URB; unlinking a finished one returns 0") {
  Rig rig;
  auto c = rig.Import("9-1");
  absl::Notification fired;
  auto seq = c->SubmitAsync(Bulk(1, true, {}, 512), [&](UrbResult) { fired.Notify(); });
  REQUIRE(seq.ok());
  auto st = c->Unlink(*seq);
  REQUIRE(st.ok());
  CHECK(*st == -ECONNRESET);
  // The cancelled URB never completes, even when data arrives later.
  REQUIRE(c->Submit(Bulk(1, false, {1, 2, 3}))->status == 0);
  CHECK_FALSE(fired.WaitForNotificationWithTimeout(absl::Milliseconds(200)));
  auto done = c->Submit(Bulk(1, true, {}, 512));
  REQUIRE(done.ok());
  CHECK(done->data == std::vector<uint8_t>{1, 2, 3});
  st = c->Unlink(12345);
  REQUIRE(st.ok());
  CHECK(*st == 0);
}

TEST_CASE("both sides count bytes, URBs, unlinks and attachments") {
  Rig rig;
  const UsbIpStats& server = rig.server->Stats();
  UsbIpStats& client = UsbIpClientStats();  // process-wide: compare deltas
  uint64_t in0 = client.bytes_in, out0 = client.bytes_out, sub0 = client.urbs_submitted,
           done0 = client.urbs_completed, unl0 = client.urbs_unlinked, err0 = client.errors;
  int64_t conns0 = client.connections;
  {
    auto c = rig.Import("9-1");
    CHECK(client.connections == conns0 + 1);
    std::vector<uint8_t> payload(16384, 0x5a);
    REQUIRE(c->Submit(Bulk(1, false, payload))->status == 0);
    auto in = c->Submit(Bulk(1, true, {}, 16384));
    REQUIRE(in.ok());
    CHECK(in->data.size() == 16384);
    CHECK(server.connections == 1);
    CHECK(server.attachments == 1);
    auto seq = c->SubmitAsync(Bulk(1, true, {}, 512), [](UrbResult) {});
    REQUIRE(seq.ok());
    REQUIRE(*c->Unlink(*seq) == -ECONNRESET);
  }
  CHECK(client.connections == conns0);
  for (int i = 0; i < 200 && (server.connections != 0 || server.attachments != 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(server.connections == 0);
  CHECK(server.attachments == 0);
  // Three CMD_SUBMITs (one cancelled), two RET_SUBMITs, one CMD_UNLINK and its RET_UNLINK.
  constexpr uint64_t kHeader = usbip::kUrbHeaderSize;
  CHECK(server.urbs_submitted == 3);
  CHECK(server.urbs_completed == 2);
  CHECK(server.urbs_unlinked == 1);
  CHECK(server.errors == 0);
  CHECK(client.urbs_submitted - sub0 == 3);
  CHECK(client.urbs_completed - done0 == 2);
  CHECK(client.urbs_unlinked - unl0 == 1);
  CHECK(client.errors == err0);
  // The URB client's bytes; the server also counts the import request and reply.
  CHECK(client.bytes_out - out0 == 4 * kHeader + 16384);
  CHECK(client.bytes_in - in0 == 3 * kHeader + 16384);
  CHECK(server.bytes_in == client.bytes_out - out0 + usbip::kOpHeaderSize + usbip::kBusIdSize);
  CHECK(server.bytes_out ==
        client.bytes_in - in0 + usbip::kOpHeaderSize + usbip::kDeviceRecordSize);
}

TEST_CASE("many URBs in flight from several threads") {
  Rig rig;
  auto c = rig.Import("9-2");
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto r = c->Submit(Bulk(2, true, {}, 4096));
        if (r.ok() && r->status == 0 && r->data.size() == 4096) ++good;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(good == 200);
}

TEST_CASE("disconnecting an imported device fails its outstanding URBs") {
  Rig rig;
  auto c = rig.Import("9-1");
  absl::Notification fired;
  int32_t status = 0;
  REQUIRE(c->SubmitAsync(Bulk(1, true, {}, 64), [&](UrbResult r) {
             status = r.status;
             fired.Notify();
           }).ok());
  CHECK(rig.server->Disconnect("9-1"));
  REQUIRE(fired.WaitForNotificationWithTimeout(absl::Seconds(5)));
  CHECK(status == -ESHUTDOWN);
  for (int i = 0; i < 100 && !rig.server->Imported().empty(); ++i)
    absl::SleepFor(absl::Milliseconds(10));
  CHECK(rig.server->Imported().empty());
  auto again = rig.Import("9-1");  // free again
  CHECK(again->Submit(Control(0x80, 0, 0, 0, 2))->status == 0);
}

TEST_CASE("peers outside the allowed list are refused") {
  Rig rig({"10.9.9.9"});
  auto list = UsbIpListRemote("127.0.0.1", rig.server->Port());
  CHECK_FALSE(list.ok());
  Rig open({"127.0.0.1"});
  CHECK(UsbIpListRemote("127.0.0.1", open.server->Port()).ok());
}

}  // namespace
}  // namespace berth::agent

namespace berth::agent {
namespace {

TEST_CASE("a device bound to usbip-host is handed to the kernel (usbip_sockfd)") {
  std::string dir =
      std::filesystem::temp_directory_path() / ("berth-usbip-host-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/usbip_sockfd") << "";
  UsbDeviceInfo info = testing::SoftwareUsbDevice::DefaultInfo("9-1");
  info.syspath = dir;
  UsbIpServerConfig config;
  config.listen = "127.0.0.1:0";
  config.kernel_handoff = platform::UsbIpHostHandoff;
  int opened = 0;
  auto server = UsbIpServer::Create(
      config, [&] { return std::vector<UsbDeviceInfo>{info}; },
      [&](const std::string&) -> absl::StatusOr<std::unique_ptr<UsbDevice>> {
        ++opened;
        return absl::NotFoundError("no relay expected");
      });
  REQUIRE(server.ok());
  auto imported = UsbIpImport("127.0.0.1", (*server)->Port(), "9-1");
  REQUIRE(imported.ok());
  CHECK(imported->device.id_vendor == 0x1209);
  std::ifstream in(dir + "/usbip_sockfd");
  std::string fd;
  in >> fd;
  CHECK_FALSE(fd.empty());
  CHECK(opened == 0);
  std::filesystem::remove_all(dir);
  info.syspath = dir;  // unbound now: NotFound from the hand-off, the user-space relay is used
  CHECK(absl::IsNotFound(platform::UsbIpHostHandoff(info, 5)));
}

}  // namespace
}  // namespace berth::agent
