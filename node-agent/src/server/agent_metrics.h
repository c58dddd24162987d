// The agent's /metrics families that read component counters at scrape time (the components
// count into plain atomics and know nothing of Prometheus). Names and help texts are the
// contract with dashboards and alerts (docs/operations.md).
#ifndef BERTH_AGENT_SERVER_AGENT_METRICS_H_
#define BERTH_AGENT_SERVER_AGENT_METRICS_H_

#include "berth/agent/export_server.h"
#include "berth/metrics.h"
#include "usb/usbip_server.h"

namespace berth::agent {

// berth_agent_export_*: counters read from `s` at scrape time; histograms fed by the hooks this
// sets on `s` (call before the export server starts). `s` must outlive `r`'s scrapes.
void RegisterExportMetrics(metrics::Registry& r, ExportStats& s);

// berth_agent_usbip_*: the USB/IP servers' counters (`server`) and this process's client
// counters (`client`), by role. Both must outlive `r`'s scrapes.
void RegisterUsbIpMetrics(metrics::Registry& r, const UsbIpStats& server, const UsbIpStats& client);

}  // namespace berth::agent

#endif  // BERTH_AGENT_SERVER_AGENT_METRICS_H_
