#ifndef BERTH_LOG_H_
#define BERTH_LOG_H_

// Structured logs for the daemons: one record per line on stderr, as plain text, logfmt or
// JSON (chosen by --log_format), each with time, level, component, message and key=value
// fields (object keys: kind, namespace, name).
//
// The sink is process-wide, configured once by main() before other threads start (the one
// exception to "no mutable globals": stderr itself is process-wide). Lines other code writes
// to std::cerr are captured too and emitted as records with level=info, so a JSON log stays
// parseable line by line. Thread-safe.

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace berth::log {

enum class Format { kText, kLogfmt, kJson };
enum class Level { kDebug, kInfo, kWarning, kError };

using Fields = std::vector<std::pair<std::string, std::string>>;

// Parses "text", "logfmt" or "json".
absl::StatusOr<Format> ParseFormat(const std::string& name);

// Formats one record (no trailing newline). Pure; exposed for tests.
std::string FormatRecord(Format format, absl::Time time, Level level, const std::string& component,
                         const std::string& msg, const Fields& fields);

// Configures the sink: format, verbosity (V(n) logs when n <= verbosity) and the component
// name (e.g. "controller"). With logfmt or json, std::cerr is redirected through the sink.
void Init(Format format, int verbosity, const std::string& component);

// Returns whether V(level) records are written.
bool VEnabled(int level);

void Info(const std::string& msg, const Fields& fields = {});
void Warning(const std::string& msg, const Fields& fields = {});
void Error(const std::string& msg, const Fields& fields = {});
// Logs at debug level when `level` <= the configured verbosity.
void V(int level, const std::string& msg, const Fields& fields = {});

// Joins values as `std::ostream <<` prints them (absl::Status, numbers, strings) into one
// message: log::Error(log::Str("pool ", name, ": ", status)).
template <typename... T>
std::string Str(const T&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// Returns kind/namespace/name fields for an object key "Kind/ns/name".
Fields ObjectFields(const std::string& key);

}  // namespace berth::log

#endif  // BERTH_LOG_H_
