#ifndef BERTH_TESTS_UNIT_CONTROLLER_FAKE_AGENT_H_
#define BERTH_TESTS_UNIT_CONTROLLER_FAKE_AGENT_H_

#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "berth/controller/agent_client.h"

namespace berth::controller {

// An in-memory node agent: volumes, snapshots and domains as map entries; counts freezes.
class FakeAgentClient : public AgentClient {
 public:
  absl::StatusOr<agentpb::NodeInfo> GetInfo() override {
    agentpb::NodeInfo info;
    info.set_version("fake");
    for (const char* p : {"reflink", "copy"}) info.add_pools()->set_name(p);
    return info;
  }
  absl::StatusOr<agentpb::Volume> CreateVolume(const agentpb::CreateVolumeRequest& r) override {
    absl::MutexLock l(&mu);
    uint64_t size = r.size_bytes();
    if (!r.source_snapshot_id().empty()) {
      auto it = snapshots.find(r.source_snapshot_id());
      if (it == snapshots.end()) return absl::NotFoundError("no such snapshot");
      if (size < it->second.size_bytes())
        return absl::InvalidArgumentError("smaller than snapshot");
    }
    agentpb::Volume& v = volumes[r.id()];
    v.set_pool(r.pool());
    v.set_id(r.id());
    v.set_size_bytes(size);
    v.set_path(absl::StrCat("/fake/", r.pool(), "/", r.id()));
    return v;
  }
  absl::StatusOr<bool> DeleteVolume(const std::string&, const std::string& id) override {
    absl::MutexLock l(&mu);
    return volumes.erase(id) > 0;
  }
  absl::StatusOr<agentpb::Snapshot> CreateSnapshot(
      const agentpb::CreateSnapshotRequest& r) override {
    absl::MutexLock l(&mu);
    return CutLocked(r.pool(), r.volume_id(), r.id());
  }
  absl::StatusOr<agentpb::Snapshot> GetSnapshot(const std::string&,
                                                const std::string& id) override {
    absl::MutexLock l(&mu);
    get_calls++;
    auto it = snapshots.find(id);
    if (it == snapshots.end())
      return absl::NotFoundError(absl::StrCat("snapshot ", id, " not found"));
    return it->second;
  }
  absl::StatusOr<agentpb::ListSnapshotsResponse> ListSnapshots(const std::string& pool) override {
    absl::MutexLock l(&mu);
    list_calls++;
    if (!list_error.empty()) return absl::UnavailableError(list_error);
    agentpb::ListSnapshotsResponse resp;
    for (const auto& [id, snap] : snapshots) {
      if (snap.pool() == pool) *resp.add_snapshots() = snap;
    }
    return resp;
  }
  absl::StatusOr<bool> DeleteSnapshot(const std::string&, const std::string& id) override {
    absl::MutexLock l(&mu);
    return snapshots.erase(id) > 0;
  }
  absl::StatusOr<agentpb::DomainStatus> DefineDomain(
      const agentpb::DefineDomainRequest& r) override {
    absl::MutexLock l(&mu);
    defined[r.name()] = r;
    if (!states.count(r.name())) states[r.name()] = "Shutoff";
    return StatusLocked(r.name());
  }
  absl::StatusOr<agentpb::DomainStatus> StartDomain(const std::string& name) override {
    absl::MutexLock l(&mu);
    states[name] = "Running";
    return StatusLocked(name);
  }
  absl::StatusOr<agentpb::DomainStatus> StopDomain(const std::string& name, bool force) override {
    absl::MutexLock l(&mu);
    states[name] = "Shutoff";
    return StatusLocked(name);
  }
  absl::StatusOr<bool> DeleteDomain(const std::string& name) override {
    absl::MutexLock l(&mu);
    defined.erase(name);
    return states.erase(name) > 0;
  }
  absl::StatusOr<agentpb::DomainStatus> GetDomain(const std::string& name) override {
    absl::MutexLock l(&mu);
    return StatusLocked(name);
  }
  absl::StatusOr<agentpb::SnapshotVolumesResponse> SnapshotVolumes(
      const agentpb::SnapshotVolumesRequest& r) override {
    absl::MutexLock l(&mu);
    if (r.freeze() && !freeze_error.empty()) return absl::FailedPreconditionError(freeze_error);
    agentpb::SnapshotVolumesResponse resp;
    if (r.freeze()) {
      freezes++;
      resp.set_frozen(true);
    }
    for (const auto& v : r.volumes()) {
      auto s = CutLocked(v.pool(), v.volume_id(), v.snapshot_id());
      if (!s.ok()) return s.status();
      *resp.add_snapshots() = *s;
    }
    return resp;
  }

  absl::Mutex mu;
  std::map<std::string, agentpb::Volume> volumes ABSL_GUARDED_BY(mu);
  std::map<std::string, agentpb::Snapshot> snapshots ABSL_GUARDED_BY(mu);
  std::map<std::string, agentpb::DefineDomainRequest> defined ABSL_GUARDED_BY(mu);
  std::map<std::string, std::string> states ABSL_GUARDED_BY(mu);
  bool agent_ready ABSL_GUARDED_BY(mu) = true;
  std::string freeze_error ABSL_GUARDED_BY(mu);
  int freezes ABSL_GUARDED_BY(mu) = 0;
  int snapshot_calls ABSL_GUARDED_BY(mu) = 0;
  int get_calls ABSL_GUARDED_BY(mu) = 0;       // GetSnapshot
  int list_calls ABSL_GUARDED_BY(mu) = 0;      // ListSnapshots
  std::string list_error ABSL_GUARDED_BY(mu);  // non-empty: ListSnapshots fails with it

 private:
  absl::StatusOr<agentpb::Snapshot> CutLocked(const std::string& pool, const std::string& vol,
                                              const std::string& id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto existing = snapshots.find(id);
    if (existing != snapshots.end()) return existing->second;
    auto v = volumes.find(vol);
    if (v == volumes.end()) return absl::NotFoundError(absl::StrCat("volume ", vol, " not found"));
    snapshot_calls++;
    agentpb::Snapshot& s = snapshots[id];
    s.set_pool(pool);
    s.set_id(id);
    s.set_volume_id(vol);
    s.set_size_bytes(v->second.size_bytes());
    s.set_path(absl::StrCat("/fake/", pool, "/snapshots/", id));
    return s;
  }
  agentpb::DomainStatus StatusLocked(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    agentpb::DomainStatus st;
    st.set_name(name);
    auto it = states.find(name);
    st.set_state(it == states.end() ? "NotFound" : it->second);
    st.set_agent_ready(st.state() == "Running" && agent_ready);
    if (!st.agent_ready()) st.set_agent_error("guest agent is not connected");
    return st;
  }
};

// Hands out one FakeAgentClient per node name.
class FakeAgentDirectory : public AgentDirectory {
 public:
  absl::StatusOr<std::shared_ptr<AgentClient>> ForNode(const std::string& node) override {
    if (node.empty()) return absl::UnavailableError("no node");
    return Node(node);
  }
  std::shared_ptr<FakeAgentClient> Node(const std::string& node) {
    absl::MutexLock l(&mu_);
    auto& c = clients_[node];
    if (!c) c = std::make_shared<FakeAgentClient>();
    return c;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<FakeAgentClient>> clients_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::controller

#endif  // BERTH_TESTS_UNIT_CONTROLLER_FAKE_AGENT_H_
