#include "usb/usbip_client.h"

#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "usb/socket_io.h"

namespace berth::agent {

namespace wire = usbip;

namespace {

SSL_CTX* ClientContext(exportwire::ReloadingTlsContext* tls, std::shared_ptr<SSL_CTX>& hold) {
  if (tls == nullptr) return nullptr;
  hold = tls->Get();  // picks up rotated certificates
  return hold.get();
}

}  // namespace

UsbIpStats& UsbIpClientStats() {
  static UsbIpStats* stats = new UsbIpStats;  // never destroyed: outlives every client
  return *stats;
}

absl::StatusOr<std::vector<wire::DeviceRecord>> UsbIpListRemote(
    const std::string& host, int port, exportwire::ReloadingTlsContext* tls) {
  std::shared_ptr<SSL_CTX> ctx;
  auto sock = net::Dial(host, absl::StrCat(port), ClientContext(tls, ctx), usbsock::Options());
  if (!sock.ok()) return sock.status();
  if (absl::Status s = (*sock)->WriteAll(wire::EncodeDevlistRequest()); !s.ok()) return s;
  // The reply ends when the server closes the connection.
  std::vector<uint8_t> reply;
  uint8_t buf[8192];
  for (;;) {
    auto r = (*sock)->ReadSome(buf, sizeof(buf));
    if (!r.ok()) return r.status();
    if (*r == 0) break;
    reply.insert(reply.end(), buf, buf + *r);
    if (reply.size() > (8u << 20)) return absl::InvalidArgumentError("usbip: devlist too big");
  }
  return wire::ParseDevlistReply(reply);
}

namespace {

absl::StatusOr<UsbIpImported> Import(const std::string& host, int port, const std::string& busid,
                                     exportwire::ReloadingTlsContext* tls) {
  if (busid.empty() || busid.size() >= wire::kBusIdSize) {
    return absl::InvalidArgumentError(absl::StrCat("usbip: bad busid \"", busid, "\""));
  }
  std::shared_ptr<SSL_CTX> ctx;
  auto sock = net::Dial(host, absl::StrCat(port), ClientContext(tls, ctx), usbsock::Options());
  if (!sock.ok()) return sock.status();
  UsbIpImported out;
  out.stream = *std::move(sock);
  net::Stream& io = *out.stream;
  if (absl::Status s = io.WriteAll(wire::EncodeImportRequest(busid)); !s.ok()) return s;
  uint8_t hb[wire::kOpHeaderSize];
  if (absl::Status s = io.ReadFull(hb, sizeof(hb)); !s.ok()) return s;
  auto h = wire::ParseOpHeader(hb);
  if (!h.ok()) return h.status();
  if (h->code != wire::kOpRepImport) {
    return absl::InvalidArgumentError(
        absl::StrCat("usbip: reply code 0x", absl::Hex(h->code), " is not OP_REP_IMPORT"));
  }
  std::string where = absl::StrCat("usbip: import ", busid, " from ", host, ":", port, ": ");
  switch (h->status) {
    case wire::kStOk:
      break;
    case wire::kStNoDev:
      return absl::NotFoundError(where + "no such exported device");
    case wire::kStDevBusy:
      return absl::FailedPreconditionError(where + "device busy (imported by another peer)");
    case wire::kStNa:
      return absl::FailedPreconditionError(where + "not available");
    default:
      return absl::UnavailableError(absl::StrCat(where, "device error (status ", h->status, ")"));
  }
  uint8_t rec[wire::kDeviceRecordSize];
  if (absl::Status s = io.ReadFull(rec, sizeof(rec)); !s.ok()) return s;
  auto d = wire::ParseDeviceRecord(rec);
  if (!d.ok()) return d.status();
  if (d->busid != busid) {
    return absl::InvalidArgumentError(where + "peer answered for busid " + d->busid);
  }
  out.device = *std::move(d);
  return out;
}

}  // namespace

absl::StatusOr<UsbIpImported> UsbIpImport(const std::string& host, int port,
                                          const std::string& busid,
                                          exportwire::ReloadingTlsContext* tls) {
  auto imported = Import(host, port, busid, tls);
  if (!imported.ok()) UsbIpStats::Inc(UsbIpClientStats().errors);
  return imported;
}

UsbIpUrbClient::UsbIpUrbClient(UsbIpImported imported)
    : stream_(std::move(imported.stream)),
      device_(std::move(imported.device)),
      devid_(device_.busnum << 16 | device_.devnum) {
  UsbIpStats& st = UsbIpClientStats();
  st.connections.fetch_add(1, std::memory_order_relaxed);
  st.attachments.fetch_add(1, std::memory_order_relaxed);
  reader_ = std::thread([this] { ReadLoop(); });
}

UsbIpUrbClient::~UsbIpUrbClient() {
  stream_->Shutdown();
  reader_.join();
  UsbIpStats& st = UsbIpClientStats();
  st.connections.fetch_sub(1, std::memory_order_relaxed);
  st.attachments.fetch_sub(1, std::memory_order_relaxed);
}

absl::StatusOr<uint32_t> UsbIpUrbClient::SubmitAsync(Urb urb, UrbCallback done) {
  uint32_t seq;
  {
    absl::MutexLock l(&mu_);
    if (closed_) return absl::UnavailableError("usbip: connection closed");
    seq = next_seq_++;
    pending_[seq] = Pending{urb.in, false, std::move(done)};
  }
  urb.seqnum = seq;
  std::vector<uint8_t> bytes = wire::EncodeCmdSubmit(urb, devid_);
  absl::MutexLock l(&write_mu_);
  if (absl::Status s = stream_->WriteAll(bytes); !s.ok()) return s;
  UsbIpStats& st = UsbIpClientStats();
  st.Out(bytes.size());
  UsbIpStats::Inc(st.urbs_submitted);
  return seq;
}

absl::StatusOr<UrbResult> UsbIpUrbClient::Submit(Urb urb, absl::Duration timeout) {
  auto result = std::make_shared<std::pair<absl::Notification, UrbResult>>();
  auto seq = SubmitAsync(std::move(urb), [result](UrbResult r) {
    result->second = std::move(r);
    result->first.Notify();
  });
  if (!seq.ok()) return seq.status();
  if (!result->first.WaitForNotificationWithTimeout(timeout)) {
    return absl::DeadlineExceededError(absl::StrCat("usbip: URB ", *seq, " timed out"));
  }
  return std::move(result->second);
}

absl::StatusOr<int32_t> UsbIpUrbClient::Unlink(uint32_t victim, absl::Duration timeout) {
  auto result = std::make_shared<std::pair<absl::Notification, int32_t>>();
  uint32_t seq;
  {
    absl::MutexLock l(&mu_);
    if (closed_) return absl::UnavailableError("usbip: connection closed");
    seq = next_seq_++;
    pending_[seq] = Pending{false, true, [result](UrbResult r) {
                              result->second = r.status;
                              result->first.Notify();
                            }};
  }
  {
    absl::MutexLock l(&write_mu_);
    std::vector<uint8_t> bytes = wire::EncodeCmdUnlink(seq, devid_, victim);
    absl::Status s = stream_->WriteAll(bytes);
    if (!s.ok()) return s;
    UsbIpClientStats().Out(bytes.size());
  }
  if (!result->first.WaitForNotificationWithTimeout(timeout)) {
    return absl::DeadlineExceededError("usbip: unlink timed out");
  }
  return result->second;
}

void UsbIpUrbClient::ReadLoop() {
  UsbIpStats& st = UsbIpClientStats();
  std::vector<uint8_t> payload;
  bool protocol_error = true;  // unless the stream simply ends
  for (;;) {
    uint8_t hb[wire::kUrbHeaderSize];
    if (!stream_->ReadFull(hb, sizeof(hb)).ok()) {
      protocol_error = false;
      break;
    }
    st.In(sizeof(hb));
    auto h = wire::ParseUrbHeader(hb);
    if (!h.ok() || (h->command != wire::kRetSubmit && h->command != wire::kRetUnlink)) break;
    Pending p;
    {
      absl::MutexLock l(&mu_);
      auto it = pending_.find(h->seqnum);
      if (it == pending_.end()) break;  // a reply to nothing: protocol error
      p = std::move(it->second);
      pending_.erase(it);
    }
    auto size = wire::UrbPayloadSize(*h, p.in);
    if (!size.ok()) break;
    payload.resize(*size);
    if (*size > 0 && !stream_->ReadFull(payload.data(), *size).ok()) {
      protocol_error = false;
      break;
    }
    st.In(*size);
    if (h->command == wire::kRetUnlink) {
      UrbResult r;
      r.status = static_cast<int32_t>(h->u[0]);
      if (r.status == -ECONNRESET) UsbIpStats::Inc(st.urbs_unlinked);  // cancelled
      p.done(std::move(r));
      continue;
    }
    auto r = wire::ParseRetSubmit(*h, p.in, payload);
    if (!r.ok()) break;
    UsbIpStats::Inc(st.urbs_completed);
    p.done(*std::move(r));
  }
  if (protocol_error) UsbIpStats::Inc(st.errors);
  FailAll(-ESHUTDOWN);
}

void UsbIpUrbClient::FailAll(int32_t status) {
  std::map<uint32_t, Pending> left;
  {
    absl::MutexLock l(&mu_);
    closed_ = true;
    left.swap(pending_);
  }
  for (auto& [seq, p] : left) {
    UrbResult r;
    r.status = status;
    p.done(std::move(r));
  }
}

}  // namespace berth::agent
