#include "guest/domain_xml.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace berth::agent {
namespace {

void AppendOs(const DomainSpec& spec, std::string& out) {
  absl::StrAppend(&out, "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n");
  if (!spec.kernel.empty()) {
    absl::StrAppend(&out, "    <kernel>", XmlEscape(spec.kernel), "</kernel>\n");
    if (!spec.initrd.empty()) {
      absl::StrAppend(&out, "    <initrd>", XmlEscape(spec.initrd), "</initrd>\n");
    }
    if (!spec.cmdline.empty()) {
      absl::StrAppend(&out, "    <cmdline>", XmlEscape(spec.cmdline), "</cmdline>\n");
    }
  } else {
    absl::StrAppend(&out, "    <boot dev='hd'/>\n");
  }
  absl::StrAppend(&out, "  </os>\n");
}

void AppendDisk(const DiskAttachment& disk, const DomainXmlOptions& options, std::string& out) {
  bool direct = options.no_direct_io.count(disk.path) == 0;
  absl::StrAppend(&out, "    <disk type='file' device='disk'>\n",
                  "      <driver name='qemu' type='raw' ",
                  direct ? "cache='none' io='native'" : "cache='writeback' io='threads'",
                  " discard='unmap'/>\n", "      <source file='", XmlEscape(disk.path), "'/>\n",
                  "      <target dev='", XmlEscape(disk.target), "' bus='virtio'/>\n",
                  disk.read_only ? "      <readonly/>\n" : "", "    </disk>\n");
}

void AppendDevices(const DomainSpec& spec, const DomainXmlOptions& options, std::string& out) {
  absl::StrAppend(&out, "  <devices>\n");
  for (const DiskAttachment& disk : spec.disks) AppendDisk(disk, options, out);
  if (!spec.cloud_init_iso.empty()) {
    // IDE works on the default i440fx machine and every guest kernel has the driver.
    absl::StrAppend(&out, "    <disk type='file' device='cdrom'>\n",
                    "      <driver name='qemu' type='raw'/>\n", "      <source file='",
                    XmlEscape(spec.cloud_init_iso), "'/>\n",
                    "      <target dev='hdc' bus='ide'/>\n      <readonly/>\n    </disk>\n");
  }
  if (!spec.mac_address.empty()) {
    absl::StrAppend(&out, "    <interface type='user'>\n      <mac address='",
                    XmlEscape(spec.mac_address), "'/>\n      <model type='virtio'/>\n",
                    "    </interface>\n");
  }
  if (!spec.serial_log.empty()) {
    absl::StrAppend(&out, "    <serial type='file'>\n      <source path='",
                    XmlEscape(spec.serial_log), "' append='on'/>\n",
                    "      <target port='0'/>\n    </serial>\n");
  }
  absl::StrAppend(&out, "    <channel type='unix'>\n",
                  "      <target type='virtio' name='org.qemu.guest_agent.0'/>\n",
                  "    </channel>\n", "    <memballoon model='none'/>\n", "  </devices>\n");
}

}  // namespace

const char* DomainStateName(DomainState s) {
  switch (s) {
    case DomainState::kNotFound:
      return "NotFound";
    case DomainState::kRunning:
      return "Running";
    case DomainState::kPaused:
      return "Paused";
    case DomainState::kShutoff:
      return "Shutoff";
    case DomainState::kShuttingDown:
      return "ShuttingDown";
    case DomainState::kCrashed:
      return "Crashed";
    case DomainState::kOther:
      return "Other";
  }
  return "Other";
}

std::string XmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

bool LooksLikeUuid(absl::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !absl::ascii_isxdigit(static_cast<unsigned char>(text[i]))) {
      return false;
    }
  }
  return true;
}

std::string DomainXml(const DomainSpec& spec, const DomainXmlOptions& options) {
  std::string out;
  absl::StrAppend(
      &out, "<domain type='", options.accelerator == "kvm" ? "kvm" : "qemu", "'",
      options.qemu_glibc_tunables.empty() ? "" : " xmlns:qemu='" + std::string(kQemuXmlns) + "'",
      ">\n", "  <name>", XmlEscape(spec.name), "</name>\n");
  if (LooksLikeUuid(spec.uuid)) absl::StrAppend(&out, "  <uuid>", spec.uuid, "</uuid>\n");
  absl::StrAppend(&out, "  <memory unit='KiB'>", spec.memory_bytes / 1024, "</memory>\n",
                  "  <vcpu>", spec.vcpus > 0 ? spec.vcpus : 1, "</vcpu>\n");
  AppendOs(spec, out);
  absl::StrAppend(&out, "  <features>\n    <acpi/>\n    <apic/>\n  </features>\n");
  if (options.accelerator == "kvm") absl::StrAppend(&out, "  <cpu mode='host-passthrough'/>\n");
  absl::StrAppend(&out, "  <clock offset='utc'/>\n", "  <on_poweroff>destroy</on_poweroff>\n",
                  "  <on_reboot>restart</on_reboot>\n", "  <on_crash>destroy</on_crash>\n");
  AppendDevices(spec, options, out);
  if (!options.qemu_glibc_tunables.empty()) {
    absl::StrAppend(&out, "  <qemu:commandline>\n", "    <qemu:env name='GLIBC_TUNABLES' value='",
                    XmlEscape(options.qemu_glibc_tunables), "'/>\n", "  </qemu:commandline>\n");
  }
  absl::StrAppend(&out, "</domain>\n");
  return out;
}

}  // namespace berth::agent
