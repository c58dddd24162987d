// The HTTP side of the export server: one function serves one kept-alive TLS connection.
#ifndef BERTH_AGENT_SRC_EXPORT_EXPORT_HTTP_H_
#define BERTH_AGENT_SRC_EXPORT_EXPORT_HTTP_H_

#include <atomic>

#include "berth/exportwire/export_wire.h"
#include "export/export_registry.h"
#include "export/export_request.h"

namespace berth::agent {

// Serves requests on `conn` until the peer closes, an error occurs or `stopping` is set.
// Logs one line per request on stderr (export id, method, range, status, bytes).
void ServeConnection(exportwire::HttpConn& conn, ExportRegistry& registry,
                     const std::atomic<bool>& stopping);

}  // namespace berth::agent

#endif  // BERTH_AGENT_SRC_EXPORT_EXPORT_HTTP_H_
