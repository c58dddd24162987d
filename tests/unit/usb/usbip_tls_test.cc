// USB/IP between agents inside mutual TLS: our client and server over loopback with certificates
// from scripts/certs in a temp dir. URBs relay through TLS; a client without a certificate, with
// one of another CA or outside berth:agents is refused before any request is served; rotating
// the server's files is picked up without a restart; a kernel hand-off goes through a socketpair
// relayed to the TLS stream. Also the wildcard check of the Linux USB/IP port's address.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "berth/exportwire/tls_context.h"
#include "software_device.h"
#include "usb/socket_io.h"
#include "usb/usbip_client.h"
#include "usb/usbip_server.h"

namespace berth::agent {
namespace {

namespace fs = std::filesystem;
using exportwire::ReloadingTlsContext;
using Role = ReloadingTlsContext::Role;
using testing::SoftwareUsbDevice;

// A cluster CA with agent bundles node-1 (server) and node-2 (client), a user bundle (no
// group) and a second CA with its own node-2, all made by scripts/certs.
struct Certs {
  Certs() {
    char tmpl[] = "/tmp/berth-usbip-tls.XXXXXX";
    dir = mkdtemp(tmpl);
    Run("init " + dir + "/ca");
    Run("agent " + dir + "/ca node-1");
    Run("agent " + dir + "/ca node-2");
    Run("user " + dir + "/ca alice");
    Run("init " + dir + "/other");
    Run("agent " + dir + "/other node-2");
  }
  ~Certs() { fs::remove_all(dir); }
  static void Run(const std::string& args) {
    std::string cmd =
        absl::StrCat("bash ", BERTH_SOURCE_DIR, "/scripts/certs ", args, " 2>/dev/null");
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
  TlsFiles Bundle(const std::string& ca, const std::string& sub) const {
    TlsFiles f = TlsFiles::FromDir(dir + "/" + ca + "/" + sub);
    f.reload_seconds = 0;  // check on every handshake
    return f;
  }
  std::shared_ptr<ReloadingTlsContext> Context(Role role, const TlsFiles& f) const {
    auto c = ReloadingTlsContext::Create(role, f);
    REQUIRE(c.ok());
    return *c;
  }
  std::string dir;
};

struct TlsRig {
  TlsRig(const Certs& certs, TlsFiles server_files,
         UsbIpServerConfig config = UsbIpServerConfig{}) {
    exported = {SoftwareUsbDevice::DefaultInfo("9-1")};
    config.listen = "127.0.0.1:0";
    tls = certs.Context(Role::kServer, server_files);
    config.tls = tls;
    config.tls_groups = {kGroupAgents};
    auto s = UsbIpServer::Create(
        config, [this] { return exported; },
        [this](const std::string& busid) -> absl::StatusOr<std::unique_ptr<UsbDevice>> {
          for (const auto& d : exported) {
            if (d.busid == busid) return std::make_unique<SoftwareUsbDevice>(d);
          }
          return absl::NotFoundError("gone");
        });
    REQUIRE(s.ok());
    server = *std::move(s);
  }
  std::vector<UsbDeviceInfo> exported;
  std::shared_ptr<ReloadingTlsContext> tls;
  std::unique_ptr<UsbIpServer> server;
};

Urb BulkOut(std::vector<uint8_t> data) {
  Urb u;
  u.endpoint = 1;
  u.in = false;
  u.buffer_length = static_cast<int32_t>(data.size());
  u.data = std::move(data);
  return u;
}

Urb BulkIn(int32_t length) {
  Urb u;
  u.endpoint = 1;
  u.in = true;
  u.buffer_length = length;
  return u;
}

TEST_CASE("URBs relay inside mutual TLS between agent certificates") {
  Certs certs;
  TlsRig rig(certs, certs.Bundle("ca", "agents/node-1"));
  auto client = certs.Context(Role::kClient, certs.Bundle("ca", "agents/node-2"));
  auto list = UsbIpListRemote("127.0.0.1", rig.server->Port(), client.get());
  REQUIRE(list.ok());
  REQUIRE(list->size() == 1);
  CHECK((*list)[0].busid == "9-1");

  auto imported = UsbIpImport("127.0.0.1", rig.server->Port(), "9-1", client.get());
  REQUIRE(imported.ok());
  CHECK(imported->stream->IsTls());
  CHECK(imported->stream->Peer().name == "node-1");
  CHECK(imported->stream->Peer().InGroup(kGroupAgents));
  UsbIpUrbClient c(*std::move(imported));
  std::vector<uint8_t> payload(100000);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 13);
  // Many URBs in flight: completions write while the server's reader waits on the stream.
  for (int round = 0; round < 20; ++round) {
    auto out = c.Submit(BulkOut(payload));
    REQUIRE(out.ok());
    CHECK(out->actual_length == static_cast<int32_t>(payload.size()));
    auto in = c.Submit(BulkIn(static_cast<int32_t>(payload.size())));
    REQUIRE(in.ok());
    CHECK(in->data == payload);
  }
  CHECK(rig.server->Imported() == std::set<std::string>{"9-1"});
  // The server cuts the import off (device unexported): the client sees the stream end.
  CHECK(rig.server->Disconnect("9-1"));
  auto cut = c.Submit(BulkIn(8), absl::Seconds(5));
  CHECK((!cut.ok() || cut->status == -ESHUTDOWN));
}

TEST_CASE("USB/IP with TLS refuses peers without a valid agent certificate") {
  Certs certs;
  TlsRig rig(certs, certs.Bundle("ca", "agents/node-1"));
  int port = rig.server->Port();
  SECTION("plaintext") { CHECK_FALSE(UsbIpListRemote("127.0.0.1", port).ok()); }
  SECTION("TLS without a client certificate") {
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> bare(SSL_CTX_new(TLS_client_method()),
                                                           SSL_CTX_free);
    REQUIRE(SSL_CTX_load_verify_locations(bare.get(), (certs.dir + "/ca/ca.crt").c_str(),
                                          nullptr) == 1);
    SSL_CTX_set_verify(bare.get(), SSL_VERIFY_PEER, nullptr);
    auto s = net::Dial("127.0.0.1", absl::StrCat(port), bare.get(), usbsock::Options());
    // TLS 1.3: the client's handshake completes before the server checks its certificate;
    // the refusal arrives as an alert on the first read.
    if (s.ok()) {
      (*s)->WriteAll(usbip::EncodeDevlistRequest()).IgnoreError();
      uint8_t b[64];
      auto r = (*s)->ReadSome(b, sizeof(b));
      CHECK((!r.ok() || *r == 0));
    }
  }
  SECTION("a certificate of another CA") {
    auto other = certs.Context(Role::kClient, certs.Bundle("other", "agents/node-2"));
    CHECK_FALSE(UsbIpListRemote("127.0.0.1", port, other.get()).ok());
  }
  SECTION("a user certificate (not in berth:agents)") {
    auto user = certs.Context(Role::kClient, certs.Bundle("ca", "users/alice"));
    auto list = UsbIpListRemote("127.0.0.1", port, user.get());
    CHECK_FALSE(list.ok());
    CHECK_FALSE(UsbIpImport("127.0.0.1", port, "9-1", user.get()).ok());
  }
  CHECK(rig.server->Imported().empty());
  // The dialled name is checked against the server's SANs ("localhost" is one of them).
  auto client = certs.Context(Role::kClient, certs.Bundle("ca", "agents/node-2"));
  CHECK(UsbIpListRemote("localhost", port, client.get()).ok());
}

TEST_CASE("rotating the server's certificate files needs no restart") {
  Certs certs;
  // The server's own copy of node-1's bundle, replaced in place below.
  std::string live = certs.dir + "/live";
  fs::copy(certs.dir + "/ca/agents/node-1", live);
  TlsFiles files = TlsFiles::FromDir(live);
  files.reload_seconds = 0;
  TlsRig rig(certs, files);
  auto old_client = certs.Context(Role::kClient, certs.Bundle("ca", "agents/node-2"));
  auto new_client = certs.Context(Role::kClient, certs.Bundle("other", "agents/node-2"));
  REQUIRE(UsbIpListRemote("127.0.0.1", rig.server->Port(), old_client.get()).ok());
  CHECK_FALSE(UsbIpListRemote("127.0.0.1", rig.server->Port(), new_client.get()).ok());
  CHECK(rig.tls->generation() == 1);

  // Move the server to the other CA: a bundle for node-1 issued there, files replaced.
  Certs::Run("agent " + certs.dir + "/other node-1");
  for (const char* f : {"tls.key", "tls.crt", "ca.crt"}) {
    fs::copy_file(certs.dir + "/other/agents/node-1/" + f, live + "/" + f,
                  fs::copy_options::overwrite_existing);
  }
  CHECK(UsbIpListRemote("127.0.0.1", rig.server->Port(), new_client.get()).ok());
  CHECK_FALSE(UsbIpListRemote("127.0.0.1", rig.server->Port(), old_client.get()).ok());
  CHECK(rig.tls->generation() == 2);

  // A broken rotation (a key that does not match) keeps the previous certificate.
  fs::copy_file(certs.dir + "/ca/agents/node-2/tls.key", live + "/tls.key",
                fs::copy_options::overwrite_existing);
  CHECK(UsbIpListRemote("127.0.0.1", rig.server->Port(), new_client.get()).ok());
  CHECK(rig.tls->generation() == 2);
}

TEST_CASE("with TLS a kernel hand-off gets a socketpair relayed to the TLS stream") {
  Certs certs;
  int kernel_fd = -1;
  UsbIpServerConfig config;
  config.kernel_handoff = [&](const UsbDeviceInfo&, int fd) {
    kernel_fd = ::dup(fd);  // what usbip_sockfd does: the kernel keeps its own reference
    return absl::OkStatus();
  };
  TlsRig rig(certs, certs.Bundle("ca", "agents/node-1"), config);
  auto client = certs.Context(Role::kClient, certs.Bundle("ca", "agents/node-2"));
  auto imported = UsbIpImport("127.0.0.1", rig.server->Port(), "9-1", client.get());
  REQUIRE(imported.ok());
  REQUIRE(kernel_fd >= 0);
  // Bytes the "kernel" writes arrive through TLS at the client, and back.
  REQUIRE(usbsock::WriteAll(kernel_fd, {1, 2, 3, 4}).ok());
  uint8_t got[4];
  REQUIRE(imported->stream->ReadFull(got, 4).ok());
  CHECK(got[3] == 4);
  REQUIRE(imported->stream->WriteAll({9, 8}).ok());
  uint8_t back[2];
  REQUIRE(usbsock::ReadFull(kernel_fd, back, 2).ok());
  CHECK(back[0] == 9);
  ::close(kernel_fd);  // the kernel lets go: the relay ends and closes the TLS stream
  uint8_t more;
  auto r = imported->stream->ReadSome(&more, 1);
  CHECK((!r.ok() || *r == 0));
}

TEST_CASE("wildcard listen addresses are recognized") {
  CHECK(usbsock::IsWildcardListen("0.0.0.0:3240"));
  CHECK(usbsock::IsWildcardListen("[::]:3240"));
  CHECK(usbsock::IsWildcardListen("[0:0::0]:3240"));
  CHECK(usbsock::IsWildcardListen(":3240"));
  CHECK(usbsock::IsWildcardListen("*:3240"));
  CHECK_FALSE(usbsock::IsWildcardListen("127.0.0.1:3240"));
  CHECK_FALSE(usbsock::IsWildcardListen("[::1]:3240"));
  CHECK_FALSE(usbsock::IsWildcardListen("10.1.2.3:0"));
  CHECK_FALSE(usbsock::IsWildcardListen("node-1.example:3240"));
}

}  // namespace
}  // namespace berth::agent
