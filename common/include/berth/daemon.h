#ifndef BERTH_DAEMON_H_
#define BERTH_DAEMON_H_

#include <malloc.h>

#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/server_builder.h"

namespace berth {

// Process-wide settings both daemons start with.
inline void ConfigureDaemonProcess() {
  // Debian's Abseil checks every Mutex acquisition against a global lock graph (deadlock
  // detection, meant for debug builds); the unit tests keep it, the daemons run without it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // glibc raises its mmap threshold each time a large block is freed, after which per-
  // connection buffers (the export's 256 KiB TLS buffers) come from per-thread arenas that keep
  // them after the connection ends: measured, 30 export connections grew the agent by 70 MB
  // that never came back. A fixed threshold returns such blocks to the kernel on free, and
  // fewer arenas bound what short-lived handler threads leave behind.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  mallopt(M_ARENA_MAX, 4);
}

// --help lists the flags of the file each daemon reads them in (server/agent_options.cc,
// src/server/controller_options.cc), not only main.cc's, as Abseil would by default. Call
// before absl::ParseCommandLine.
inline void HelpListsOptionsFlags() {
  absl::FlagsUsageConfig config;
  config.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "_options.cc") || absl::EndsWith(path, "main.cc");
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
}

// A synchronous gRPC server runs each call on a thread of its own and by default keeps at most
// two idle ones: with more calls in flight, every further call starts a thread and ends it when
// done. Under load (thousands of snapshot applies and cuts a second) that was a few hundred
// thread creations a second per daemon. Keeping up to `idle` threads waiting ends the churn;
// idle ones sleep on the completion queue.
inline void KeepServerThreads(grpc::ServerBuilder& builder, int idle) {
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, idle);
}

}  // namespace berth

#endif  // BERTH_DAEMON_H_
