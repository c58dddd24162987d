// Pure helpers over UsbDeviceInfo: names, ids, speeds, sysfs attribute parsing.
#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "berth/agent/usb.h"

namespace berth::agent {
namespace {

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string Attr(const std::map<std::string, std::string>& a, const std::string& key) {
  auto it = a.find(key);
  return it == a.end() ? "" : std::string(absl::StripAsciiWhitespace(it->second));
}

absl::Status Bad(const std::string& key, const std::string& value, const char* want) {
  return absl::InvalidArgumentError(
      absl::StrCat("usb sysfs: attribute ", key, " = \"", value, "\" is not ", want));
}

// Parses a required hex attribute of at most 16 bits.
absl::StatusOr<uint16_t> Hex16(const std::map<std::string, std::string>& a,
                               const std::string& key) {
  std::string v = Attr(a, key);
  uint32_t out = 0;
  if (v.empty() || v.size() > 4 || !absl::SimpleHexAtoi(v, &out)) {
    return Bad(key, v, "a 16-bit hex number");
  }
  return static_cast<uint16_t>(out);
}

// Parses a decimal attribute; `hex` for the bDevice* class bytes sysfs prints in hex.
absl::StatusOr<uint32_t> Number(const std::map<std::string, std::string>& a, const std::string& key,
                                bool required, bool hex = false) {
  std::string v = Attr(a, key);
  if (v.empty() && !required) return 0;
  uint32_t out = 0;
  bool ok = hex ? absl::SimpleHexAtoi(v, &out) : absl::SimpleAtoi(v, &out);
  if (!ok) return Bad(key, v, hex ? "a hex number" : "a decimal number");
  return out;
}

}  // namespace

std::string UsbSpeedMbps(UsbSpeed speed) {
  switch (speed) {
    case UsbSpeed::kLow:
      return "1.5";
    case UsbSpeed::kFull:
      return "12";
    case UsbSpeed::kHigh:
      return "480";
    case UsbSpeed::kWireless:
      return "53.3";
    case UsbSpeed::kSuper:
      return "5000";
    case UsbSpeed::kSuperPlus:
      return "10000";
    default:
      return "";
  }
}

UsbSpeed UsbSpeedFromMbps(const std::string& mbps) {
  std::string s(absl::StripAsciiWhitespace(mbps));
  if (s == "1.5") return UsbSpeed::kLow;
  if (s == "12") return UsbSpeed::kFull;
  if (s == "480") return UsbSpeed::kHigh;
  if (s == "53.3") return UsbSpeed::kWireless;
  if (s == "5000") return UsbSpeed::kSuper;
  if (s == "10000" || s == "20000") return UsbSpeed::kSuperPlus;
  return UsbSpeed::kUnknown;
}

std::string Hex4(uint16_t v) { return absl::StrCat(absl::Hex(v, absl::kZeroPad4)); }

std::string StableUsbName(const std::string& node, const UsbDeviceInfo& info) {
  std::string key =
      absl::StrCat(node, "/", info.busid, "/", Hex4(info.vendor_id), ":", Hex4(info.product_id));
  uint64_t h = Fnv1a(key);
  return absl::StrCat("usb-", Hex4(info.vendor_id), "-", Hex4(info.product_id), "-",
                      absl::Hex(h >> 24, absl::kZeroPad10));
}

absl::StatusOr<UsbDeviceInfo> UsbInfoFromSysfs(const std::map<std::string, std::string>& a) {
  UsbDeviceInfo d;
  d.busid = Attr(a, "busid");
  if (d.busid.empty() || d.busid.size() >= 32) {
    return Bad("busid", d.busid, "a USB port path shorter than 32 characters");
  }
  d.syspath = Attr(a, "syspath");
  if (d.syspath.size() >= 256) return Bad("syspath", d.syspath, "shorter than 256 characters");
  auto vendor = Hex16(a, "idVendor");
  if (!vendor.ok()) return vendor.status();
  auto product = Hex16(a, "idProduct");
  if (!product.ok()) return product.status();
  auto bcd = Hex16(a, "bcdDevice");
  if (!bcd.ok()) return bcd.status();
  d.vendor_id = *vendor;
  d.product_id = *product;
  d.bcd_device = *bcd;
  struct Field {
    const char* key;
    bool required, hex;
    uint32_t* out32;
    uint8_t* out8;
  };
  uint32_t cls = 0, sub = 0, proto = 0, cfg = 0, ncfg = 0;
  for (const Field& f : {Field{"busnum", true, false, &d.busnum, nullptr},
                         Field{"devnum", true, false, &d.devnum, nullptr},
                         Field{"MAJOR", false, false, &d.major, nullptr},
                         Field{"MINOR", false, false, &d.minor, nullptr},
                         Field{"bDeviceClass", false, true, &cls, nullptr},
                         Field{"bDeviceSubClass", false, true, &sub, nullptr},
                         Field{"bDeviceProtocol", false, true, &proto, nullptr},
                         Field{"bConfigurationValue", false, false, &cfg, nullptr},
                         Field{"bNumConfigurations", false, false, &ncfg, nullptr}}) {
    auto v = Number(a, f.key, f.required, f.hex);
    if (!v.ok()) return v.status();
    *f.out32 = *v;
  }
  if (cls > 255 || sub > 255 || proto > 255 || cfg > 255 || ncfg > 255) {
    return absl::InvalidArgumentError("usb sysfs: a descriptor byte exceeds 255");
  }
  d.device_class = cls;
  d.device_subclass = sub;
  d.device_protocol = proto;
  d.configuration_value = cfg;
  d.num_configurations = ncfg;
  d.speed = UsbSpeedFromMbps(Attr(a, "speed"));
  d.serial = Attr(a, "serial");
  d.manufacturer = Attr(a, "manufacturer");
  d.product = Attr(a, "product");
  d.devpath = Attr(a, "devnode");
  if (d.devpath.empty()) {
    d.devpath = absl::StrCat("/dev/bus/usb/", absl::Dec(d.busnum, absl::kZeroPad3), "/",
                             absl::Dec(d.devnum, absl::kZeroPad3));
  }
  return d;
}

}  // namespace berth::agent
