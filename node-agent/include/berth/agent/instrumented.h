#ifndef BERTH_AGENT_INSTRUMENTED_H_
#define BERTH_AGENT_INSTRUMENTED_H_

#include <memory>
#include <string>

#include "berth/agent/guest.h"
#include "berth/agent/storage_backend.h"
#include "berth/metrics.h"

namespace berth::agent {

// Wraps a pool's backend and records, per pool and operation, how long calls take and how many
// fail (berth_agent_storage_op_seconds, berth_agent_storage_op_errors_total), plus the bytes of
// snapshots and volumes created (berth_agent_storage_bytes_total). Behaviour is the wrapped
// backend's. `registry` must outlive the result.
std::unique_ptr<StorageBackend> InstrumentStorage(std::unique_ptr<StorageBackend> backend,
                                                  const std::string& pool,
                                                  metrics::Registry& registry);

// Wraps a freezer and records freeze windows: from the Acquire that froze a domain to the
// Release that thawed it (berth_agent_freeze_window_seconds), and failed freezes/thaws.
// `inner` and `registry` must outlive the result. Thread-safe.
std::unique_ptr<Freezer> InstrumentFreezer(Freezer& inner, metrics::Registry& registry);

}  // namespace berth::agent

#endif  // BERTH_AGENT_INSTRUMENTED_H_
