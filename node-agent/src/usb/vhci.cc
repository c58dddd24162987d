#include "usb/vhci.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "platform/unique_fd.h"

namespace berth::agent {

absl::StatusOr<std::vector<VhciPort>> ParseVhciStatus(const std::string& text) {
  std::vector<VhciPort> ports;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    ++line_no;
    if (absl::StartsWith(line, "hub ")) continue;  // header
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    auto bad = [&](const char* why) {
      return absl::InvalidArgumentError(
          absl::StrCat("vhci status line ", line_no, " \"", line, "\": ", why));
    };
    if (f.size() != 7) return bad("want 7 fields");
    VhciPort p;
    if (f[0] != "hs" && f[0] != "ss") return bad("hub is not hs or ss");
    p.super_speed = f[0] == "ss";
    if (!absl::SimpleAtoi(f[1], &p.port) || !absl::SimpleAtoi(f[2], &p.status) ||
        !absl::SimpleAtoi(f[3], &p.speed) || !absl::SimpleHexAtoi(f[4], &p.devid) ||
        !absl::SimpleAtoi(f[5], &p.sockfd)) {
      return bad("malformed number");
    }
    p.local_busid = std::string(f[6]);
    ports.push_back(p);
  }
  if (ports.empty()) return absl::InvalidArgumentError("vhci status lists no ports");
  return ports;
}

absl::StatusOr<int> ChooseVhciPort(const std::vector<VhciPort>& ports, UsbSpeed speed,
                                   const std::set<int>& taken) {
  bool ss = IsSuperSpeed(speed);
  int total = 0;
  for (const VhciPort& p : ports) {
    if (p.super_speed != ss) continue;
    ++total;
    if (p.free() && taken.count(p.port) == 0) return p.port;
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      kNoFreeUsbIpPort, ": all ", total, ss ? " super-speed (USB 3)" : " high-speed (USB 2.0)",
      " vhci ports of this node are in use"));
}

absl::StatusOr<std::unique_ptr<VhciDriver>> VhciDriver::Open(std::string dir) {
  if (access((dir + "/status").c_str(), R_OK) != 0 || access((dir + "/attach").c_str(), W_OK)) {
    return absl::FailedPreconditionError(
        absl::StrCat("vhci: ", dir, " has no status/attach files (is vhci-hcd loaded?)"));
  }
  auto d = std::unique_ptr<VhciDriver>(new VhciDriver(std::move(dir)));
  if (auto ports = d->Ports(); !ports.ok()) return ports.status();
  return d;
}

absl::StatusOr<std::vector<VhciPort>> VhciDriver::Ports() const {
  std::ifstream in(dir_ + "/status");
  if (!in) return absl::UnavailableError(absl::StrCat("vhci: cannot read ", dir_, "/status"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseVhciStatus(ss.str());
}

namespace {
absl::Status WriteSysfs(const std::string& path, const std::string& value) {
  platform::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return absl::UnavailableError(absl::StrCat("vhci: open ", path, ": ", strerror(errno)));
  }
  if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    return absl::UnavailableError(
        absl::StrCat("vhci: write \"", value, "\" to ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}
}  // namespace

absl::StatusOr<int> VhciDriver::Attach(int sockfd, uint32_t devid, UsbSpeed speed) {
  absl::MutexLock l(&mu_);
  auto ports = Ports();
  if (!ports.ok()) return ports.status();
  auto port = ChooseVhciPort(*ports, speed, held_);
  if (!port.ok()) return port.status();
  absl::Status s = WriteSysfs(dir_ + "/attach", absl::StrCat(*port, " ", sockfd, " ", devid, " ",
                                                             static_cast<uint32_t>(speed)));
  if (!s.ok()) return s;
  held_.insert(*port);
  return *port;
}

absl::StatusOr<int> VhciDriver::Reserve(UsbSpeed speed) {
  absl::MutexLock l(&mu_);
  auto ports = Ports();
  if (!ports.ok()) return ports.status();
  auto port = ChooseVhciPort(*ports, speed, held_);
  if (port.ok()) held_.insert(*port);
  return port;
}

absl::Status VhciDriver::AttachOn(int port, int sockfd, uint32_t devid, UsbSpeed speed) {
  absl::MutexLock l(&mu_);
  return WriteSysfs(dir_ + "/attach",
                    absl::StrCat(port, " ", sockfd, " ", devid, " ", static_cast<uint32_t>(speed)));
}

void VhciDriver::Release(int port) {
  absl::MutexLock l(&mu_);
  held_.erase(port);
}

absl::Status VhciDriver::Detach(int port) {
  absl::MutexLock l(&mu_);
  absl::Status s = WriteSysfs(dir_ + "/detach", absl::StrCat(port));
  held_.erase(port);
  return s;
}

void VhciDriver::Hold(int port) {
  absl::MutexLock l(&mu_);
  held_.insert(port);
}

}  // namespace berth::agent
