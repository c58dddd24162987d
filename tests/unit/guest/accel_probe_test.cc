// The accelerator probe against stand-in QEMU binaries: a kernel that reaches init, one that
// hangs, one that dies, and no kernel at all.
#include "platform/accel_probe.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <string>

using berth::agent::KernelReachedInit;
using berth::agent::ProbeAccelerator;

namespace {

// Writes an executable script standing in for qemu-system-x86_64; $SERIAL is the console file.
std::string FakeQemu(const std::string& dir, const std::string& name, const std::string& body) {
  std::string path = dir + "/" + name;
  std::ofstream(path) << "#!/bin/sh\n"
                      << "for a in \"$@\"; do case \"$a\" in file:*) SERIAL=${a#file:};; esac; "
                         "done\n"
                      << body << "\n";
  ::chmod(path.c_str(), 0755);
  return path;
}

}  // namespace

TEST_CASE("KernelReachedInit knows how far a kernel got") {
  CHECK(KernelReachedInit("[    1.2] Kernel panic - not syncing: VFS: Unable to mount root fs"));
  CHECK(KernelReachedInit("...\n[ 0.9] Run /init as init process\n"));
  CHECK_FALSE(KernelReachedInit("SeaBIOS (version 1.16)\nBooting from ROM...\n"));
  CHECK_FALSE(KernelReachedInit(""));
}

TEST_CASE("ProbeAccelerator boots a kernel and tells working from hanging") {
  char tmpl[] = "/tmp/berth-probe-test.XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string kernel = dir + "/vmlinuz";
  std::ofstream(kernel) << "not really a kernel";

  std::string boots = FakeQemu(dir, "boots", R"sh(
echo "Linux version 6.1" >"$SERIAL"
sleep 0.2
echo "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)" >>"$SERIAL"
exit 0)sh");
  auto ok = ProbeAccelerator("kvm", kernel, absl::Seconds(10), boots);
  CHECK(ok.works);
  CHECK_THAT(ok.detail, Catch::Contains("booted to init under kvm"));

  std::string hangs = FakeQemu(dir, "hangs", "echo 'Linux version 6.1' >\"$SERIAL\"; sleep 30");
  auto hung = ProbeAccelerator("kvm", kernel, absl::Milliseconds(800), hangs);
  CHECK_FALSE(hung.works);
  CHECK_THAT(hung.detail, Catch::Contains("it hangs"));
  CHECK(hung.took < absl::Seconds(5));  // killed at the deadline, not waited for

  std::string dies = FakeQemu(dir, "dies", "echo 'failed to initialize kvm' >&2; exit 1");
  auto died = ProbeAccelerator("kvm", kernel, absl::Seconds(5), dies);
  CHECK_FALSE(died.works);
  CHECK_THAT(died.detail, Catch::Contains("exited"));

  auto missing = ProbeAccelerator("kvm", kernel, absl::Seconds(5), dir + "/no-such-qemu");
  CHECK_FALSE(missing.works);
  CHECK_THAT(missing.detail, Catch::Contains("could not be run"));

  auto no_kernel = ProbeAccelerator("kvm", dir + "/absent", absl::Seconds(5), boots);
  CHECK_FALSE(no_kernel.works);
  CHECK_THAT(no_kernel.detail, Catch::Contains("no readable kernel"));
  std::string cmd = "rm -rf " + dir;
  CHECK(::system(cmd.c_str()) == 0);
}
