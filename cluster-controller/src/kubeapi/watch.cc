// Watches: the store's event fan-out, filtered per watcher and streamed as kube's watch events
// ({"type":"ADDED","object":{...}} per line), in JSON or as Tables for `kubectl get -w`.
#include <atomic>
#include <random>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "berth/labels.h"
#include "kubeapi/api.h"
#include "kubeapi/selectors.h"
#include "kubeapi/table.h"

namespace berth::kubeapi {
namespace {

struct Filter {
  std::string kind;
  std::string ns;
  std::string name;  // metadata.name=X (kubectl get NAME -w)
  Selectors selectors;

  // Whether the object is of the watched kind and namespace at all.
  bool InScope(const Json& obj) const {
    return obj.value("kind", "") == kind &&
           (ns.empty() || JsonString(obj, "/metadata/namespace") == ns);
  }
  bool Selects(const Json& obj) const {
    return (name.empty() || JsonString(obj, "/metadata/name") == name) && selectors.Matches(obj);
  }
  bool Matches(const Json& obj) const { return InScope(obj) && Selects(obj); }
  bool Selective() const { return !name.empty() || !selectors.empty(); }
};

struct TableMode {
  bool on = false;
  std::string version;
  IncludeObject include = IncludeObject::kMetadata;
};

class WatchStream : public Stream {
 public:
  WatchStream(controller::ObjectStore& store, const Clock& clock, const Resource& resource,
              Filter filter, std::optional<uint64_t> from, bool bookmarks, TableMode table)
      : store_(store),
        clock_(clock),
        resource_(resource),
        filter_(std::move(filter)),
        from_(from),
        bookmarks_(bookmarks),
        table_(std::move(table)) {}

  ~WatchStream() override {
    if (subscription_) store_.Unwatch(*subscription_);
  }

  void Start(Emit emit, End end) override {
    emit_ = std::move(emit);
    uint64_t from = 0;
    if (!from_) {
      // No resourceVersion: the current state as ADDED events, then changes after it.
      auto items = store_.ListShared(filter_.kind, filter_.ns, &from);
      if (!items.ok()) return Fail(ApiError::FromStatus(items.status(), {}), end);
      for (const auto& shared : *items) {
        const Json& obj = *shared;
        if (!filter_.Matches(obj)) continue;
        selected_.insert(KeyOf(obj));
        emit_(Line("ADDED", obj, nullptr));
      }
    } else {
      from = *from_;
      if (filter_.Selective()) {
        // What matched before the resume point is not known exactly; what matches now is the
        // best guess of which later changes make an object leave the selection.
        auto items = store_.ListShared(filter_.kind, filter_.ns);
        if (items.ok()) {
          for (const auto& obj : *items) {
            if (filter_.Matches(*obj)) selected_.insert(KeyOf(*obj));
          }
        }
      }
    }
    last_rv_ = from;
    auto sub = store_.Watch(from, [this](const controller::StoreEvent& e) { OnEvent(e); });
    if (!sub.ok()) {
      return Fail(absl::IsOutOfRange(sub.status())
                      ? ApiError::Gone(absl::StrCat("too old resource version: ", from, " (",
                                                    store_.CurrentVersion(), ")"))
                      : ApiError::FromStatus(sub.status(), {}),
                  end);
    }
    subscription_ = *sub;
  }

  std::string Heartbeat() override {
    if (!bookmarks_) return "";
    // Every event up to last_rv_ has been handed to emit: resuming from it loses nothing.
    Json obj = {{"kind", resource_.kind},
                {"apiVersion", resource_.ApiVersion()},
                {"metadata", {{"resourceVersion", std::to_string(last_rv_.load())}}}};
    return absl::StrCat("{\"type\":\"BOOKMARK\",\"object\":", obj.dump(), "}\n");
  }

 private:
  void Fail(const ApiError& e, const End& end) {
    emit_(absl::StrCat("{\"type\":\"ERROR\",\"object\":", e.ToJson().dump(), "}\n"));
    end();
  }

  static std::string KeyOf(const Json& obj) {
    return JsonString(obj, "/metadata/namespace") + "/" + JsonString(obj, "/metadata/name");
  }

  // Called in commit order on the store's writer thread. With a selector, an object that
  // starts matching is ADDED and one that stops matching is DELETED, as kube's watch cache
  // reports them.
  void OnEvent(const controller::StoreEvent& e) {
    last_rv_ = e.resource_version;
    const Json& obj = e.object();
    if (!filter_.InScope(obj)) return;
    const char* type = controller::EventTypeName(e.type);
    if (filter_.Selective()) {
      std::string key = KeyOf(obj);
      // A deleted object whose last state matches was selected, even when this watch resumed
      // after it had gone from the current state (kubectl delete --wait lists, then watches
      // from the list's resourceVersion: the object may be deleted in between). For a live
      // watch this changes nothing: the last state arrived as an event before.
      bool was = selected_.count(key) > 0 ||
                 (e.type == controller::StoreEvent::Type::kDeleted && filter_.Selects(obj));
      bool now = e.type != controller::StoreEvent::Type::kDeleted && filter_.Selects(obj);
      if (!was && !now) return;
      if (now) {
        selected_.insert(key);
      } else {
        selected_.erase(key);
      }
      type = !was ? "ADDED" : !now ? "DELETED" : type;
    } else if (!filter_.Selects(obj)) {
      return;
    }
    emit_(Line(type, obj, e.text.get()));
  }

  // One event line. Called in commit order from the store's writer thread (and from Start).
  std::string Line(const char* type, const Json& obj, const std::string* text) {
    if (table_.on) {
      bool first = !sent_definitions_.exchange(true);
      Json table = ToTable({&obj}, resource_.kind, table_.version, table_.include, clock_.Now(),
                           Json::object(), first);
      return absl::StrCat("{\"type\":\"", type, "\",\"object\":", table.dump(), "}\n");
    }
    return absl::StrCat("{\"type\":\"", type, "\",\"object\":", text ? *text : obj.dump(), "}\n");
  }

  controller::ObjectStore& store_;
  const Clock& clock_;
  const Resource& resource_;
  const Filter filter_;
  const std::optional<uint64_t> from_;
  const bool bookmarks_;
  const TableMode table_;
  Emit emit_;
  std::optional<uint64_t> subscription_;
  std::atomic<uint64_t> last_rv_{0};
  std::atomic<bool> sent_definitions_{false};
  std::set<std::string> selected_;  // selective watches: keys that match now
};

}  // namespace

HttpReply Api::Watch(const HttpRequest& req, const Target& t, const Negotiated& n) {
  Filter f;
  f.kind = KeyOf(t, "").kind;
  f.ns = t.ns;
  absl::StatusOr<Selectors> sel = SelectorsOf(req, t);
  if (!sel.ok()) return ErrorResponse(ApiError::BadRequest(std::string(sel.status().message())));
  f.selectors = *std::move(sel);
  std::optional<uint64_t> from;
  std::string rv = req.Query("resourceVersion");
  if (!rv.empty() && rv != "0") {
    uint64_t v = 0;
    if (!absl::SimpleAtoi(rv, &v)) {
      return ErrorResponse(ApiError::BadRequest(absl::StrCat("invalid resource version: ", rv)));
    }
    from = v;
  }
  TableMode table{n.table, n.table_version, IncludeOf(req)};
  auto stream = std::make_unique<WatchStream>(store_, clock_, *t.resource, std::move(f), from,
                                              QueryBool(req, "allowWatchBookmarks"), table);
  int64_t timeout = 0;
  if (absl::SimpleAtoi(req.Query("timeoutSeconds"), &timeout) && timeout > 0) {
    stream->timeout = absl::Seconds(timeout);
  } else {
    // kube-apiserver ends a watch that names no timeout after 30-60 minutes, so that clients
    // spread their re-lists.
    thread_local std::mt19937 rng{std::random_device{}()};
    stream->timeout = absl::Minutes(30) + absl::Seconds(rng() % 1800);
  }
  stream->heartbeat = absl::Seconds(30);
  return std::unique_ptr<Stream>(std::move(stream));
}

}  // namespace berth::kubeapi
