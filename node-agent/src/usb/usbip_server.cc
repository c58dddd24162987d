#include "usb/usbip_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "berth/agent/usbip_wire.h"
#include "berth/log.h"
#include "usb/socket_io.h"

namespace berth::agent {

namespace wire = usbip;

// One accepted connection. The fd closes when the last holder (the serving thread or a URB
// completion still in flight) lets go.
struct UsbIpServer::Conn {
  Conn(int f, UsbIpStats* st) : fd(f), stats(st) {}
  ~Conn() {
    stream.reset();
    ::close(fd);
  }
  const int fd;             // owned; shutdown(2) by Disconnect and the destructor
  UsbIpStats* const stats;  // the server's
  // Plain or TLS over fd (not owning it); set by the serving thread before any I/O.
  std::unique_ptr<net::Stream> stream;
  std::string busid;  // set once imported (guarded by the server's mu_)
  absl::Mutex pending_mu;
  std::set<uint32_t> pending ABSL_GUARDED_BY(pending_mu);

  absl::Status Send(const std::vector<uint8_t>& bytes) {
    absl::Status s = stream->WriteAll(bytes);
    if (s.ok()) stats->Out(bytes.size());
    return s;
  }
  // ReadFull, counted.
  absl::Status Read(uint8_t* buf, size_t n) {
    absl::Status s = stream->ReadFull(buf, n);
    if (s.ok()) stats->In(n);
    return s;
  }
};

namespace {

// Standard requests the server performs itself, as the kernel's usbip-host does.
enum class Intercept { kNone, kSetConfiguration, kSetInterface, kClearHalt, kResetPort };

Intercept Classify(const Urb& u) {
  if (u.endpoint != 0) return Intercept::kNone;
  uint8_t type = u.setup[0], req = u.setup[1];
  uint16_t value = u.setup[2] | u.setup[3] << 8;
  if (type == 0x00 && req == 0x09) return Intercept::kSetConfiguration;
  if (type == 0x01 && req == 0x0b) return Intercept::kSetInterface;
  if (type == 0x02 && req == 0x01 && value == 0) return Intercept::kClearHalt;
  if (type == 0x23 && req == 0x03 && value == 4) return Intercept::kResetPort;  // PORT_RESET
  return Intercept::kNone;
}

absl::Status Perform(UsbDevice& dev, Intercept what, const Urb& u) {
  uint16_t value = u.setup[2] | u.setup[3] << 8;
  uint16_t index = u.setup[4] | u.setup[5] << 8;
  switch (what) {
    case Intercept::kSetConfiguration:
      return dev.SetConfiguration(value);
    case Intercept::kSetInterface:
      return dev.SetInterface(index, value);
    case Intercept::kClearHalt:
      return dev.ClearHalt(static_cast<uint8_t>(index));
    case Intercept::kResetPort:
      return dev.ResetPort();
    default:
      return absl::OkStatus();
  }
}

}  // namespace

net::ListenerLimits UsbIpServerConfig::DefaultUsbIpLimits() {
  net::ListenerLimits l;
  l.max_connections = 128;
  l.max_unserved = 64;
  l.max_unserved_per_peer = 16;
  l.first_byte_timeout = absl::Seconds(5);
  l.handshake_timeout = absl::Seconds(5);
  l.idle_timeout = absl::Seconds(30);
  return l;
}

absl::StatusOr<std::unique_ptr<UsbIpServer>> UsbIpServer::Create(UsbIpServerConfig config,
                                                                 ExportedFn exported,
                                                                 UsbDeviceOpener opener) {
  auto server = std::unique_ptr<UsbIpServer>(
      new UsbIpServer(std::move(config), std::move(exported), std::move(opener)));
  const UsbIpServerConfig& c = server->config_;
  net::ListenerConfig lc;
  lc.name = c.listener_name;
  lc.listen = c.listen;
  lc.limits = c.limits;
  lc.allowed_peers = c.allowed_peers;
  lc.metrics = c.metrics;
  if (c.tls) lc.tls = [tls = c.tls] { return tls->Get(); };  // picks up rotated certificates
  auto listener = net::Listener::Serve(
      std::move(lc), [s = server.get()](net::Connection conn) { s->Serve(std::move(conn)); });
  if (!listener.ok()) {
    return absl::Status(listener.status().code(),
                        absl::StrCat("usbip: ", listener.status().message()));
  }
  server->listener_ = *std::move(listener);
  server->address_ = server->listener_->address();
  return server;
}

UsbIpServer::UsbIpServer(UsbIpServerConfig config, ExportedFn exported, UsbDeviceOpener opener)
    : config_(std::move(config)),
      exported_(std::move(exported)),
      opener_(std::move(opener)),
      stats_(config_.stats != nullptr ? config_.stats : &own_stats_) {}

UsbIpServer::~UsbIpServer() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    for (auto& c : conns_) ::shutdown(c->fd, SHUT_RDWR);
  }
  listener_.reset();  // stops accepting and joins the serving threads
}

std::set<std::string> UsbIpServer::Imported() const {
  absl::MutexLock l(&mu_);
  std::set<std::string> out;
  for (const auto& c : conns_) {
    if (!c->busid.empty()) out.insert(c->busid);
  }
  return out;
}

bool UsbIpServer::Disconnect(const std::string& busid) {
  absl::MutexLock l(&mu_);
  bool found = false;
  for (auto& c : conns_) {
    if (c->busid == busid) {
      ::shutdown(c->fd, SHUT_RDWR);
      found = true;
    }
  }
  return found;
}

void UsbIpServer::Serve(net::Connection accepted) {
  auto conn = std::make_shared<Conn>(accepted.fd.release(), stats_);
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return;
    conns_.push_back(conn);
  }
  stats_->connections.fetch_add(1, std::memory_order_relaxed);
  struct Closed {
    UsbIpStats* stats;
    ~Closed() { stats->connections.fetch_sub(1, std::memory_order_relaxed); }
  } closed{stats_};
  if (!Authenticate(*conn, std::move(accepted.ssl))) {
    UsbIpStats::Inc(stats_->errors);
    absl::MutexLock l(&mu_);
    conns_.erase(std::remove(conns_.begin(), conns_.end(), conn), conns_.end());
    return;
  }
  uint8_t hb[wire::kOpHeaderSize];
  absl::Status s = conn->Read(hb, sizeof(hb));
  auto h = s.ok() ? wire::ParseOpHeader(hb) : absl::StatusOr<wire::OpHeader>(s);
  if (h.ok() && h->code == wire::kOpReqDevlist) {
    std::vector<wire::DeviceRecord> records;
    for (const UsbDeviceInfo& d : exported_()) records.push_back(wire::RecordFromInfo(d));
    conn->Send(wire::EncodeDevlistReply(records)).IgnoreError();
  } else if (h.ok() && h->code == wire::kOpReqImport) {
    ServeImport(*conn);
  } else if (h.ok()) {
    UsbIpStats::Inc(stats_->errors);
    conn->Send(wire::EncodeOpHeader({wire::kVersion, 0, wire::kStNa})).IgnoreError();
  }
  absl::MutexLock l(&mu_);
  conns_.erase(std::remove(conns_.begin(), conns_.end(), conn), conns_.end());
}

bool UsbIpServer::Authenticate(Conn& conn, net::UniqueSsl ssl) {
  if (!config_.tls) {
    conn.stream = net::PlainStream(conn.fd, /*owns_fd=*/false, usbsock::Options());
    return true;
  }
  if (!ssl) return false;  // the listener does the handshake whenever TLS is configured
  auto stream =
      net::TlsAcceptedStream(conn.fd, /*owns_fd=*/false, std::move(ssl), usbsock::Options());
  if (!stream.ok()) return false;
  PeerIdentity peer = (*stream)->Peer();
  bool member = config_.tls_groups.empty();
  for (const std::string& g : config_.tls_groups) member |= peer.InGroup(g);
  if (!member) {
    log::Warning(absl::StrCat("usbip: refused ", net::PeerIp(conn.fd), ": certificate \"",
                              peer.name, "\" is not in group ",
                              absl::StrJoin(config_.tls_groups, " or ")));
    return false;
  }
  conn.stream = *std::move(stream);
  return true;
}

void UsbIpServer::ServeImport(Conn& conn) {
  uint8_t raw[wire::kBusIdSize];
  if (!conn.Read(raw, sizeof(raw)).ok()) return;
  auto busid = wire::ParseBusId(raw);
  auto reply = [&](uint32_t st, const wire::DeviceRecord* d) {
    return conn.Send(wire::EncodeImportReply(st, d));
  };
  if (!busid.ok()) {
    reply(wire::kStError, nullptr).IgnoreError();
    return;
  }
  bool exported = false;
  for (const UsbDeviceInfo& d : exported_()) exported |= d.busid == *busid;
  if (!exported) {
    reply(wire::kStNoDev, nullptr).IgnoreError();
    return;
  }
  {
    absl::MutexLock l(&mu_);
    for (const auto& c : conns_) {
      if (c->busid == *busid) {
        reply(wire::kStDevBusy, nullptr).IgnoreError();
        return;
      }
    }
    conn.busid = *busid;
  }
  // An imported device may sit idle between URBs for as long as it is attached: the listener's
  // idle timeout covers only the requests before this point.
  net::SetIoTimeout(conn.fd, absl::ZeroDuration());
  if (config_.kernel_handoff) {
    for (const UsbDeviceInfo& d : exported_()) {
      if (d.busid != *busid) continue;
      wire::DeviceRecord rec = wire::RecordFromInfo(d);
      if (conn.stream->IsTls()) {
        // The kernel cannot speak TLS: it gets one end of a socketpair and this thread relays
        // between the other end and the TLS stream until either side closes.
        int pair[2] = {-1, -1};
        absl::Status handed = usbsock::SocketPair(pair);
        if (handed.ok()) {
          handed = config_.kernel_handoff(d, pair[0]);
          ::close(pair[0]);  // on success the kernel's stub holds its own reference
          if (!handed.ok()) ::close(pair[1]);
        }
        if (handed.ok()) {
          if (reply(wire::kStOk, &rec).ok()) {
            // Relayed in user space but not parsed: counted as an attachment, not in bytes.
            stats_->attachments.fetch_add(1, std::memory_order_relaxed);
            usbsock::Pump(*conn.stream, pair[1]);
            stats_->attachments.fetch_sub(1, std::memory_order_relaxed);
          }
          ::close(pair[1]);
          absl::MutexLock l(&mu_);
          conn.busid.clear();
          return;
        }
        if (!absl::IsNotFound(handed)) {
          log::Info(absl::StrCat("usbip: ", handed.ToString(), " (relaying in user space)"));
        }
        continue;
      }
      absl::Status handed = config_.kernel_handoff(d, conn.fd);
      if (handed.ok()) {
        // The kernel's stub holds its own reference now and serves URBs on this socket.
        reply(wire::kStOk, &rec).IgnoreError();
        absl::MutexLock l(&mu_);
        conn.busid.clear();
        return;
      }
      if (!absl::IsNotFound(handed)) {
        log::Info(absl::StrCat("usbip: ", handed.ToString(), " (relaying in user space)"));
      }
    }
  }
  auto device = opener_(*busid);
  if (!device.ok()) {
    log::Warning(absl::StrCat("usbip: import ", *busid, ": ", device.status().ToString()));
    UsbIpStats::Inc(stats_->errors);
    reply(absl::IsNotFound(device.status()) ? wire::kStNoDev : wire::kStDevErr, nullptr)
        .IgnoreError();
    absl::MutexLock l(&mu_);
    conn.busid.clear();
    return;
  }
  wire::DeviceRecord rec = wire::RecordFromInfo((*device)->Info());
  if (reply(wire::kStOk, &rec).ok()) RelayUrbs(conn, **device);
  absl::MutexLock l(&mu_);
  conn.busid.clear();
}

void UsbIpServer::RelayUrbs(Conn& conn, UsbDevice& device) {
  // Completions may outlive this loop until cancelled; they hold the connection.
  std::shared_ptr<Conn> self;
  {
    absl::MutexLock l(&mu_);
    for (auto& c : conns_) {
      if (c.get() == &conn) self = c;
    }
  }
  UsbIpStats& stats = *stats_;
  stats.attachments.fetch_add(1, std::memory_order_relaxed);
  std::vector<uint8_t> payload;
  for (;;) {
    uint8_t hb[wire::kUrbHeaderSize];
    if (!conn.Read(hb, sizeof(hb)).ok()) break;
    auto h = wire::ParseUrbHeader(hb);
    auto size = h.ok() ? wire::UrbPayloadSize(*h) : absl::StatusOr<size_t>(h.status());
    if (!size.ok() || (h->command != wire::kCmdSubmit && h->command != wire::kCmdUnlink)) {
      UsbIpStats::Inc(stats.errors);  // a protocol error ends the connection
      break;
    }
    payload.resize(*size);
    if (*size > 0 && !conn.Read(payload.data(), *size).ok()) break;
    if (h->command == wire::kCmdUnlink) {
      bool cancelled = device.Cancel(h->u[0]);
      if (cancelled) {
        UsbIpStats::Inc(stats.urbs_unlinked);
        absl::MutexLock l(&conn.pending_mu);
        conn.pending.erase(h->u[0]);
      }
      // -ECONNRESET: cancelled, no RET_SUBMIT follows; 0: it had already completed.
      if (!conn.Send(wire::EncodeRetUnlink(*h, cancelled ? -ECONNRESET : 0)).ok()) break;
      continue;
    }
    auto urb = wire::ParseCmdSubmit(*h, payload);
    if (!urb.ok()) {
      UsbIpStats::Inc(stats.errors);
      break;
    }
    UsbIpStats::Inc(stats.urbs_submitted);
    Intercept what = Classify(*urb);
    if (what != Intercept::kNone) {
      UrbResult r;
      r.status = Perform(device, what, *urb).ok() ? 0 : -EPIPE;
      UsbIpStats::Inc(stats.urbs_completed);
      if (!conn.Send(wire::EncodeRetSubmit(*h, r)).ok()) break;
      continue;
    }
    {
      absl::MutexLock l(&conn.pending_mu);
      conn.pending.insert(h->seqnum);
    }
    wire::UrbHeader cmd = *h;
    device.Submit(*std::move(urb), [self, cmd](UrbResult r) {
      {
        absl::MutexLock l(&self->pending_mu);
        self->pending.erase(cmd.seqnum);
      }
      UsbIpStats::Inc(self->stats->urbs_completed);
      self->Send(wire::EncodeRetSubmit(cmd, r)).IgnoreError();
    });
  }
  std::set<uint32_t> left;
  {
    absl::MutexLock l(&conn.pending_mu);
    left = conn.pending;
  }
  for (uint32_t seq : left) device.Cancel(seq);
  stats.attachments.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace berth::agent
