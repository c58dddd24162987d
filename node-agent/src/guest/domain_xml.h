#ifndef BERTH_AGENT_GUEST_DOMAIN_XML_H_
#define BERTH_AGENT_GUEST_DOMAIN_XML_H_

#include <set>
#include <string>

#include "absl/strings/string_view.h"
#include "berth/agent/hypervisor.h"

namespace berth::agent {

// What the host decided about a domain that the spec does not say.
struct DomainXmlOptions {
  std::string accelerator = "qemu";  // libvirt domain type: kvm | qemu (TCG)
  // Disk images whose filesystem cannot do O_DIRECT (e.g. tmpfs): cache='writeback' there.
  std::set<std::string> no_direct_io;
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
