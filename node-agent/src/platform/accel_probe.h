// Finds out whether an accelerator really runs guests here, by booting a kernel under it.
//
// A /dev/kvm that opens (even KVM_CREATE_VM succeeding) is no proof: on some hosts stock guest
// kernels hang early in boot under KVM. The probe boots `kernel` without a root filesystem under
// qemu-system-x86_64 with the given accelerator and waits for the kernel to get as far as looking
// for init (it then panics, and -no-reboot ends QEMU). Reaching that point within `timeout`
// means the accelerator works.
#pragma once

#include <string>

#include "absl/time/time.h"

namespace berth::agent {

struct AccelProbe {
  bool works = false;
  std::string detail;  // what was seen, for the log and the error messages
  absl::Duration took;
};

// accel: "kvm" or "tcg". Never throws; a missing QEMU binary or kernel is a failed probe.
AccelProbe ProbeAccelerator(const std::string& accel, const std::string& kernel,
                            absl::Duration timeout, const std::string& qemu = "qemu-system-x86_64");

// True when serial console output shows a kernel that booted up to mounting root / running init.
bool KernelReachedInit(const std::string& console);

// The newest /boot/vmlinuz-* readable here, or "" when there is none.
std::string DefaultProbeKernel();

}  // namespace berth::agent
