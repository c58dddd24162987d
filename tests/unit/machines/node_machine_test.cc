// The Node state machine (node_machine.h) as a table of
// (node, heartbeat, agent info) -> (Ready condition, lastHeartbeatTime, pools).
#include "controllers/node/node_machine.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "berth/time_util.h"

namespace berth::controller::node {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);
const absl::Duration kGrace = absl::Seconds(8), kInterval = absl::Seconds(2);

Json Node(std::optional<bool> ready, std::optional<absl::Time> written, bool pools) {
  Json n = {{"kind", "Node"}, {"metadata", {{"name", "n1"}}}, {"status", Json::object()}};
  if (ready) {
    n["status"]["conditions"] = Json::array({{{"type", "Ready"},
                                              {"status", *ready ? "True" : "False"},
                                              {"reason", "x"},
                                              {"lastTransitionTime", FormatRfc3339(kNow)}}});
  }
  if (written) n["status"]["lastHeartbeatTime"] = FormatRfc3339(*written);
  if (pools) n["status"]["pools"] = Json::array({{{"name", "old"}}});
  return n;
}

agentpb::NodeInfo Info() {
  agentpb::NodeInfo info;
  info.set_version("1.2.3");
  auto* p = info.add_pools();
  p->set_name("default");
  p->set_backend("btrfs");
  p->set_path("/var/lib/berth");
  p->set_capacity_bytes(100);
  p->set_available_bytes(40);
  return info;
}

struct Row {
  const char* name;
  Json node;
  absl::Time last_beat;
  bool info;  // GetInfo observed
  // Expected:
  bool needs_info;
  bool ready;
  const char* reason;
  std::optional<absl::Time> heartbeat_written;  // lastHeartbeatTime after; nullopt: absent
  const char* pool;                             // status.pools[0].name; "" none
};

TEST_CASE("Node: Plan, row by row") {
  const absl::Time beat = kNow - absl::Seconds(1);
  const absl::Time old_write = kNow - absl::Seconds(40), recent_write = kNow - absl::Seconds(10);
  std::vector<Row> rows = {
      {"first heartbeat: pools and version, Ready", Node(std::nullopt, std::nullopt, false), beat,
       true, true, true, kReasonAgentHeartbeat, beat, "default"},
      {"was NotReady: heartbeat time written", Node(false, old_write, true), beat, false, false,
       true, kReasonAgentHeartbeat, beat, "old"},
      {"Ready, time written recently: kept", Node(true, recent_write, true), beat, false, false,
       true, kReasonAgentHeartbeat, recent_write, "old"},
      {"Ready, time written 40 s ago: rewritten", Node(true, old_write, true), beat, false, false,
       true, kReasonAgentHeartbeat, beat, "old"},
      {"beat at the grace's edge is fresh", Node(true, recent_write, true), kNow - kGrace, false,
       false, true, kReasonAgentHeartbeat, recent_write, "old"},
      {"no heartbeat within grace", Node(true, old_write, true), kNow - kGrace - absl::Seconds(1),
       false, false, false, kReasonAgentNotResponding, old_write, "old"},
      {"never heard from, no pools: no GetInfo", Node(std::nullopt, std::nullopt, false),
       absl::InfinitePast(), false, false, false, kReasonAgentNotResponding, std::nullopt, ""},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    types::Node n(row.node);
    CHECK(NeedsInfo(n, HeartbeatFresh(row.last_beat, kNow, kGrace)) == row.needs_info);
    Observation obs;
    obs.last_beat = row.last_beat;
    if (row.info) obs.info = Info();
    Step<Action> step = Plan(n, obs, kNow, kGrace, kInterval);
    CHECK(step.action == Action::kNone);
    CHECK(step.requeue == kInterval);
    CHECK_FALSE(step.add_finalizer);
    REQUIRE(step.status.has_value());
    types::NodeStatus st(*step.status);
    types::Condition ready = st.conditions().Get(kReady);
    CHECK(ready.is_true() == row.ready);
    CHECK(ready.reason() == row.reason);
    if (row.heartbeat_written) {
      CHECK(st.last_heartbeat_time() == FormatRfc3339(*row.heartbeat_written));
    } else {
      CHECK_FALSE(st.has_last_heartbeat_time());
    }
    if (std::string(row.pool).empty()) {
      CHECK_FALSE(st.has_pools());
    } else {
      REQUIRE(st.pools().size() == 1);
      CHECK(st.pools()[0]["name"] == row.pool);
    }
  }
}

TEST_CASE("Node: the first info records every pool field and the version") {
  Observation obs;
  obs.last_beat = kNow;
  obs.info = Info();
  Json n = Node(std::nullopt, std::nullopt, false);
  Step<Action> step = Plan(types::Node(n), obs, kNow, kGrace, kInterval);
  REQUIRE(step.status.has_value());
  types::NodeStatus st(*step.status);
  CHECK(st.version() == "1.2.3");
  CHECK(st.pools()[0] == Json({{"name", "default"},
                               {"backend", "btrfs"},
                               {"path", "/var/lib/berth"},
                               {"capacityBytes", 100},
                               {"availableBytes", 40}}));
  // The NotReady message names the grace, and stays the same from poll to poll.
  n["status"] = *step.status;
  Step<Action> down = Plan(types::Node(n), Observation{}, kNow, kGrace, kInterval);
  CHECK(types::NodeStatus(*down.status).conditions().Get(kReady).message() ==
        "no heartbeat from the node agent within 8s");
}

}  // namespace
}  // namespace berth::controller::node
