// DomainXml: pure generation of libvirt domain XML, including escaping.
#include "guest/domain_xml.h"

#include <catch2/catch.hpp>

namespace berth::agent {
namespace {

bool Has(const std::string& xml, const std::string& part) {
  return xml.find(part) != std::string::npos;
}

DomainSpec TestGuest() {
  DomainSpec spec;
  spec.name = "berth-default-vm1";
  spec.uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
  spec.vcpus = 2;
  spec.memory_bytes = 512ull << 20;
  spec.disks = {{"/pool/volumes/a.img", "vda", false}, {"/pool/volumes/b.img", "vdb", true}};
  spec.kernel = "/guest/vmlinuz";
  spec.initrd = "/guest/initrd.img";
  spec.cmdline = "console=ttyS0 berth.writer=1";
  spec.serial_log = "/state/console/berth-default-vm1.log";
  return spec;
}

TEST_CASE("a TCG guest with direct kernel boot") {
  std::string xml = DomainXml(TestGuest(), DomainXmlOptions{});
  CHECK(Has(xml, "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"));
  CHECK(Has(xml, "<name>berth-default-vm1</name>"));
  CHECK(Has(xml, "<uuid>0f8fad5b-d9cb-469f-a165-70867728950e</uuid>"));
  CHECK(Has(xml, "<memory unit='KiB'>524288</memory>"));
  CHECK(Has(xml, "<vcpu>2</vcpu>"));
  CHECK(Has(xml, "<kernel>/guest/vmlinuz</kernel>"));
  CHECK(Has(xml, "<initrd>/guest/initrd.img</initrd>"));
  CHECK(Has(xml, "<cmdline>console=ttyS0 berth.writer=1</cmdline>"));
  CHECK_FALSE(Has(xml, "<boot dev="));
  CHECK_FALSE(Has(xml, "host-passthrough"));
}

TEST_CASE("QEMU runs with fixed malloc thresholds unless told otherwise") {
  std::string xml = DomainXml(TestGuest(), DomainXmlOptions{});
  CHECK(Has(xml,
            "  <qemu:commandline>\n    <qemu:env name='GLIBC_TUNABLES' "
            "value='glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold="
            "67108864'/>\n  </qemu:commandline>\n</domain>\n"));
  DomainXmlOptions plain;
  plain.qemu_glibc_tunables.clear();
  xml = DomainXml(TestGuest(), plain);
  CHECK(Has(xml, "<domain type='qemu'>"));
  CHECK_FALSE(Has(xml, "qemu:"));
}

TEST_CASE("disks are raw virtio with O_DIRECT, read-only where asked") {
  std::string xml = DomainXml(TestGuest(), DomainXmlOptions{});
  CHECK(Has(xml,
            "<source file='/pool/volumes/a.img'/>\n      <target dev='vda' bus='virtio'/>\n"
            "    </disk>"));
  CHECK(Has(xml, "<driver name='qemu' type='raw' cache='none' io='native' discard='unmap'/>"));
  CHECK(Has(xml, "<target dev='vdb' bus='virtio'/>\n      <readonly/>"));
  DomainXmlOptions tmpfs;
  tmpfs.no_direct_io = {"/pool/volumes/b.img"};
  xml = DomainXml(TestGuest(), tmpfs);
  CHECK(Has(xml, "cache='writeback' io='threads'"));
  CHECK(Has(xml, "cache='none' io='native'"));
}

TEST_CASE("every domain has the guest agent channel; console goes to the log file") {
  DomainSpec bare;
  bare.name = "x";
  std::string xml = DomainXml(bare, DomainXmlOptions{});
  CHECK(Has(xml,
            "<channel type='unix'>\n      <target type='virtio' "
            "name='org.qemu.guest_agent.0'/>\n    </channel>"));
  CHECK(Has(xml, "<boot dev='hd'/>"));
  CHECK_FALSE(Has(xml, "<serial"));
  CHECK_FALSE(Has(xml, "<interface"));
  CHECK_FALSE(Has(xml, "<uuid>"));
  CHECK(Has(DomainXml(TestGuest(), DomainXmlOptions{}),
            "<serial type='file'>\n      <source path='/state/console/berth-default-vm1.log' "
            "append='on'/>"));
}

TEST_CASE("kvm, cloud-init seed and network") {
  DomainSpec spec = TestGuest();
  spec.cloud_init_iso = "/state/cloud-init/vm.iso";
  spec.mac_address = "52:54:00:12:34:56";
  DomainXmlOptions kvm;
  kvm.accelerator = "kvm";
  std::string xml = DomainXml(spec, kvm);
  CHECK(Has(xml, "<domain type='kvm' "));
  CHECK(Has(xml, "<cpu mode='host-passthrough'/>"));
  CHECK(Has(xml, "<disk type='file' device='cdrom'>"));
  CHECK(Has(xml, "<source file='/state/cloud-init/vm.iso'/>"));
  CHECK(Has(xml, "<interface type='user'>\n      <mac address='52:54:00:12:34:56'/>"));
}

TEST_CASE("text from the spec is escaped") {
  DomainSpec spec;
  spec.name = "a<b>&'c\"";
  spec.uuid = "not-a-uuid</uuid><evil/>";
  spec.kernel = "/k";
  spec.cmdline = "x='1' && y=\"2\" </cmdline><devices/>";
  spec.disks = {{"/p/it's.img", "vda", false}};
  std::string xml = DomainXml(spec, DomainXmlOptions{});
  CHECK(Has(xml, "<name>a&lt;b&gt;&amp;&apos;c&quot;</name>"));
  CHECK(Has(xml,
            "<cmdline>x=&apos;1&apos; &amp;&amp; y=&quot;2&quot; &lt;/cmdline&gt;"
            "&lt;devices/&gt;</cmdline>"));
  CHECK(Has(xml, "<source file='/p/it&apos;s.img'/>"));
  CHECK_FALSE(Has(xml, "<evil/>"));
  CHECK_FALSE(Has(xml, "<uuid>"));
}

TEST_CASE("XmlEscape and LooksLikeUuid") {
  CHECK(XmlEscape("plain") == "plain");
  CHECK(XmlEscape("<&>\"'") == "&lt;&amp;&gt;&quot;&apos;");
  CHECK(LooksLikeUuid("0f8fad5b-d9cb-469f-a165-70867728950e"));
  CHECK_FALSE(LooksLikeUuid("0f8fad5b-d9cb-469f-a165-70867728950"));
  CHECK_FALSE(LooksLikeUuid("0f8fad5bxd9cb-469f-a165-70867728950e"));
  CHECK_FALSE(LooksLikeUuid("zf8fad5b-d9cb-469f-a165-70867728950e"));
}

TEST_CASE("DomainStateName") {
  CHECK(std::string(DomainStateName(DomainState::kNotFound)) == "NotFound");
  CHECK(std::string(DomainStateName(DomainState::kShuttingDown)) == "ShuttingDown");
}

}  // namespace
}  // namespace berth::agent
