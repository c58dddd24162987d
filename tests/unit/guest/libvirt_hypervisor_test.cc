// LibvirtHypervisor against libvirt's test:///default driver (API shape and error codes; the
// real qemu driver is covered by tests/integration/guest_freeze_test.sh) and the NoCloud seed.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "berth/agent/hypervisor.h"
#include "platform/cloud_init_iso.h"

namespace berth::agent {
namespace {

DomainSpec Spec(const std::string& name) {
  DomainSpec spec;
  spec.name = name;
  spec.kernel = "/nonexistent/vmlinuz";
  spec.cmdline = "console=ttyS0";
  spec.disks = {{"/nonexistent/disk.img", "vda", false}};
  return spec;
}

TEST_CASE("domain lifecycle on the test driver") {
  auto hv = NewLibvirtHypervisor("test:///default", "auto");
  REQUIRE(hv.ok());
  Hypervisor& h = **hv;
  CHECK(h.Accelerator() == "qemu");
  CHECK(h.State("berth-unit").value() == DomainState::kNotFound);
  absl::Status defined = h.Define(Spec("berth-unit"));
  INFO(defined.ToString());
  REQUIRE(defined.ok());
  REQUIRE(h.Define(Spec("berth-unit")).ok());  // redefine
  CHECK(h.State("berth-unit").value() == DomainState::kShutoff);
  REQUIRE(h.Start("berth-unit").ok());
  REQUIRE(h.Start("berth-unit").ok());  // already running: no-op
  CHECK(h.State("berth-unit").value() == DomainState::kRunning);
  REQUIRE(h.Destroy("berth-unit").ok());
  REQUIRE(h.Destroy("berth-unit").ok());  // already off: no-op
  REQUIRE(h.Shutdown("berth-unit").ok());
  CHECK(h.State("berth-unit").value() == DomainState::kShutoff);
  REQUIRE(h.Start("berth-unit").ok());
  absl::Status undefined = h.Undefine("berth-unit");  // destroys first
  INFO(undefined.ToString());
  REQUIRE(undefined.ok());
  CHECK(h.State("berth-unit").value() == DomainState::kNotFound);
  REQUIRE(h.Undefine("berth-unit").ok());  // absent: no-op
}

TEST_CASE("libvirt errors become statuses by retry meaning") {
  auto hv = NewLibvirtHypervisor("test:///default", "qemu");
  REQUIRE(hv.ok());
  Hypervisor& h = **hv;
  CHECK(absl::IsNotFound(h.Start("no-such-domain")));
  CHECK(absl::IsNotFound(h.AgentCommand("no-such-domain", "{}", absl::Seconds(1)).status()));
  // The test driver has no guest agent: not a transient failure.
  auto reply = h.AgentCommand("test", R"({"execute":"guest-ping"})", absl::Seconds(1));
  CHECK(absl::IsFailedPrecondition(reply.status()));
  DomainSpec bad = Spec("bad");
  bad.memory_bytes = 0;
  bad.disks = {{"/x", "not a target", false}};
  CHECK_FALSE(h.Define(bad).ok());
}

TEST_CASE("bad accelerator and unreachable libvirt") {
  CHECK(absl::IsInvalidArgument(NewLibvirtHypervisor("test:///default", "hvf").status()));
  CHECK(absl::IsUnavailable(
      NewLibvirtHypervisor("qemu+unix:///system?socket=/nonexistent.sock", "auto").status()));
}

TEST_CASE("NoCloud seed image has volume id cidata") {
  if (system("command -v genisoimage >/dev/null 2>&1") != 0) {
    WARN("genisoimage missing: run scripts/setup");
    return;
  }
  char tmpl[] = "/tmp/berth-iso-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string iso = dir + "/seed/vm.iso";
  REQUIRE(platform::WriteNoCloudIso(iso, "#cloud-config\n", "instance-id: x\n").ok());
  std::ifstream in(iso, std::ios::binary);
  in.seekg(16 * 2048 + 40);  // primary volume descriptor: volume identifier
  std::string volume(32, '\0');
  in.read(volume.data(), volume.size());
  CHECK(volume.substr(0, 7) == "cidata ");
  CHECK_FALSE(std::filesystem::exists(iso + ".tmp"));
  CHECK_FALSE(std::filesystem::exists(iso + ".d"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace berth::agent
