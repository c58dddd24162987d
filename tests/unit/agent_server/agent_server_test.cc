// The whole node agent in-process (AgentServer built from AgentOptions, no berth-agent binary):
// a copy pool in a temp dir, loopback ports the OS picks, no libvirt (the hypervisor factory
// reports it unavailable, as on a host without libvirtd) and a fake USB inventory. Real gRPC
// calls over the port, a real /metrics scrape, mutual TLS with certificates from scripts/certs,
// and the start-up errors berth-agent exits with.
#include "server/agent_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent.grpc.pb.h"
#include "berth/tls.h"
#include "grpcpp/grpcpp.h"

namespace ba = berth::agent;
namespace fs = std::filesystem;
namespace pb = berth::agent::v1;

namespace {

constexpr char kNoLibvirt[] = "no libvirt in this test";

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/berth-agent-server.XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

class FakeUsbInventory : public ba::UsbInventory {
 public:
  explicit FakeUsbInventory(std::vector<ba::UsbDeviceInfo> devices)
      : devices_(std::move(devices)) {}
  std::vector<ba::UsbDeviceInfo> List() const override { return devices_; }
  void OnChange(std::function<void()>) override {}

 private:
  std::vector<ba::UsbDeviceInfo> devices_;
};

ba::UsbDeviceInfo Keyboard() {
  ba::UsbDeviceInfo d;
  d.busid = "1-2";
  d.syspath = "/sys/devices/pci0000:00/usb1/1-2";
  d.busnum = 1;
  d.devnum = 3;
  d.vendor_id = 0x046d;
  d.product_id = 0xc31c;
  d.product = "Keyboard";
  return d;
}

// A host without libvirt (hypervisor and hot-plug unavailable) whose discovery sees one
// keyboard. Devices cannot be opened.
ba::AgentPlatform TestPlatform() {
  ba::AgentPlatform p;
  p.open_hypervisor = [](const std::string&, const std::string&,
                         const std::string&) -> absl::StatusOr<std::unique_ptr<ba::Hypervisor>> {
    return absl::UnavailableError(kNoLibvirt);
  };
  p.open_usb_inventory = []() -> absl::StatusOr<std::unique_ptr<ba::UsbInventory>> {
    return std::make_unique<FakeUsbInventory>(std::vector<ba::UsbDeviceInfo>{Keyboard()});
  };
  p.open_usb_attacher =
      [](const std::string&) -> absl::StatusOr<std::unique_ptr<ba::UsbGuestAttacher>> {
    return absl::UnavailableError(kNoLibvirt);
  };
  p.usb_opener = [](const ba::UsbInventory&) -> ba::UsbDeviceOpener {
    return [](const std::string& busid) -> absl::StatusOr<std::unique_ptr<ba::UsbDevice>> {
      return absl::NotFoundError("cannot open " + busid + " in this test");
    };
  };
  p.usbip_kernel_handoff = [](const ba::UsbDeviceInfo&, int) {
    return absl::NotFoundError("no usbip-host in this test");
  };
  return p;
}

// Plaintext options on loopback ports the OS picks, one copy pool, no controller to register
// with, /metrics on.
ba::AgentOptions TestOptions(const TempDir& dir) {
  fs::create_directories(dir.path + "/pool-a");
  ba::AgentOptions o;
  o.node_name = "agent-under-test";
  o.listen = "127.0.0.1:0";
  o.controllers = {};
  o.insecure = true;
  o.pools = {"pool-a:copy:" + dir.path + "/pool-a"};
  o.state_dir = dir.path + "/state";
  o.metrics_listen = "127.0.0.1:0";
  o.vhci_dir = dir.path + "/no-vhci";
  o.usb_guest_attach = "none";
  return o;
}

std::unique_ptr<pb::NodeAgent::Stub> AgentStub(
    int port,
    std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials()) {
  return pb::NodeAgent::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), std::move(creds)));
}

grpc::Status GetInfo(pb::NodeAgent::Stub& stub, pb::NodeInfo* info, int timeout_ms = 5000) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  pb::GetInfoRequest req;
  return stub.GetInfo(&ctx, req, info);
}

// Connects to 127.0.0.1:port; returns the fd or -1 (errno set).
int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int PortOf(const std::string& address) {
  int port = 0;
  REQUIRE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port));
  return port;
}

// GET `path` from HOST:PORT over plain HTTP/1.0; returns the whole response.
std::string HttpGet(const std::string& address, const std::string& path) {
  int fd = Connect(PortOf(address));
  REQUIRE(fd >= 0);
  std::string request = "GET " + path + " HTTP/1.0\r\nHost: " + address + "\r\n\r\n";
  REQUIRE(write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) response.append(buf, n);
  close(fd);
  return response;
}

absl::Status CreateError(const ba::AgentOptions& options) {
  berth::RealClock clock;
  auto agent = ba::AgentServer::Create(options, TestPlatform(), clock);
  REQUIRE_FALSE(agent.ok());
  return agent.status();
}

}  // namespace

TEST_CASE("an agent built from options serves its node over gRPC and stops", "[agent_server]") {
  TempDir dir;
  berth::RealClock clock;
  auto created = ba::AgentServer::Create(TestOptions(dir), TestPlatform(), clock);
  INFO(created.status());
  REQUIRE(created.ok());
  std::unique_ptr<ba::AgentServer> agent = *std::move(created);
  REQUIRE(agent->Start().ok());
  const int port = agent->grpc_port();
  REQUIRE(port > 0);
  CHECK(agent->ReadyStatus() == "node agent-under-test listening on 127.0.0.1:0");

  auto stub = AgentStub(port);
  pb::NodeInfo info;
  grpc::Status got = GetInfo(*stub, &info);
  REQUIRE(got.ok());
  CHECK(info.node_name() == "agent-under-test");
  CHECK(info.version() == ba::kAgentVersion);
  REQUIRE(info.pools_size() == 1);
  CHECK(info.pools(0).name() == "pool-a");
  CHECK(info.pools(0).backend() == "copy");
  CHECK(info.pools(0).path() == dir.path + "/pool-a");
  CHECK(info.pools(0).capacity_bytes() > 0);

  // Storage works end to end: a volume lands in the pool directory.
  {
    grpc::ClientContext ctx;
    pb::CreateVolumeRequest req;
    req.set_pool("pool-a");
    req.set_id("vol-1");
    req.set_size_bytes(1 << 20);
    pb::Volume vol;
    grpc::Status s = stub->CreateVolume(&ctx, req, &vol);
    REQUIRE(s.ok());
    CHECK(vol.size_bytes() == 1 << 20);
    CHECK(absl::StartsWith(vol.path(), dir.path + "/pool-a/"));
    CHECK(fs::exists(vol.path()));
  }

  // Without libvirt the VM RPCs say why, as berth-agent does on a host without libvirtd.
  {
    grpc::ClientContext ctx;
    pb::DomainRequest req;
    req.set_name("vm-1");
    pb::DomainStatus status;
    grpc::Status s = stub->GetDomain(&ctx, req, &status);
    CHECK(s.error_code() == grpc::StatusCode::UNAVAILABLE);
    CHECK_THAT(s.error_message(), Catch::Contains(kNoLibvirt));
  }

  // NodeUSB on the same port: the fake inventory's device, the USB/IP server on loopback.
  {
    auto usb = pb::NodeUSB::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                        grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    pb::ListUsbDevicesResponse resp;
    grpc::Status s = usb->ListUsbDevices(&ctx, pb::ListUsbDevicesRequest(), &resp);
    REQUIRE(s.ok());
    REQUIRE(resp.devices_size() == 1);
    CHECK(resp.devices(0).busid() == "1-2");
    CHECK(resp.devices(0).vendor_id() == "046d");
    CHECK_FALSE(resp.vhci_available());
    REQUIRE(absl::StartsWith(resp.usbip_address(), "127.0.0.1:"));
    int usbip_port = PortOf(resp.usbip_address());
    CHECK(usbip_port > 0);
    int fd = Connect(usbip_port);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
  }

  // The export server listens on the agent's host.
  CHECK(absl::StartsWith(agent->export_address(), "127.0.0.1:"));

  // /metrics carries the families the agent registers, with the agent's values.
  {
    REQUIRE_FALSE(agent->metrics_address().empty());
    std::string metrics = HttpGet(agent->metrics_address(), "/metrics");
    CHECK_THAT(metrics, Catch::StartsWith("HTTP/1.1 200") || Catch::StartsWith("HTTP/1.0 200"));
    CHECK_THAT(metrics,
               Catch::Contains("berth_agent_export_bytes_total{direction=\"download\"} 0"));
    CHECK_THAT(metrics, Catch::Contains("berth_agent_exports_active{direction=\"upload\"} 0"));
    CHECK_THAT(metrics, Catch::Contains("berth_agent_usbip_connections{role=\"server\"}"));
    CHECK_THAT(metrics, Catch::Contains("berth_agent_usbip_urbs_submitted_total{role=\"client\"}"));
    CHECK_THAT(metrics, Catch::Contains("listener=\"agent-grpc\""));
    CHECK_THAT(metrics, Catch::Contains("pool=\"pool-a\""));
  }

  // Wait() returns once Shutdown() ran on another thread; then no RPC is served.
  std::atomic<bool> waited{false};
  std::thread waiter([&] {
    agent->Wait();
    waited = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_FALSE(waited.load());
  agent->Shutdown();
  waiter.join();
  CHECK(waited.load());
  pb::NodeInfo after;
  CHECK_FALSE(GetInfo(*AgentStub(port), &after, 1000).ok());

  // Destroying the server closes its ports.
  agent.reset();
  errno = 0;
  int fd = Connect(port);
  CHECK(fd < 0);
  CHECK(errno == ECONNREFUSED);
  if (fd >= 0) close(fd);
}

TEST_CASE("an agent with mutual TLS serves only the controller", "[agent_server]") {
  TempDir dir;
  auto certs = [&](const std::string& args) {
    std::string cmd =
        absl::StrCat("bash ", BERTH_SOURCE_DIR, "/scripts/certs ", args, " 2>/dev/null");
    REQUIRE(std::system(cmd.c_str()) == 0);
  };
  certs("init " + dir.path + "/ca");
  certs("agent " + dir.path + "/ca agent-under-test");
  certs("agent " + dir.path + "/ca other-node");
  ba::AgentOptions options = TestOptions(dir);
  options.insecure = false;
  options.tls_dir = dir.path + "/ca/agents/agent-under-test";
  berth::RealClock clock;
  auto agent = ba::AgentServer::Create(options, TestPlatform(), clock);
  REQUIRE(agent.ok());
  REQUIRE((*agent)->Start().ok());
  const int port = (*agent)->grpc_port();

  auto as = [&](const std::string& bundle) {
    berth::TlsFiles files = berth::TlsFiles::FromDir(dir.path + "/ca/" + bundle);
    return AgentStub(port, berth::Transport::Tls(files).ChannelCredentials());
  };
  pb::NodeInfo info;
  grpc::Status controller = GetInfo(*as("controller"), &info);
  REQUIRE(controller.ok());
  CHECK(info.node_name() == "agent-under-test");
  grpc::Status other_agent = GetInfo(*as("agents/other-node"), &info);
  CHECK(other_agent.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK_FALSE(GetInfo(*AgentStub(port), &info, 2000).ok());  // plaintext
  (*agent)->Shutdown();
}

TEST_CASE("bad options fail Create with an error naming them", "[agent_server]") {
  TempDir dir;
  ba::AgentOptions good = TestOptions(dir);

  SECTION("neither --tls_dir nor --insecure") {
    ba::AgentOptions o = good;
    o.insecure = false;
    absl::Status s = CreateError(o);
    CHECK_THAT(std::string(s.message()), Catch::Contains("pass --tls_dir=DIR"));
    CHECK(ba::IsAgentOptionsError(s));  // berth-agent exits 2
  }
  SECTION("a --tls_dir without certificates") {
    ba::AgentOptions o = good;
    o.insecure = false;
    o.tls_dir = dir.path + "/missing";
    absl::Status s = CreateError(o);
    CHECK_THAT(std::string(s.message()), Catch::StartsWith("--tls_dir: "));
    CHECK_THAT(std::string(s.message()), Catch::Contains(dir.path + "/missing"));
    CHECK(ba::IsAgentOptionsError(s));
  }
  SECTION("--tls_dir and --insecure together") {
    ba::AgentOptions o = good;
    o.tls_dir = dir.path;
    absl::Status s = CreateError(o);
    CHECK(std::string(s.message()) == "--tls_dir and --insecure exclude each other");
    CHECK(ba::IsAgentOptionsError(s));
  }
  SECTION("an unknown listener in --listener_limits") {
    ba::AgentOptions o = good;
    o.listener_limits = "agent-grpcc.max_connections=5";
    absl::Status s = CreateError(o);
    CHECK_THAT(std::string(s.message()), Catch::Contains("agent-grpcc"));
    CHECK(ba::IsAgentOptionsError(s));
  }
  SECTION("a malformed --pools entry") {
    ba::AgentOptions o = good;
    o.pools = {"just-a-name"};
    absl::Status s = CreateError(o);
    CHECK(std::string(s.message()) == "--pools: bad entry \"just-a-name\" (want NAME:TYPE:PATH)");
    CHECK_FALSE(ba::IsAgentOptionsError(s));  // berth-agent exits 1
  }
  SECTION("an unknown pool type") {
    ba::AgentOptions o = good;
    o.pools = {"pool-z:zfs:" + dir.path};
    absl::Status s = CreateError(o);
    CHECK_THAT(std::string(s.message()), Catch::StartsWith("pool pool-z: "));
    CHECK_FALSE(ba::IsAgentOptionsError(s));
  }
  SECTION("an unknown --usb_guest_attach") {
    ba::AgentOptions o = good;
    o.usb_guest_attach = "udev";
    absl::Status s = CreateError(o);
    CHECK(std::string(s.message()) == "--usb_guest_attach must be libvirt or none");
  }
  SECTION("a wildcard --usbip_linux_listen without --usbip_linux_allow_any") {
    ba::AgentOptions o = good;
    o.usbip_linux_listen = "0.0.0.0:0";
    absl::Status s = CreateError(o);
    CHECK_THAT(std::string(s.message()),
               Catch::StartsWith("--usbip_linux_listen=0.0.0.0:0 binds every interface"));
  }
  SECTION("an invalid --export_listen address") {
    ba::AgentOptions o = good;
    o.export_listen = "not an address";
    absl::Status s = CreateError(o);
    CHECK_THAT(std::string(s.message()), Catch::Contains("not an address"));
  }
  SECTION("a bad --accelerator, as the hypervisor reports it") {
    berth::RealClock clock;
    ba::AgentPlatform p = TestPlatform();
    p.open_hypervisor = [](const std::string&, const std::string& accelerator,
                           const std::string&) -> absl::StatusOr<std::unique_ptr<ba::Hypervisor>> {
      return absl::InvalidArgumentError("--accelerator: unknown " + accelerator);
    };
    ba::AgentOptions o = good;
    o.accelerator = "hvf";
    auto agent = ba::AgentServer::Create(o, p, clock);
    REQUIRE_FALSE(agent.ok());
    CHECK(std::string(agent.status().message()) == "INVALID_ARGUMENT: --accelerator: unknown hvf");
  }
}

TEST_CASE("a taken --listen port fails Start naming the address", "[agent_server]") {
  TempDir dir;
  berth::RealClock clock;
  auto first = ba::AgentServer::Create(TestOptions(dir), TestPlatform(), clock);
  REQUIRE(first.ok());
  REQUIRE((*first)->Start().ok());
  TempDir other;  // its own pool: a pool has one owner
  ba::AgentOptions o = TestOptions(other);
  o.listen = "127.0.0.1:" + std::to_string((*first)->grpc_port());
  o.metrics_listen.clear();
  auto second = ba::AgentServer::Create(o, TestPlatform(), clock);
  INFO(second.status());
  REQUIRE(second.ok());
  absl::Status started = (*second)->Start();
  REQUIRE_FALSE(started.ok());
  CHECK_THAT(std::string(started.message()),
             Catch::StartsWith("cannot listen on " + o.listen + ": "));
  CHECK_FALSE(ba::IsAgentOptionsError(started));
  (*first)->Shutdown();
}
