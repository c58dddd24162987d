// A vhci_hcd `status` file as the kernel prints it (8 hs + 8 ss ports), for testbeds.
#ifndef BERTH_TESTS_USB_VHCI_STATUS_TEXT_H_
#define BERTH_TESTS_USB_VHCI_STATUS_TEXT_H_

#include <cstdio>
#include <set>
#include <string>

namespace berth::agent::testing {

// Ports in `used` show as VDEV_ST_USED (6) with a device; the others are free (4).
inline std::string VhciStatusText(const std::set<int>& used = {}) {
  std::string s = "hub port sta spd dev      sockfd local_busid\n";
  for (int p = 0; p < 16; ++p) {
    char line[80];
    if (used.count(p)) {
      snprintf(line, sizeof(line), "%s  %04d 006 %03d %08x %06d 3-1\n", p < 8 ? "hs" : "ss", p,
               p < 8 ? 3 : 5, 0x10002, 7);
    } else {
      snprintf(line, sizeof(line), "%s  %04d 004 000 00000000 000000 0-0\n", p < 8 ? "hs" : "ss",
               p);
    }
    s += line;
  }
  return s;
}

}  // namespace berth::agent::testing

#endif  // BERTH_TESTS_USB_VHCI_STATUS_TEXT_H_
