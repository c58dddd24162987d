#include "berth/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <streambuf>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"

namespace berth::log {
namespace {

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarning:
      return "warning";
    case Level::kError:
      return "error";
  }
  return "info";
}

// logfmt: bare when the value has no space, quote or '=', else quoted with escapes.
std::string LogfmtValue(const std::string& v) {
  bool quote = v.empty();
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      quote = true;
    }
  }
  if (!quote) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

struct Sink {
  absl::Mutex mu;
  Format format = Format::kText;
  std::string component;
  std::atomic<int> verbosity{0};
  std::streambuf* original = nullptr;  // std::cerr's own buffer, written under mu
};

Sink& TheSink() {
  static Sink* sink = new Sink();  // never destroyed: logging works during exit
  return *sink;
}

void Write(Level level, const std::string& msg, const Fields& fields) {
  Sink& s = TheSink();
  std::string line;
  {
    absl::MutexLock l(&s.mu);
    line = FormatRecord(s.format, absl::Now(), level, s.component, msg, fields) + "\n";
  }
  // One write(2) per record: concurrent records never interleave within a line.
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

// Collects what code writes to std::cerr per thread and logs each complete line as a record.
class CaptureBuf : public std::streambuf {
 protected:
  int overflow(int c) override {
    if (c == EOF) return 0;
    Append(std::string(1, static_cast<char>(c)));
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    Append(std::string(s, static_cast<size_t>(n)));
    return n;
  }

 private:
  static std::string& Pending() {
    thread_local std::string pending;
    return pending;
  }
  void Append(const std::string& text) {
    std::string& pending = Pending();
    pending += text;
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (!line.empty()) Write(Level::kInfo, line, {});
    }
  }
};

}  // namespace

absl::StatusOr<Format> ParseFormat(const std::string& name) {
  std::string n = absl::AsciiStrToLower(name);
  if (n == "text" || n.empty()) return Format::kText;
  if (n == "logfmt") return Format::kLogfmt;
  if (n == "json") return Format::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("--log_format: \"", name, "\" is not one of text, logfmt, json"));
}

std::string FormatRecord(Format format, absl::Time time, Level level, const std::string& component,
                         const std::string& msg, const Fields& fields) {
  std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
  switch (format) {
    case Format::kJson: {
      nlohmann::ordered_json j;
      j["time"] = ts;
      j["level"] = LevelName(level);
      if (!component.empty()) j["component"] = component;
      j["msg"] = msg;
      for (const auto& [k, v] : fields) j[k] = v;
      return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    case Format::kLogfmt: {
      std::string out = absl::StrCat("time=", ts, " level=", LevelName(level));
      if (!component.empty()) absl::StrAppend(&out, " component=", LogfmtValue(component));
      absl::StrAppend(&out, " msg=", LogfmtValue(msg));
      for (const auto& [k, v] : fields) absl::StrAppend(&out, " ", k, "=", LogfmtValue(v));
      return out;
    }
    case Format::kText:
      break;
  }
  std::string out = absl::StrCat(ts, " ", absl::AsciiStrToUpper(LevelName(level)).substr(0, 1), " ",
                                 component.empty() ? "" : component + ": ", msg);
  for (const auto& [k, v] : fields) absl::StrAppend(&out, " ", k, "=", LogfmtValue(v));
  return out;
}

void Init(Format format, int verbosity, const std::string& component) {
  Sink& s = TheSink();
  {
    absl::MutexLock l(&s.mu);
    s.format = format;
    s.component = component;
  }
  s.verbosity = verbosity;
  if (format != Format::kText && s.original == nullptr) {
    static CaptureBuf* capture = new CaptureBuf();  // lives as long as std::cerr
    s.original = std::cerr.rdbuf(capture);
  }
}

bool VEnabled(int level) { return level <= TheSink().verbosity.load(); }

void Info(const std::string& msg, const Fields& fields) { Write(Level::kInfo, msg, fields); }
void Warning(const std::string& msg, const Fields& fields) { Write(Level::kWarning, msg, fields); }
void Error(const std::string& msg, const Fields& fields) { Write(Level::kError, msg, fields); }
void V(int level, const std::string& msg, const Fields& fields) {
  if (VEnabled(level)) Write(Level::kDebug, msg, fields);
}

Fields ObjectFields(const std::string& key) {
  std::vector<std::string> parts = absl::StrSplit(key, absl::MaxSplits('/', 2));
  parts.resize(3);
  Fields out = {{"kind", parts[0]}};
  if (!parts[1].empty()) out.push_back({"namespace", parts[1]});
  out.push_back({"name", parts[2]});
  return out;
}

}  // namespace berth::log
