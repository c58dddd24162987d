#ifndef BERTH_AGENT_GUEST_DOMAIN_XML_H_
#define BERTH_AGENT_GUEST_DOMAIN_XML_H_

#include <set>
#include <string>

#include "absl/strings/string_view.h"
#include "berth/agent/hypervisor.h"

namespace berth::agent {

// The malloc settings QEMU runs with (GLIBC_TUNABLES in its environment). QEMU's NBD server,
// the target of a storage migration, allocates a buffer per write request and frees it after
// the write; with glibc's dynamic thresholds those buffers come from fresh mmaps or from heap
// that free() has just trimmed, so each page of the copied disk is faulted in anew: 1.0-1.9
// million faults for an 8 GiB disk (bench/migrate). Where a fault costs the host work too
// (free page reporting, common in VMs) that was a third of the migration. A fixed mmap threshold
// of 32 MiB (NBD's largest request) keeps the buffers on the heap, and a 64 MiB trim threshold
// keeps the heap's pages mapped between requests.
inline constexpr char kQemuGlibcTunables[] =
    "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864";
inline constexpr char kQemuXmlns[] = "http://libvirt.org/schemas/domain/qemu/1.0";

// What the host decided about a domain that the spec does not say.
struct DomainXmlOptions {
  std::string accelerator = "qemu";  // libvirt domain type: kvm | qemu (TCG)
  // Disk images whose filesystem cannot do O_DIRECT (e.g. tmpfs): cache='writeback' there.
  std::set<std::string> no_direct_io;
  // GLIBC_TUNABLES for QEMU (<qemu:env>); empty: QEMU gets glibc's defaults.
  std::string qemu_glibc_tunables = kQemuGlibcTunables;
};

// Returns `text` with &, <, >, " and ' replaced by XML entities.
std::string XmlEscape(absl::string_view text);

// Returns true for a canonical 8-4-4-4-12 hex UUID, the only form put into <uuid>.
bool LooksLikeUuid(absl::string_view text);

// Builds the libvirt domain XML for `spec`. Pure: same input, same text.
//
// Disks are raw virtio with cache='none' io='native' (O_DIRECT): a guest flush (which
// fsfreeze issues) reaches the image file itself, and the host page cache holds no dirty
// pages of the image, so a reflink/btrfs cut during a freeze never has to write back host
// dirty data and the freeze window stays short and flat. Every domain gets the virtio-serial
// channel org.qemu.guest_agent.0. The network, when a MAC is given, is user-mode (slirp):
// it needs no host bridge, so it works on every node; the guest reaches out, nothing reaches in.
std::string DomainXml(const DomainSpec& spec, const DomainXmlOptions& options);

}  // namespace berth::agent

#endif  // BERTH_AGENT_GUEST_DOMAIN_XML_H_
