#include "export/export_registry.h"

#include "absl/strings/str_cat.h"

namespace berth::agent {
namespace {
constexpr size_t kMaxGone = 4096;
}  // namespace

absl::StatusOr<std::shared_ptr<ExportEntry>> ExportRegistry::Add(
    std::shared_ptr<ExportEntry> entry) {
  absl::MutexLock l(&mu_);
  auto it = live_.find(entry->id);
  if (it != live_.end()) return it->second;
  int serving = 0;  // expired exports hold no image and do not count
  absl::Time now = clock_.Now();
  for (auto& [id, e] : live_) {
    if (e->state == "Serving" && now > e->expires_at) ExpireLocked(id);
    if (e->state != "Expired") ++serving;
  }
  if (serving >= max_exports_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "export ", entry->id, ": this agent already serves ", serving,
        " exports, the limit (max_exports) is ", max_exports_, "; stop finished exports first"));
  }
  gone_.erase(entry->id);
  entry->started = now;
  live_[entry->id] = entry;
  if (stats_ != nullptr) {
    (entry->source.upload ? stats_->active_uploads : stats_->active_downloads)
        .fetch_add(1, std::memory_order_relaxed);
  }
  return entry;
}

std::shared_ptr<ExportEntry> ExportRegistry::Find(const std::string& id) {
  absl::MutexLock l(&mu_);
  auto it = live_.find(id);
  if (it == live_.end()) return nullptr;
  if (it->second->state == "Serving" && clock_.Now() > it->second->expires_at) {
    ExpireLocked(id);
  }
  return it->second;
}

Admission ExportRegistry::Admit(const std::string& id, const std::string& token) {
  absl::MutexLock l(&mu_);
  Admission a;
  auto it = live_.find(id);
  if (it == live_.end()) {
    a.http_status = gone_.count(id) ? 410 : 404;
    return a;
  }
  ExportEntry& e = *it->second;
  if (e.state == "Serving" && clock_.Now() > e.expires_at) ExpireLocked(id);
  if (e.state == "Expired") {
    a.http_status = 410;
    return a;
  }
  if (!exportwire::ConstantTimeEquals(token, e.token)) {
    a.http_status = 401;
    return a;
  }
  e.expires_at = std::max(e.expires_at, clock_.Now() + e.source.ttl);
  a.entry = it->second;
  a.image = e.image;
  return a;
}

void ExportRegistry::Touch(ExportEntry& entry, uint64_t served, uint64_t received) {
  absl::MutexLock l(&mu_);
  entry.bytes_served += served;
  entry.bytes_received += received;
  if (stats_ != nullptr) {
    if (served > 0) stats_->bytes_served.fetch_add(served, std::memory_order_relaxed);
    if (received > 0) stats_->bytes_received.fetch_add(received, std::memory_order_relaxed);
  }
  if (entry.state == "Serving") {
    entry.expires_at = std::max(entry.expires_at, clock_.Now() + entry.source.ttl);
  }
}

void ExportRegistry::SetState(ExportEntry& entry, const std::string& state,
                              const std::string& message) {
  absl::MutexLock l(&mu_);
  entry.state = state;
  entry.message = message;
}

bool ExportRegistry::Remove(const std::string& id) {
  absl::MutexLock l(&mu_);
  auto it = live_.find(id);
  if (it == live_.end()) return false;
  EndLocked(*it->second);
  it->second->image.reset();
  live_.erase(it);
  RememberGoneLocked(id);
  return true;
}

void ExportRegistry::Sweep() {
  absl::MutexLock l(&mu_);
  absl::Time now = clock_.Now();
  for (auto& [id, e] : live_) {
    if (e->state == "Serving" && now > e->expires_at) ExpireLocked(id);
  }
}

ExportState ExportRegistry::Snapshot(const ExportEntry& e) {
  absl::MutexLock l(&mu_);
  ExportState s;
  s.id = e.id;
  s.token = e.token;
  s.size_bytes = e.size;
  s.expires_at = e.expires_at;
  s.state = e.state;
  s.message = e.message;
  s.bytes_served = e.bytes_served;
  s.bytes_received = e.bytes_received;
  return s;
}

void ExportRegistry::ExpireLocked(const std::string& id) {
  ExportEntry& e = *live_[id];
  e.state = "Expired";
  e.message = "the export's time to live ran out";
  EndLocked(e);
  e.image.reset();  // releases the data reference (the fd closes with the last request)
}

void ExportRegistry::EndLocked(ExportEntry& e) {
  if (stats_ == nullptr || e.image == nullptr) return;  // no image: already ended
  bool upload = e.source.upload;
  (upload ? stats_->active_uploads : stats_->active_downloads)
      .fetch_sub(1, std::memory_order_relaxed);
  if (stats_->on_export_end) {
    stats_->on_export_end(upload, absl::ToDoubleSeconds(clock_.Now() - e.started));
  }
}

void ExportRegistry::RememberGoneLocked(const std::string& id) {
  if (gone_.insert(id).second) gone_order_.push_back(id);
  while (gone_order_.size() > kMaxGone) {
    gone_.erase(gone_order_.front());
    gone_order_.pop_front();
  }
}

}  // namespace berth::agent
