#ifndef BERTH_TESTS_UNIT_CLI_FAKE_RESOURCE_CLIENT_H_
#define BERTH_TESTS_UNIT_CLI_FAKE_RESOURCE_CLIENT_H_

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "berth/time_util.h"
#include "resource_client.h"

namespace berth::cli {

// An in-memory controller: Apply/Get/List/Delete with the server's semantics (actions,
// resourceVersion conflicts, finalizers), and a scripted Watch. Errors carry MarkFromServer
// like the gRPC client's. Single-threaded.
class FakeResourceClient : public ResourceClient {
 public:
  explicit FakeResourceClient(SimulatedClock* clock) : clock_(clock) {}

  absl::StatusOr<ObjectResult> Apply(const Json& object, bool dry_run) override;
  absl::StatusOr<Json> Get(const std::string& kind, const std::string& ns,
                           const std::string& name) override;
  absl::StatusOr<ListResult> List(const ListQuery& query) override;
  absl::StatusOr<ObjectResult> Delete(const std::string& kind, const std::string& ns,
                                      const std::string& name) override;
  absl::Status Watch(const WatchQuery& query, absl::Time deadline,
                     const WatchHandler& handler) override;
  absl::StatusOr<std::string> ServerVersion() override { return std::string("v0.1.0"); }

  // Stores `object` as-is (status included), bumping resourceVersion.
  void Put(Json object);
  // Removes an object outright (finalizers done).
  void Remove(const std::string& kind, const std::string& ns, const std::string& name);
  bool Has(const std::string& kind, const std::string& ns, const std::string& name) const;

  // Test knobs.
  std::vector<WatchEvent> watch_events;       // delivered (filtered) by the next Watch
  bool watch_fails = false;                   // Watch returns Unimplemented
  std::function<void(int get_calls)> on_get;  // runs before each Get
  std::function<void()> on_watch;             // runs when a Watch starts
  std::function<void()> before_apply;         // runs when an Apply starts
  std::set<std::string> reject_names;         // Apply fails with InvalidArgument
  std::vector<Json> applied;                  // every object sent to Apply
  std::vector<ListQuery> list_queries;
  int get_calls = 0;
  int watch_calls = 0;

 private:
  static std::string Key(const std::string& kind, const std::string& ns, const std::string& name);
  SimulatedClock* clock_;
  std::map<std::string, Json> objects_;
  int64_t version_ = 0;
};

}  // namespace berth::cli

#endif  // BERTH_TESTS_UNIT_CLI_FAKE_RESOURCE_CLIENT_H_
