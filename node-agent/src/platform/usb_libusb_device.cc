// The user-space USB/IP relay to real hardware: a UsbDevice over libusb asynchronous
// transfers (control, bulk, interrupt, isochronous) with one event thread per opened device.
// Kernel drivers are detached while the device is exported and reattached on close.
#include <libusb.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "berth/agent/usb.h"

namespace berth::agent {
namespace {

struct ContextDeleter {
  void operator()(libusb_context* c) const { libusb_exit(c); }
};
struct HandleDeleter {
  void operator()(libusb_device_handle* h) const { libusb_close(h); }
};
using ContextPtr = std::unique_ptr<libusb_context, ContextDeleter>;
using HandlePtr = std::unique_ptr<libusb_device_handle, HandleDeleter>;

int32_t Errno(libusb_transfer_status s) {
  switch (s) {
    case LIBUSB_TRANSFER_COMPLETED:
      return 0;
    case LIBUSB_TRANSFER_STALL:
      return -EPIPE;
    case LIBUSB_TRANSFER_CANCELLED:
      return -ECONNRESET;
    case LIBUSB_TRANSFER_NO_DEVICE:
      return -ENODEV;
    case LIBUSB_TRANSFER_TIMED_OUT:
      return -ETIMEDOUT;
    case LIBUSB_TRANSFER_OVERFLOW:
      return -EOVERFLOW;
    default:
      return -EPROTO;
  }
}

absl::Status LibusbError(const char* what, int rc) {
  std::string msg = absl::StrCat("libusb: ", what, ": ", libusb_error_name(rc));
  if (rc == LIBUSB_ERROR_NO_DEVICE || rc == LIBUSB_ERROR_NOT_FOUND) {
    return absl::NotFoundError(msg);
  }
  return absl::UnavailableError(msg);
}

class LibusbDevice : public UsbDevice {
 public:
  LibusbDevice(ContextPtr ctx, HandlePtr handle, UsbDeviceInfo info)
      : ctx_(std::move(ctx)), handle_(std::move(handle)), info_(std::move(info)) {
    libusb_set_auto_detach_kernel_driver(handle_.get(), 1);
    ClaimAll();
    events_ = std::thread([this] { Events(); });
  }
  ~LibusbDevice() override {
    std::vector<libusb_transfer*> left;
    {
      absl::MutexLock l(&mu_);
      for (auto& [seq, t] : inflight_) left.push_back(t->transfer);
    }
    for (libusb_transfer* t : left) libusb_cancel_transfer(t);
    {
      absl::MutexLock l(&mu_);
      mu_.Await(absl::Condition(
          +[](std::map<uint32_t, Inflight*>* m) { return m->empty(); }, &inflight_));
      stop_ = true;
    }
    libusb_interrupt_event_handler(ctx_.get());
    events_.join();
    ReleaseAll();
  }

  const UsbDeviceInfo& Info() const override { return info_; }

  UsbTransferType EndpointType(uint8_t endpoint, bool in) const override {
    if (endpoint == 0) return UsbTransferType::kControl;
    libusb_config_descriptor* cfg = nullptr;
    UsbTransferType type = UsbTransferType::kBulk;
    if (libusb_get_active_config_descriptor(libusb_get_device(handle_.get()), &cfg) != 0) {
      return type;
    }
    uint8_t address = endpoint | (in ? 0x80 : 0);
    for (int i = 0; i < cfg->bNumInterfaces; ++i) {
      for (int a = 0; a < cfg->interface[i].num_altsetting; ++a) {
        const libusb_interface_descriptor& alt = cfg->interface[i].altsetting[a];
        for (int e = 0; e < alt.bNumEndpoints; ++e) {
          if (alt.endpoint[e].bEndpointAddress != address) continue;
          switch (alt.endpoint[e].bmAttributes & 3) {
            case LIBUSB_TRANSFER_TYPE_ISOCHRONOUS:
              type = UsbTransferType::kIsochronous;
              break;
            case LIBUSB_TRANSFER_TYPE_INTERRUPT:
              type = UsbTransferType::kInterrupt;
              break;
            default:
              type = UsbTransferType::kBulk;
          }
        }
      }
    }
    libusb_free_config_descriptor(cfg);
    return type;
  }

  void Submit(Urb urb, UrbCallback done) override {
    UsbTransferType type = EndpointType(urb.endpoint, urb.in);
    int packets = type == UsbTransferType::kIsochronous ? static_cast<int>(urb.iso.size()) : 0;
    libusb_transfer* t = libusb_alloc_transfer(packets);
    auto* ctx = new Inflight{this, urb.seqnum, urb.in, std::move(done), t, {}, false};
    uint8_t ep = urb.endpoint | (urb.in ? 0x80 : 0);
    size_t len = static_cast<size_t>(urb.buffer_length);
    if (type == UsbTransferType::kControl) {
      ctx->buffer.resize(8 + len);
      memcpy(ctx->buffer.data(), urb.setup, 8);
      if (!urb.in) memcpy(ctx->buffer.data() + 8, urb.data.data(), urb.data.size());
      libusb_fill_control_transfer(t, handle_.get(), ctx->buffer.data(), &Done, ctx, 0);
    } else {
      ctx->buffer = urb.in ? std::vector<uint8_t>(len) : std::move(urb.data);
      if (type == UsbTransferType::kIsochronous) {
        libusb_fill_iso_transfer(t, handle_.get(), ep, ctx->buffer.data(),
                                 static_cast<int>(ctx->buffer.size()), packets, &Done, ctx, 0);
        for (int i = 0; i < packets; ++i) t->iso_packet_desc[i].length = urb.iso[i].length;
      } else if (type == UsbTransferType::kInterrupt) {
        libusb_fill_interrupt_transfer(t, handle_.get(), ep, ctx->buffer.data(),
                                       static_cast<int>(ctx->buffer.size()), &Done, ctx, 0);
      } else {
        libusb_fill_bulk_transfer(t, handle_.get(), ep, ctx->buffer.data(),
                                  static_cast<int>(ctx->buffer.size()), &Done, ctx, 0);
        if (urb.transfer_flags & 0x40) t->flags |= LIBUSB_TRANSFER_ADD_ZERO_PACKET;
      }
    }
    {
      absl::MutexLock l(&mu_);
      inflight_[urb.seqnum] = ctx;
    }
    int rc = libusb_submit_transfer(t);
    if (rc != 0) {
      {
        absl::MutexLock l(&mu_);
        inflight_.erase(urb.seqnum);
      }
      UrbResult r;
      r.status = rc == LIBUSB_ERROR_NO_DEVICE ? -ENODEV : -EPROTO;
      UrbCallback cb = std::move(ctx->done);
      libusb_free_transfer(t);
      delete ctx;
      cb(std::move(r));
    }
  }

  bool Cancel(uint32_t seqnum) override {
    absl::MutexLock l(&mu_);
    auto it = inflight_.find(seqnum);
    if (it == inflight_.end()) return false;
    it->second->cancelled = true;
    return libusb_cancel_transfer(it->second->transfer) == 0;
  }

  absl::Status SetConfiguration(int value) override {
    ReleaseAll();
    int rc = libusb_set_configuration(handle_.get(), value);
    ClaimAll();
    return rc == 0 ? absl::OkStatus() : LibusbError("set configuration", rc);
  }
  absl::Status SetInterface(int interface, int alt) override {
    int rc = libusb_set_interface_alt_setting(handle_.get(), interface, alt);
    return rc == 0 ? absl::OkStatus() : LibusbError("set interface", rc);
  }
  absl::Status ClearHalt(uint8_t endpoint_address) override {
    int rc = libusb_clear_halt(handle_.get(), endpoint_address);
    return rc == 0 ? absl::OkStatus() : LibusbError("clear halt", rc);
  }
  absl::Status ResetPort() override {
    int rc = libusb_reset_device(handle_.get());
    return rc == 0 ? absl::OkStatus() : LibusbError("reset", rc);
  }

 private:
  struct Inflight {
    LibusbDevice* self;
    uint32_t seqnum;
    bool in;
    UrbCallback done;
    libusb_transfer* transfer;
    std::vector<uint8_t> buffer;
    bool cancelled;
  };

  static void LIBUSB_CALL Done(libusb_transfer* t) {
    auto* ctx = static_cast<Inflight*>(t->user_data);
    LibusbDevice* self = ctx->self;
    bool cancelled;
    {
      absl::MutexLock l(&self->mu_);
      cancelled = ctx->cancelled;
      self->inflight_.erase(ctx->seqnum);
    }
    if (!cancelled) {
      UrbResult r;
      r.status = Errno(t->status);
      bool control = t->type == LIBUSB_TRANSFER_TYPE_CONTROL;
      size_t offset = control ? 8 : 0;
      if (t->type == LIBUSB_TRANSFER_TYPE_ISOCHRONOUS) {
        size_t at = 0;
        for (int i = 0; i < t->num_iso_packets; ++i) {
          const libusb_iso_packet_descriptor& p = t->iso_packet_desc[i];
          r.iso.push_back({static_cast<uint32_t>(at), p.length, p.actual_length, Errno(p.status)});
          if (ctx->in) {
            const uint8_t* src = libusb_get_iso_packet_buffer(t, i);
            r.data.insert(r.data.end(), src, src + p.actual_length);
          }
          at += p.length;
          r.actual_length += static_cast<int32_t>(p.actual_length);
        }
      } else if (ctx->in) {
        r.data.assign(ctx->buffer.begin() + offset,
                      ctx->buffer.begin() + offset + t->actual_length);
      } else {
        r.actual_length = t->actual_length;
      }
      ctx->done(std::move(r));
    }
    libusb_free_transfer(t);
    delete ctx;
  }

  void Events() {
    for (;;) {
      {
        absl::MutexLock l(&mu_);
        if (stop_) return;
      }
      timeval tv{0, 200000};
      libusb_handle_events_timeout_completed(ctx_.get(), &tv, nullptr);
    }
  }

  void ClaimAll() {
    for (size_t i = 0; i < info_.interfaces.size(); ++i) {
      libusb_claim_interface(handle_.get(), static_cast<int>(i));
    }
  }
  void ReleaseAll() {
    for (size_t i = 0; i < info_.interfaces.size(); ++i) {
      libusb_release_interface(handle_.get(), static_cast<int>(i));
    }
  }

  ContextPtr ctx_;
  HandlePtr handle_;
  const UsbDeviceInfo info_;
  absl::Mutex mu_;
  std::map<uint32_t, Inflight*> inflight_ ABSL_GUARDED_BY(mu_);  // owned by their transfers
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread events_;
};

absl::StatusOr<std::unique_ptr<UsbDevice>> OpenLibusb(const UsbDeviceInfo& info) {
  libusb_context* raw = nullptr;
  int rc = libusb_init(&raw);
  if (rc != 0) return LibusbError("init", rc);
  ContextPtr ctx(raw);
  libusb_device** list = nullptr;
  ssize_t n = libusb_get_device_list(ctx.get(), &list);
  if (n < 0) return LibusbError("device list", static_cast<int>(n));
  HandlePtr handle;
  rc = LIBUSB_ERROR_NOT_FOUND;
  for (ssize_t i = 0; i < n; ++i) {
    if (libusb_get_bus_number(list[i]) != info.busnum ||
        libusb_get_device_address(list[i]) != info.devnum) {
      continue;
    }
    libusb_device_handle* h = nullptr;
    rc = libusb_open(list[i], &h);
    if (rc == 0) handle.reset(h);
    break;
  }
  libusb_free_device_list(list, 1);
  if (!handle) return LibusbError(absl::StrCat("open ", info.busid).c_str(), rc);
  return std::make_unique<LibusbDevice>(std::move(ctx), std::move(handle), info);
}

}  // namespace

UsbDeviceOpener NewLibusbOpener(const UsbInventory& inventory) {
  return [&inventory](const std::string& busid) -> absl::StatusOr<std::unique_ptr<UsbDevice>> {
    for (const UsbDeviceInfo& d : inventory.List()) {
      if (d.busid == busid) return OpenLibusb(d);
    }
    return absl::NotFoundError(absl::StrCat("usb: no device at ", busid));
  };
}

}  // namespace berth::agent
