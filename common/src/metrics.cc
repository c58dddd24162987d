#include "berth/metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace berth::metrics {

uint64_t AtomicDouble::Encode(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof(b));
  return b;
}

double AtomicDouble::Decode(uint64_t b) {
  double v;
  std::memcpy(&v, &b, sizeof(v));
  return v;
}

void AtomicDouble::Add(double v) {
  uint64_t old = bits_.load(std::memory_order_relaxed);
  while (!bits_.compare_exchange_weak(old, Encode(Decode(old) + v), std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.Add(v);
}

uint64_t Histogram::CumulativeCount(size_t i) const {
  uint64_t total = 0;
  for (size_t j = 0; j <= i && j <= bounds_.size(); ++j) {
    total += buckets_[j].load(std::memory_order_relaxed);
  }
  return total;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

std::vector<double> DefaultLatencyBuckets() { return ExponentialBuckets(0.001, 2, 16); }

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrCat(static_cast<int64_t>(v));
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

namespace {

// Returns `{a="x",b="y"}` (with `extra` appended, e.g. le="0.5"), or "" without labels.
std::string LabelText(const std::vector<std::string>& names, const LabelValues& values,
                      const std::string& extra = "") {
  std::vector<std::string> parts;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    parts.push_back(absl::StrCat(names[i], "=\"", EscapeLabelValue(values[i]), "\""));
  }
  if (!extra.empty()) parts.push_back(extra);
  if (parts.empty()) return "";
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

std::string EscapeHelp(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(help), "\n# TYPE ", name, " ", type, "\n");
}

template <typename T>
void RenderScalar(std::string& out, const Family<T>& f, const char* type) {
  Header(out, f.name(), f.help(), type);
  f.ForEach([&](const LabelValues& values, const T& m) {
    absl::StrAppend(&out, f.name(), LabelText(f.label_names(), values), " ", FormatValue(m.Value()),
                    "\n");
  });
}

void RenderHistogram(std::string& out, const Family<Histogram>& f) {
  Header(out, f.name(), f.help(), "histogram");
  f.ForEach([&](const LabelValues& values, const Histogram& h) {
    const auto& names = f.label_names();
    for (size_t i = 0; i <= h.bounds().size(); ++i) {
      std::string le = i < h.bounds().size() ? FormatValue(h.bounds()[i]) : "+Inf";
      absl::StrAppend(&out, f.name(), "_bucket",
                      LabelText(names, values, absl::StrCat("le=\"", le, "\"")), " ",
                      h.CumulativeCount(i), "\n");
    }
    absl::StrAppend(&out, f.name(), "_sum", LabelText(names, values), " ", FormatValue(h.Sum()),
                    "\n", f.name(), "_count", LabelText(names, values), " ", h.Count(), "\n");
  });
}

}  // namespace

Registry::Entry& Registry::EntryFor(const std::string& name) { return entries_[name]; }

namespace {
[[noreturn]] void TypeClash(const std::string& name) {
  std::cerr << "metrics: " << name << " registered twice with different types\n";
  std::abort();
}
}  // namespace

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  absl::MutexLock l(&mu_);
  Entry& e = EntryFor(name);
  if (e.gauge || e.histogram || e.callback) TypeClash(name);
  if (!e.counter) {
    e.counter = std::make_unique<Family<Counter>>(name, help, std::move(label_names),
                                                  [] { return std::make_unique<Counter>(); });
  }
  return *e.counter;
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  absl::MutexLock l(&mu_);
  Entry& e = EntryFor(name);
  if (e.counter || e.histogram || e.callback) TypeClash(name);
  if (!e.gauge) {
    e.gauge = std::make_unique<Family<Gauge>>(name, help, std::move(label_names),
                                              [] { return std::make_unique<Gauge>(); });
  }
  return *e.gauge;
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  absl::MutexLock l(&mu_);
  Entry& e = EntryFor(name);
  if (e.counter || e.gauge || e.callback) TypeClash(name);
  if (!e.histogram) {
    e.histogram = std::make_unique<Family<Histogram>>(name, help, std::move(label_names), [bounds] {
      return std::make_unique<Histogram>(bounds);
    });
  }
  return *e.histogram;
}

void Registry::AddGaugeCallback(GaugeCallback callback) {
  absl::MutexLock l(&mu_);
  Entry& e = EntryFor(callback.name);
  if (e.counter || e.gauge || e.histogram) TypeClash(callback.name);
  e.callback = std::make_unique<GaugeCallback>(std::move(callback));
}

std::string Registry::Render() const {
  std::string out;
  absl::MutexLock l(&mu_);
  for (const auto& [name, e] : entries_) {
    if (e.counter) RenderScalar(out, *e.counter, "counter");
    if (e.gauge) RenderScalar(out, *e.gauge, "gauge");
    if (e.histogram) RenderHistogram(out, *e.histogram);
    if (e.callback) {
      Header(out, name, e.callback->help, e.callback->is_counter ? "counter" : "gauge");
      for (const auto& [values, v] : e.callback->read()) {
        absl::StrAppend(&out, name, LabelText(e.callback->label_names, values), " ", FormatValue(v),
                        "\n");
      }
    }
  }
  return out;
}

namespace {

// Returns fields of /proc/self/stat after the command name (field 3 onwards, 0-based here).
std::vector<std::string> ProcSelfStat() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  size_t close = line.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string::npos) return fields;
  std::istringstream rest(line.substr(close + 2));
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

double ProcField(const std::vector<std::string>& f, size_t stat_field) {
  // stat_field is the 1-based number from proc(5); fields[] starts at field 3.
  size_t i = stat_field - 3;
  return i < f.size() ? std::strtod(f[i].c_str(), nullptr) : 0;
}

double OpenFds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 0;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the directory stream's own fd
}

using Samples = std::vector<std::pair<LabelValues, double>>;

}  // namespace

void AddProcessMetrics(Registry& registry) {
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double boot = [] {
    std::ifstream in("/proc/stat");
    for (std::string key; in >> key;) {
      if (key == "btime") {
        double v = 0;
        in >> v;
        return v;
      }
    }
    return 0.0;
  }();
  registry.AddGaugeCallback(
      {"process_resident_memory_bytes", "Resident memory size in bytes.", {}, [page] {
         return Samples{{{}, ProcField(ProcSelfStat(), 24) * page}};
       }});
  registry.AddGaugeCallback(
      {"process_virtual_memory_bytes", "Virtual memory size in bytes.", {}, [] {
         return Samples{{{}, ProcField(ProcSelfStat(), 23)}};
       }});
  registry.AddGaugeCallback({"process_cpu_seconds_total",
                             "User and system CPU time spent in seconds.",
                             {},
                             [ticks] {
                               auto f = ProcSelfStat();
                               return Samples{{{}, (ProcField(f, 14) + ProcField(f, 15)) / ticks}};
                             },
                             /*is_counter=*/true});
  registry.AddGaugeCallback({"process_start_time_seconds",
                             "Start time of the process since the Unix epoch in seconds.",
                             {},
                             [ticks, boot] {
                               return Samples{{{}, boot + ProcField(ProcSelfStat(), 22) / ticks}};
                             }});
  registry.AddGaugeCallback({"process_open_fds", "Number of open file descriptors.", {}, [] {
                               return Samples{{{}, OpenFds()}};
                             }});
  registry.AddGaugeCallback({"process_threads", "Number of OS threads.", {}, [] {
                               return Samples{{{}, ProcField(ProcSelfStat(), 20)}};
                             }});
}

}  // namespace berth::metrics
