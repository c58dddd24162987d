#include "usb/usb_node.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "berth/log.h"
#include "berth/status_macros.h"
#include "usb/socket_io.h"
#include "usb/usbip_client.h"
#include "usb/usbip_server.h"

namespace berth::agent {
namespace {

std::string UsbDir(const UsbNodeOptions& o) { return o.state_dir + "/usb"; }

void WriteFileAtomically(const std::string& path, const std::string& text) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) log::Warning(absl::StrCat("usb: cannot write ", path, ": ", ec.message()));
}

}  // namespace

UsbNode::UsbNode(UsbNodeOptions options, UsbInventory& inventory, VhciDriver* vhci,
                 UsbGuestAttacher* guests)
    : options_(std::move(options)), inventory_(inventory), vhci_(vhci), guests_(guests) {
  Load();
}

void UsbNode::Load() {
  absl::MutexLock l(&mu_);
  std::ifstream ex(UsbDir(options_) + "/exports");
  for (std::string line; std::getline(ex, line);) {
    if (!line.empty()) exports_.insert(line);
  }
  std::ifstream at(UsbDir(options_) + "/attachments");
  for (std::string line; std::getline(at, line);) {
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    if (f.size() != 8) continue;
    UsbAttachmentInfo a;
    a.id = f[0];
    a.domain = f[1];
    a.busid = f[2];
    a.mode = f[3];
    if (!absl::SimpleAtoi(f[4], &a.vhci_port) || !absl::SimpleAtoi(f[5], &a.bus) ||
        !absl::SimpleAtoi(f[6], &a.port)) {
      continue;
    }
    a.guest_attached = f[7] == "1";
    if (vhci_ != nullptr && a.vhci_port >= 0) vhci_->Hold(a.vhci_port);
    attachments_[a.id] = a;
  }
}

void UsbNode::SaveLocked() const {
  WriteFileAtomically(UsbDir(options_) + "/exports", absl::StrJoin(exports_, "\n") + "\n");
  std::string text;
  for (const auto& [id, a] : attachments_) {
    absl::StrAppend(&text, a.id, "\t", a.domain, "\t", a.busid, "\t", a.mode, "\t", a.vhci_port,
                    "\t", a.bus, "\t", a.port, "\t", a.guest_attached ? "1" : "0", "\n");
  }
  WriteFileAtomically(UsbDir(options_) + "/attachments", text);
}

std::vector<UsbDeviceInfo> UsbNode::Exported() const {
  std::vector<UsbDeviceInfo> out;
  absl::MutexLock l(&mu_);
  for (UsbDeviceInfo& d : inventory_.List()) {
    if (exports_.count(d.busid) != 0) out.push_back(std::move(d));
  }
  return out;
}

bool UsbNode::IsExported(const std::string& busid) const {
  absl::MutexLock l(&mu_);
  return exports_.count(busid) != 0;
}

void UsbNode::SetServer(UsbIpServer* server) {
  absl::MutexLock l(&mu_);
  server_ = server;
}

UsbIpServer* UsbNode::server() const {
  absl::MutexLock l(&mu_);
  return server_;
}

std::vector<std::string> UsbNode::SetExports(const std::vector<std::string>& busids) {
  std::set<std::string> want(busids.begin(), busids.end());
  std::vector<std::string> dropped;
  UsbIpServer* server;
  {
    absl::MutexLock l(&mu_);
    for (const std::string& b : exports_) {
      if (want.count(b) == 0) dropped.push_back(b);
    }
    if (want != exports_) {
      exports_ = want;
      SaveLocked();
    }
    server = server_;
  }
  if (server != nullptr) {
    for (const std::string& b : dropped) server->Disconnect(b);
  }
  std::vector<std::string> present;
  for (const UsbDeviceInfo& d : Exported()) present.push_back(d.busid);
  return present;
}

std::vector<UsbAttachmentInfo> UsbNode::Attachments() const {
  absl::MutexLock l(&mu_);
  std::vector<UsbAttachmentInfo> out;
  for (const auto& [id, a] : attachments_) out.push_back(a);
  return out;
}

absl::StatusOr<UsbAttachmentInfo> UsbNode::Attach(const UsbAttachRequest& req) {
  if (req.id.empty() || req.domain.empty() || req.busid.empty()) {
    return absl::InvalidArgumentError("usb attach: id, domain and busid are required");
  }
  absl::MutexLock serial(&attach_mu_);
  {
    absl::MutexLock l(&mu_);
    auto it = attachments_.find(req.id);
    if (it != attachments_.end()) {
      if (it->second.domain == req.domain && it->second.busid == req.busid) return it->second;
      return absl::FailedPreconditionError(
          absl::StrCat("usb attach: id ", req.id, " is already attached to ", it->second.domain));
    }
  }
  auto a = req.remote_address.empty() ? AttachLocal(req) : AttachRemote(req);
  if (!a.ok()) return a.status();
  absl::MutexLock l(&mu_);
  attachments_[a->id] = *a;
  SaveLocked();
  return a;
}

absl::StatusOr<UsbAttachmentInfo> UsbNode::AttachLocal(const UsbAttachRequest& req) {
  for (const UsbDeviceInfo& d : inventory_.List()) {
    if (d.busid != req.busid) continue;
    UsbAttachmentInfo a{req.id, req.domain, req.busid, "local", -1, d.busnum, 0, false, ""};
    std::vector<std::string> parts = absl::StrSplit(d.busid, absl::ByAnyChar("-."));
    absl::SimpleAtoi(parts.back(), &a.port);
    if (guests_ == nullptr) {
      a.message = "guest hot-plug is disabled on this node (--usb_guest_attach=none)";
      return a;
    }
    if (absl::Status s = guests_->Attach(req.domain, d); !s.ok()) return s;
    a.guest_attached = true;
    return a;
  }
  return absl::NotFoundError(absl::StrCat("usb attach: no device ", req.busid, " on this node"));
}

absl::StatusOr<UsbAttachmentInfo> UsbNode::AttachRemote(const UsbAttachRequest& req) {
  if (vhci_ == nullptr) {
    return absl::FailedPreconditionError(
        "usb attach: this node has no vhci_hcd (load the vhci-hcd module) and cannot import "
        "USB/IP devices");
  }
  std::string host;
  int port = 0;
  BERTH_RETURN_IF_ERROR(usbsock::SplitHostPort(req.remote_address, &host, &port));
  // With the speed known, a full hub is refused before anything is imported.
  absl::StatusOr<int> vport = absl::UnknownError("no port yet");
  if (req.speed != UsbSpeed::kUnknown) {
    vport = vhci_->Reserve(req.speed);
    if (!vport.ok()) return vport.status();
  }
  auto imported = UsbIpImport(host, port, req.busid, options_.usbip_tls.get());
  if (!imported.ok()) {
    if (vport.ok()) vhci_->Release(*vport);
    return imported.status();
  }
  UsbSpeed speed = static_cast<UsbSpeed>(imported->device.speed);
  if (vport.ok() && IsSuperSpeed(speed) != IsSuperSpeed(req.speed)) {  // the controller was wrong
    vhci_->Release(*vport);
    vport = absl::UnknownError("wrong hub");
  }
  if (!vport.ok()) {
    vport = vhci_->Reserve(speed);
    if (!vport.ok()) return vport.status();
  }
  uint32_t devid = imported->device.busnum << 16 | imported->device.devnum;
  // The kernel takes its own reference to the socket; ours closes when `imported` goes. A TLS
  // stream cannot go to the kernel: vhci gets one end of a socketpair, a Bridge relays the other
  // end to the TLS stream.
  int kernel_fd = imported->stream->fd();
  int pair[2] = {-1, -1};
  if (imported->stream->IsTls()) {
    if (absl::Status s = usbsock::SocketPair(pair); !s.ok()) {
      vhci_->Release(*vport);
      return s;
    }
    kernel_fd = pair[0];
  }
  absl::Status attached = vhci_->AttachOn(*vport, kernel_fd, devid, speed);
  if (pair[0] >= 0) {
    ::close(pair[0]);
    if (attached.ok()) {
      bridges_[req.id] = std::make_unique<usbsock::Bridge>(std::move(imported->stream), pair[1]);
    } else {
      ::close(pair[1]);
    }
  }
  if (!attached.ok()) {
    vhci_->Release(*vport);
    return attached;
  }
  UsbAttachmentInfo a{req.id,
                      req.domain,
                      req.busid,
                      "usbip",
                      *vport,
                      0,
                      static_cast<uint32_t>(*vport % kVhciPortsPerHub + 1),
                      false,
                      ""};
  if (guests_ == nullptr) {
    a.message = "guest hot-plug is disabled on this node (--usb_guest_attach=none)";
    return a;
  }
  auto local = FindOnVhci(*vport, speed);
  absl::Status s = local.ok() ? guests_->Attach(req.domain, *local) : local.status();
  if (!s.ok()) {
    vhci_->Detach(*vport).IgnoreError();
    bridges_.erase(req.id);
    return s;
  }
  a.bus = local->busnum;
  a.guest_attached = true;
  return a;
}

absl::StatusOr<UsbDeviceInfo> UsbNode::FindOnVhci(int port, UsbSpeed speed) {
  std::string suffix = absl::StrCat("-", port % kVhciPortsPerHub + 1);
  absl::Time deadline = absl::Now() + options_.vhci_enumerate_timeout;
  while (absl::Now() < deadline) {
    for (const UsbDeviceInfo& d : inventory_.List()) {
      if (d.syspath.find("vhci_hcd") != std::string::npos && absl::EndsWith(d.busid, suffix) &&
          IsSuperSpeed(d.speed) == IsSuperSpeed(speed)) {
        return d;
      }
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("usb attach: no device appeared on vhci port ", port, " within ",
                   absl::FormatDuration(options_.vhci_enumerate_timeout)));
}

absl::StatusOr<bool> UsbNode::Detach(const std::string& id) {
  absl::MutexLock serial(&attach_mu_);
  UsbAttachmentInfo a;
  {
    absl::MutexLock l(&mu_);
    auto it = attachments_.find(id);
    if (it == attachments_.end()) return false;
    a = it->second;
  }
  if (a.guest_attached && guests_ != nullptr) {
    UsbDeviceInfo d;
    for (const UsbDeviceInfo& x : inventory_.List()) {
      if (x.busnum == a.bus && (a.mode == "local" ? x.busid == a.busid : true) &&
          (a.mode == "local" || absl::EndsWith(x.busid, absl::StrCat("-", a.port)))) {
        d = x;
      }
    }
    if (d.busnum != 0) {
      absl::Status s = guests_->Detach(a.domain, d);
      if (!s.ok() && !absl::IsNotFound(s)) return s;
    }
  }
  if (a.vhci_port >= 0 && vhci_ != nullptr) {
    absl::Status s = vhci_->Detach(a.vhci_port);
    if (!s.ok()) log::Warning(absl::StrCat("usb: ", s.ToString(), " (port released anyway)"));
  }
  bridges_.erase(id);
  absl::MutexLock l(&mu_);
  attachments_.erase(id);
  SaveLocked();
  return true;
}

}  // namespace berth::agent
