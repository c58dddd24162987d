// Watches of the etcd object store: one etcd watch stream (and reader thread) per subscription.

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "berth/log.h"
#include "berth/status_macros.h"
#include "store/etcd_client.h"
#include "store/etcd_ops.h"
#include "store/etcd_store.h"
#include "store/object_meta.h"

namespace berth::controller::store {
namespace {

// How long a write waits for the watchers to deliver it, and Watch for its replay: only a
// stuck callback or an unreachable etcd takes this long.
constexpr absl::Duration kDeliveryTimeout = absl::Seconds(30);
// Pause before a broken watch stream is opened again, doubling while it keeps failing.
constexpr absl::Duration kReconnectMin = absl::Milliseconds(100);
constexpr absl::Duration kReconnectMax = absl::Seconds(5);

using WatchStream =
    grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>;

// The key's ObjectKey, for a deleted object whose last state etcd no longer has.
Json Tombstone(const std::string& objects_prefix, const std::string& key) {
  std::vector<std::string> parts = absl::StrSplit(key.substr(objects_prefix.size()), '/');
  Json obj = {{"kind", parts.empty() ? "" : parts[0]}, {"metadata", Json::object()}};
  if (parts.size() == 3) {
    if (!parts[1].empty()) obj["metadata"]["namespace"] = parts[1];
    obj["metadata"]["name"] = parts[2];
  }
  return obj;
}

// Turns one etcd event into a StoreEvent; nullopt for a value that is not an object.
std::optional<StoreEvent> ToStoreEvent(const std::string& objects_prefix, const mvccpb::Event& ev) {
  const uint64_t rv = static_cast<uint64_t>(ev.kv().mod_revision());
  StoreEvent::Type type = StoreEvent::Type::kDeleted;
  Json obj;
  if (ev.type() == mvccpb::Event::PUT) {
    type = ev.kv().create_revision() == ev.kv().mod_revision() ? StoreEvent::Type::kAdded
                                                               : StoreEvent::Type::kModified;
    obj = Json::parse(ev.kv().value(), nullptr, /*allow_exceptions=*/false);
  } else if (ev.has_prev_kv()) {
    obj = Json::parse(ev.prev_kv().value(), nullptr, /*allow_exceptions=*/false);
  } else {
    obj = Tombstone(objects_prefix, ev.kv().key());
  }
  if (!obj.is_object() || !obj["metadata"].is_object()) return std::nullopt;
  SetResourceVersion(rv, &obj);
  return StoreEvent(type, rv, std::move(obj));
}

}  // namespace

struct EtcdStore::Subscription {
  WatchCallback callback;
  WatchEndCallback on_end;  // may be null
  std::thread reader;
  // Guarded by the store's mu_:
  grpc::ClientContext* ctx = nullptr;  // the current stream's, for Unwatch to cancel
  bool stopping = false;               // Unwatch was called
  int64_t delivered = 0;               // every event up to it was delivered
  bool ended = false;                  // no more events will come
  int64_t compacted = 0;               // etcd's compact revision, when it ended for that
  bool returned = false;               // Watch returned it to the caller
};

// Defined here, where Subscription is complete.
EtcdStore::EtcdStore(std::unique_ptr<EtcdClient> client, const Clock& clock, std::string prefix)
    : client_(std::move(client)), clock_(clock), prefix_(std::move(prefix)), gen_(SeededBitGen()) {}

void EtcdStore::ReadLoop(Subscription* sub) {
  absl::Duration backoff = kReconnectMin;
  WatchEndCallback on_end;  // set when compaction ends a returned subscription
  absl::Status why;
  while (true) {
    int64_t start = 0;
    {
      absl::MutexLock lock(&mu_);
      if (sub->stopping) break;
      start = sub->delivered + 1;
    }
    StreamEnd end = ReadStream(sub, start);
    absl::MutexLock lock(&mu_);
    if (sub->stopping) break;
    if (end.compacted != 0) {
      // Decided under mu_ with Watch's check of `compacted`: either Watch reports OutOfRange
      // or, once it has returned the subscription, the watcher's on_end learns it; not both.
      sub->compacted = end.compacted;
      if (sub->returned) {
        log::Error(log::Str("etcd store: watch ends: etcd compacted revision ", start, " (now at ",
                            end.compacted, "); the watcher must list again"));
        on_end = std::move(sub->on_end);
        why = absl::OutOfRangeError(absl::StrCat("etcd watch from revision ", start,
                                                 ": etcd compacted it (now at ", end.compacted,
                                                 "); list again"));
      }
      break;
    }
    if (end.progressed) backoff = kReconnectMin;
    // A broken member, a restarted etcd: resume from the next revision on the next member;
    // revisions are the cluster's, so nothing is lost or repeated.
    log::Warning(log::Str("etcd store: watch stream at ", client_->endpoint(), " ended (",
                          end.reason, "); resuming from revision ", sub->delivered + 1, " in ",
                          absl::FormatDuration(backoff)));
    client_->Failed();
    auto stopping = [sub]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return sub->stopping; };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), backoff);
    backoff = std::min(backoff * 2, kReconnectMax);
  }
  {
    absl::MutexLock lock(&mu_);
    sub->ended = true;
  }
  // Outside mu_, on this thread: Unwatch joins it only after the callback returns.
  if (on_end) on_end(why);
}

EtcdStore::StreamEnd EtcdStore::ReadStream(Subscription* sub, int64_t start) {
  grpc::ClientContext ctx;
  {
    absl::MutexLock lock(&mu_);
    if (sub->stopping) return StreamEnd{};
    sub->ctx = &ctx;
  }
  std::unique_ptr<WatchStream> stream = client_->OpenWatch(&ctx);
  etcdserverpb::WatchRequest create;
  auto* req = create.mutable_create_request();
  req->set_key(prefix_ + "objects/");
  req->set_range_end(PrefixEnd(prefix_ + "objects/"));
  req->set_start_revision(start);
  req->set_prev_kv(true);
  StreamEnd end;
  end.reason = "stream closed";
  const std::string objects = prefix_ + "objects/";
  etcdserverpb::WatchResponse resp;
  bool open = stream->Write(create);
  while (open && stream->Read(&resp)) {
    if (resp.canceled() || resp.compact_revision() != 0) {
      end.compacted = resp.compact_revision();
      end.reason = resp.cancel_reason();
      break;
    }
    if (DeliverResponse(sub, objects, resp)) end.progressed = true;
  }
  ctx.TryCancel();
  grpc::Status st = stream->Finish();
  if (!st.ok() && st.error_code() != grpc::StatusCode::CANCELLED) end.reason = st.error_message();
  absl::MutexLock lock(&mu_);
  sub->ctx = nullptr;
  return end;
}

bool EtcdStore::DeliverResponse(Subscription* sub, const std::string& objects,
                                const etcdserverpb::WatchResponse& resp) {
  int64_t last = 0;
  for (const mvccpb::Event& ev : resp.events()) {
    last = std::max(last, ev.kv().mod_revision());
    if (ev.kv().key() == Marker()) continue;  // one per write; counts as progress only
    std::optional<StoreEvent> event = ToStoreEvent(objects, ev);
    if (!event.has_value()) {
      log::Error(log::Str("etcd store: watch skips ", ev.kv().key(), " at revision ",
                          ev.kv().mod_revision(), ": not a JSON object"));
      continue;
    }
    sub->callback(*event);
  }
  if (last == 0) return false;
  absl::MutexLock lock(&mu_);
  sub->delivered = std::max(sub->delivered, last);
  return true;
}

absl::StatusOr<uint64_t> EtcdStore::Watch(uint64_t from_version, WatchCallback callback,
                                          WatchEndCallback on_end) {
  if (!callback) return absl::InvalidArgumentError("watch: callback is required");
  etcdserverpb::RangeRequest probe;
  probe.set_key(Marker());
  BERTH_ASSIGN_OR_RETURN(etcdserverpb::RangeResponse now, client_->Range(probe));
  const int64_t head = now.header().revision();
  const int64_t from = static_cast<int64_t>(from_version);
  int64_t start = (from == 0 ? head : from) + 1;
  int64_t target = 0;  // the last store write the replay must deliver before Watch returns
  if (from != 0 && from < head) {
    // Reading at from + 1 fails when etcd compacted it: the history is gone.
    etcdserverpb::RangeRequest old = probe;
    old.set_count_only(true);
    old.set_revision(from + 1);
    absl::StatusOr<etcdserverpb::RangeResponse> at = client_->Range(old);
    if (!at.ok() && (absl::IsOutOfRange(at.status()) ||
                     absl::StrContains(at.status().message(), "compacted"))) {
      return absl::OutOfRangeError(absl::StrCat("watch from resourceVersion ", from_version,
                                                ": too old, etcd compacted it; list again"));
    }
    if (!at.ok()) return at.status();
    if (now.kvs_size() > 0 && now.kvs(0).mod_revision() > from) target = now.kvs(0).mod_revision();
  }

  auto sub = std::make_unique<Subscription>();
  sub->callback = std::move(callback);
  sub->on_end = std::move(on_end);
  sub->delivered = start - 1;
  Subscription* raw = sub.get();
  raw->reader = std::thread([this, raw] { ReadLoop(raw); });

  uint64_t id = 0;
  absl::Status failed;
  {
    absl::MutexLock lock(&mu_);
    id = next_subscription_++;
    subscriptions_.emplace(id, std::move(sub));
    // Replay synchronously, as the SQLite store does: the retained changes up to the call
    // are delivered before Watch returns.
    auto replayed = [this, raw, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return raw->ended || raw->delivered >= target;
    };
    bool done = mu_.AwaitWithTimeout(absl::Condition(&replayed), kDeliveryTimeout);
    if (raw->compacted != 0) {
      failed = absl::OutOfRangeError(absl::StrCat("watch from resourceVersion ", from_version,
                                                  ": too old, etcd compacted it at ",
                                                  raw->compacted, "; list again"));
    } else if (!done) {
      failed = absl::UnavailableError(
          absl::StrCat("etcd watch at ", client_->endpoint(), ": replay did not finish in time"));
    } else {
      raw->returned = true;
    }
  }
  if (!failed.ok()) {
    Unwatch(id);
    return failed;
  }
  return id;
}

void EtcdStore::Unwatch(uint64_t subscription) {
  std::unique_ptr<Subscription> sub;
  {
    absl::MutexLock lock(&mu_);
    auto it = subscriptions_.find(subscription);
    if (it == subscriptions_.end()) return;
    sub = std::move(it->second);
    subscriptions_.erase(it);
    sub->stopping = true;
    if (sub->ctx != nullptr) sub->ctx->TryCancel();
  }
  if (sub->reader.joinable()) sub->reader.join();
}

void EtcdStore::AwaitDelivered(int64_t revision) {
  absl::MutexLock lock(&mu_);
  auto delivered = [this, revision]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& [id, sub] : subscriptions_) {
      if (!sub->ended && sub->delivered < revision) return false;
    }
    return true;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&delivered), kDeliveryTimeout)) {
    log::Warning(log::Str("etcd store: watchers have not delivered revision ", revision, " after ",
                          absl::FormatDuration(kDeliveryTimeout)));
  }
}

EtcdStore::~EtcdStore() {
  std::vector<uint64_t> ids;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, sub] : subscriptions_) ids.push_back(id);
  }
  for (uint64_t id : ids) Unwatch(id);
}

}  // namespace berth::controller::store
