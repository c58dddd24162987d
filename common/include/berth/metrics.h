#ifndef BERTH_METRICS_H_
#define BERTH_METRICS_H_

// A small Prometheus registry: counters, gauges and histograms with labels, rendered in the
// text exposition format 0.0.4 (what `/metrics` serves). prometheus-cpp is not packaged for
// Debian 12, so this is the subset the daemons need.
//
// Families live in a Registry and are looked up by name; a family hands out one child per
// label set. Children are never removed, so references stay valid for the registry's life.
// Everything here is thread-safe; Inc/Set/Observe are lock-free.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace berth::metrics {

// Label values in the order of the family's label names.
using LabelValues = std::vector<std::string>;

// A double updated atomically (C++17 has no fetch_add on atomic<double>).
class AtomicDouble {
 public:
  void Add(double v);
  void Set(double v) { bits_.store(Encode(v), std::memory_order_relaxed); }
  double Get() const { return Decode(bits_.load(std::memory_order_relaxed)); }

 private:
  static uint64_t Encode(double v);
  static double Decode(uint64_t b);
  std::atomic<uint64_t> bits_{0};
};

// Only goes up (restarts reset it, which Prometheus' rate() understands).
class Counter {
 public:
  void Inc(double v = 1) {
    if (v > 0) value_.Add(v);
  }
  double Value() const { return value_.Get(); }

 private:
  AtomicDouble value_;
};

class Gauge {
 public:
  void Set(double v) { value_.Set(v); }
  void Inc(double v = 1) { value_.Add(v); }
  void Dec(double v = 1) { value_.Add(-v); }
  double Value() const { return value_.Get(); }

 private:
  AtomicDouble value_;
};

// Cumulative buckets with upper bounds `bounds` (sorted, +Inf implied), plus sum and count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  // Returns the cumulative count of observations <= bounds()[i]; i == bounds().size() is +Inf.
  uint64_t CumulativeCount(size_t i) const;
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const { return sum_.Get(); }
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // per bucket, not cumulative; +Inf last
  std::atomic<uint64_t> count_{0};
  AtomicDouble sum_;
};

// Returns bounds start, start*factor, ... (`count` of them), as Prometheus' ExponentialBuckets.
std::vector<double> ExponentialBuckets(double start, double factor, int count);
// Seconds from 1 ms to ~33 s: fits reconcile passes, snapshots and freeze windows.
std::vector<double> DefaultLatencyBuckets();

// One metric name with its help text and label names; children per label-value set.
template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::function<std::unique_ptr<T>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        make_(std::move(make)) {}

  // Returns the child for `values` (as many as there are label names), creating it at zero.
  T& With(const LabelValues& values) {
    absl::MutexLock l(&mu_);
    std::unique_ptr<T>& child = children_[values];
    if (!child) child = make_();
    return *child;
  }
  // Calls `fn(values, child)` for each child in label order.
  void ForEach(const std::function<void(const LabelValues&, const T&)>& fn) const {
    absl::MutexLock l(&mu_);
    for (const auto& [values, child] : children_) fn(values, *child);
  }
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<T>()> make_;
  mutable absl::Mutex mu_;
  std::map<LabelValues, std::unique_ptr<T>> children_ ABSL_GUARDED_BY(mu_);
};

// A gauge (or counter) whose values are read at scrape time (queue depths, heartbeat counts
// kept elsewhere). The callback returns (label values, value) pairs and runs on the scraping
// thread under the registry's lock: it must be quick and must not touch the registry.
struct GaugeCallback {
  std::string name;
  std::string help;
  std::vector<std::string> label_names;
  std::function<std::vector<std::pair<LabelValues, double>>()> read;
  bool is_counter = false;  // rendered as TYPE counter
};

// Owns every family. Asking twice for the same name returns the same family (the help and
// labels of the first call win); asking for a name registered as another type aborts, since
// that is a programming error.
class Registry {
 public:
  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> bounds = DefaultLatencyBuckets());
  void AddGaugeCallback(GaugeCallback callback);

  // Renders every family in the text exposition format, sorted by name.
  std::string Render() const;

 private:
  struct Entry {
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
    std::unique_ptr<GaugeCallback> callback;
  };
  Entry& EntryFor(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

// Adds the standard process_* gauges read from /proc/self at scrape time: resident and virtual
// memory, open fds, CPU seconds, start time, threads.
void AddProcessMetrics(Registry& registry);

// Escapes a label value for the exposition format (backslash, double quote, newline).
std::string EscapeLabelValue(const std::string& v);
// Formats a sample value: integers without a fraction, +Inf/-Inf/NaN as Prometheus spells them.
std::string FormatValue(double v);

}  // namespace berth::metrics

#endif  // BERTH_METRICS_H_
