// Measures the user-space USB/IP relay over loopback TCP against a direct in-process call to the
// same software device: bulk IN/OUT throughput at 16 and 64 KiB per URB (one URB in flight, and
// 8 in flight as the kernel's vhci pipelines them), and the latency a control URB gains.
// Targets (issue 5): >= 100 MB/s bulk, <= 50 us added per control URB.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "software_device.h"
#include "usb/usbip_client.h"
#include "usb/usbip_server.h"

namespace ba = berth::agent;

namespace {

ba::Urb Bulk(bool in, int size) {
  ba::Urb u;
  u.in = in;
  u.endpoint = 2;  // 0x82 source / 0x02 sink
  u.buffer_length = size;
  if (!in) u.data.assign(size, 0x5a);
  return u;
}

ba::Urb GetDeviceDescriptor() {
  ba::Urb u;
  u.in = true;
  u.buffer_length = 18;
  uint8_t setup[8] = {0x80, 6, 0, 1, 0, 0, 18, 0};
  memcpy(u.setup, setup, 8);
  return u;
}

ba::UrbResult Direct(ba::UsbDevice& dev, ba::Urb u) {
  ba::UrbResult out;
  absl::Notification done;
  dev.Submit(std::move(u), [&](ba::UrbResult r) {
    out = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return out;
}

// Returns MB/s moving `size`-byte URBs for `seconds` with `depth` in flight.
double RelayThroughput(ba::UsbIpUrbClient& c, bool in, int size, int depth, double seconds) {
  absl::Mutex mu;
  absl::CondVar cv;
  int64_t bytes = 0;
  int inflight = 0;
  absl::Time start = absl::Now(), end = start + absl::Seconds(seconds);
  while (absl::Now() < end) {
    {
      absl::MutexLock l(&mu);
      while (inflight >= depth) cv.Wait(&mu);
      ++inflight;
    }
    auto s = c.SubmitAsync(Bulk(in, size), [&, in](ba::UrbResult r) {
      absl::MutexLock l(&mu);
      bytes += in ? static_cast<int64_t>(r.data.size()) : r.actual_length;
      --inflight;
      cv.Signal();
    });
    if (!s.ok()) return 0;
  }
  absl::MutexLock l(&mu);
  while (inflight > 0) cv.Wait(&mu);
  return bytes / absl::ToDoubleSeconds(absl::Now() - start) / 1e6;
}

double DirectThroughput(ba::UsbDevice& dev, bool in, int size, double seconds) {
  int64_t bytes = 0;
  absl::Time start = absl::Now(), end = start + absl::Seconds(seconds);
  while (absl::Now() < end) {
    ba::UrbResult r = Direct(dev, Bulk(in, size));
    bytes += in ? static_cast<int64_t>(r.data.size()) : r.actual_length;
  }
  return bytes / absl::ToDoubleSeconds(absl::Now() - start) / 1e6;
}

double MedianMicros(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--seconds") seconds = std::stod(argv[i + 1]);
  }
  ba::UsbDeviceInfo info = ba::testing::SoftwareUsbDevice::DefaultInfo("9-1");
  ba::testing::SoftwareUsbDevice direct(info);
  ba::UsbIpServerConfig config;
  config.listen = "127.0.0.1:0";
  auto server = ba::UsbIpServer::Create(
      config, [&] { return std::vector<ba::UsbDeviceInfo>{info}; },
      [&](const std::string&) -> absl::StatusOr<std::unique_ptr<ba::UsbDevice>> {
        return std::make_unique<ba::testing::SoftwareUsbDevice>(info);
      });
  if (!server.ok()) {
    fprintf(stderr, "bench: %s\n", server.status().ToString().c_str());
    return 1;
  }
  auto imported = ba::UsbIpImport("127.0.0.1", (*server)->Port(), "9-1");
  if (!imported.ok()) {
    fprintf(stderr, "bench: %s\n", imported.status().ToString().c_str());
    return 1;
  }
  ba::UsbIpUrbClient client(*std::move(imported));

  printf("USB/IP relay over loopback vs. a direct in-process call (software bulk device)\n");
  printf("%-22s %12s %12s %12s %8s\n", "bulk transfer", "direct MB/s", "depth1 MB/s", "depth8 MB/s",
         "d8/dir");
  bool pass = true;
  for (bool in : {true, false}) {
    for (int kib : {16, 64}) {
      int size = kib << 10;
      double d = DirectThroughput(direct, in, size, seconds);
      double r1 = RelayThroughput(client, in, size, 1, seconds);
      double r8 = RelayThroughput(client, in, size, 8, seconds);
      std::string what = std::string(in ? "IN  " : "OUT ") + std::to_string(kib) + " KiB";
      printf("%-22s %12.0f %12.0f %12.0f %8.3f\n", what.c_str(), d, r1, r8, r8 / d);
      pass &= r8 >= 100;
    }
  }
  std::vector<double> direct_us, relay_us;
  for (int i = 0; i < 2000; ++i) {
    absl::Time t0 = absl::Now();
    Direct(direct, GetDeviceDescriptor());
    absl::Time t1 = absl::Now();
    auto r = client.Submit(GetDeviceDescriptor());
    absl::Time t2 = absl::Now();
    if (!r.ok() || r->data.size() != 18) {
      fprintf(stderr, "bench: control URB failed\n");
      return 1;
    }
    direct_us.push_back(absl::ToDoubleMicroseconds(t1 - t0));
    relay_us.push_back(absl::ToDoubleMicroseconds(t2 - t1));
  }
  double dm = MedianMicros(direct_us), rm = MedianMicros(relay_us);
  printf(
      "control URB (GET_DESCRIPTOR, median of 2000): direct %.1f us, relay %.1f us, "
      "added %.1f us (ratio %.1fx)\n",
      dm, rm, rm - dm, rm / std::max(dm, 0.001));
  pass &= rm - dm <= 50;
  printf("targets (>= 100 MB/s bulk at depth 8, <= 50 us added per control URB): %s\n",
         pass ? "met" : "NOT met");
  return 0;
}
