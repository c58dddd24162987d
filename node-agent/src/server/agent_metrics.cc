// The agent's /metrics families that read component counters at scrape time.
#include "server/agent_metrics.h"

#include <atomic>
#include <string>
#include <utility>
#include <vector>

namespace berth::agent {
namespace {

using Samples = std::vector<std::pair<metrics::LabelValues, double>>;

double Load(const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); }
double Load(const std::atomic<int64_t>& v) { return v.load(std::memory_order_relaxed); }

}  // namespace

// /metrics for exports: counters read from `s` at scrape time, histograms fed by its hooks.
void RegisterExportMetrics(metrics::Registry& r, ExportStats& s) {
  namespace bm = ::berth::metrics;
  r.AddGaugeCallback(
      {"berth_agent_export_bytes_total",
       "Export image bytes sent (download) and written (upload).",
       {"direction"},
       [&s] {
         return Samples{{{"download"}, Load(s.bytes_served)}, {{"upload"}, Load(s.bytes_received)}};
       },
       /*is_counter=*/true});
  r.AddGaugeCallback({"berth_agent_export_requests_total",
                      "Export HTTP responses by status code.",
                      {"code"},
                      [&s] {
                        Samples out;
                        for (size_t i = 0; i < s.responses.size(); ++i) {
                          if (double v = Load(s.responses[i]); v > 0) {
                            out.push_back({{std::to_string(i)}, v});
                          }
                        }
                        return out;
                      },
                      /*is_counter=*/true});
  r.AddGaugeCallback({"berth_agent_export_tls_refused_total",
                      "Export connections whose TLS handshake failed (e.g. no valid client "
                      "certificate with mutual TLS).",
                      {},
                      [&s] {
                        return Samples{{{}, Load(s.tls_refused)}};
                      },
                      /*is_counter=*/true});
  r.AddGaugeCallback({"berth_agent_exports_active",
                      "Exports holding their image (not expired or stopped), by direction.",
                      {"direction"},
                      [&s] {
                        return Samples{{{"download"}, Load(s.active_downloads)},
                                       {{"upload"}, Load(s.active_uploads)}};
                      }});
  auto& transfer = r.AddHistogram("berth_agent_export_transfer_seconds",
                                  "Export data requests (GET or PUT /data), admission to last "
                                  "byte, by direction.",
                                  {"direction"}, bm::ExponentialBuckets(0.01, 4, 12));
  auto& lifetime = r.AddHistogram("berth_agent_export_lifetime_seconds",
                                  "Exports from start to stop or expiry, by direction.",
                                  {"direction"}, bm::ExponentialBuckets(1, 4, 10));
  bm::Histogram* t[2] = {&transfer.With({"download"}), &transfer.With({"upload"})};
  bm::Histogram* l[2] = {&lifetime.With({"download"}), &lifetime.With({"upload"})};
  s.on_transfer = [t0 = t[0], t1 = t[1]](bool up, double sec) { (up ? t1 : t0)->Observe(sec); };
  s.on_export_end = [l0 = l[0], l1 = l[1]](bool up, double sec) { (up ? l1 : l0)->Observe(sec); };
}

// /metrics for USB/IP: the servers' and this process's client counters, read at scrape time.
void RegisterUsbIpMetrics(metrics::Registry& r, const UsbIpStats& server,
                          const UsbIpStats& client) {
  struct Role {
    const char* name;
    const UsbIpStats* stats;
  };
  std::vector<Role> roles = {{"server", &server}, {"client", &client}};
  auto per_role = [roles](auto field) {  // a pointer to a UsbIpStats member
    return [roles, field] {
      Samples out;
      for (const Role& role : roles) out.push_back({{role.name}, Load(role.stats->*field)});
      return out;
    };
  };
  r.AddGaugeCallback({"berth_agent_usbip_bytes_total",
                      "USB/IP bytes relayed in user space, by role and direction (in: from "
                      "the peer).",
                      {"role", "direction"},
                      [roles] {
                        Samples out;
                        for (const Role& role : roles) {
                          out.push_back({{role.name, "in"}, Load(role.stats->bytes_in)});
                          out.push_back({{role.name, "out"}, Load(role.stats->bytes_out)});
                        }
                        return out;
                      },
                      /*is_counter=*/true});
  r.AddGaugeCallback({"berth_agent_usbip_urbs_submitted_total",
                      "USB/IP URBs submitted.",
                      {"role"},
                      per_role(&UsbIpStats::urbs_submitted),
                      true});
  r.AddGaugeCallback({"berth_agent_usbip_urbs_completed_total",
                      "USB/IP URBs completed (RET_SUBMIT, any status).",
                      {"role"},
                      per_role(&UsbIpStats::urbs_completed),
                      true});
  r.AddGaugeCallback({"berth_agent_usbip_urbs_unlinked_total",
                      "USB/IP URBs cancelled by CMD_UNLINK before completing.",
                      {"role"},
                      per_role(&UsbIpStats::urbs_unlinked),
                      true});
  r.AddGaugeCallback({"berth_agent_usbip_errors_total",
                      "USB/IP protocol errors, refused connections and failed imports.",
                      {"role"},
                      per_role(&UsbIpStats::errors),
                      true});
  r.AddGaugeCallback({"berth_agent_usbip_connections",
                      "Open USB/IP connections (server) and URB clients (client).",
                      {"role"},
                      per_role(&UsbIpStats::connections)});
  r.AddGaugeCallback({"berth_agent_usbip_attachments",
                      "Imported USB devices relayed in user space right now.",
                      {"role"},
                      per_role(&UsbIpStats::attachments)});
}

}  // namespace berth::agent
