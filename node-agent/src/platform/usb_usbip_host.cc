#include "platform/usb_usbip_host.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "berth/net/socket.h"

namespace berth::agent::platform {

absl::Status UsbIpHostHandoff(const UsbDeviceInfo& device, int fd) {
  std::string path = device.syspath + "/usbip_sockfd";
  net::UniqueFd attr(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!attr.valid()) {
    return absl::NotFoundError(
        absl::StrCat("usbip: ", device.busid, " is not bound to usbip-host"));
  }
  std::string text = absl::StrCat(fd);
  ssize_t n = ::write(attr.get(), text.data(), text.size());
  if (n != static_cast<ssize_t>(text.size())) {
    return absl::UnavailableError(absl::StrCat("usbip: write ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace berth::agent::platform
