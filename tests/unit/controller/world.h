// A test world for reconcilers: a real SQLite store in a temporary directory, a simulated clock,
// a fake agent per node and every reconciler, driven pass by pass until nothing changes —
// deterministic, no threads.
#ifndef BERTH_TESTS_UNIT_CONTROLLER_WORLD_H_
#define BERTH_TESTS_UNIT_CONTROLLER_WORLD_H_

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/kinds.h"
#include "fake_agent.h"

namespace berth::controller {

class World {
 public:
  World() : dir_(MakeDir()), clock_(absl::FromUnixSeconds(1700000000)), tracker_(clock_) {
    config_.storage_classes = {{"local-reflink", "reflink"}, {"local-copy", "copy"}};
    config_.default_storage_class = "local-reflink";
    store_ = *OpenSqliteStore(dir_, clock_);
    const ReconcilerDeps deps{*store_, agents_, clock_, config_, tracker_};
    for (ReconcilerFactory f :
         {NewVirtualDiskReconciler, NewVirtualDiskSnapshotReconciler, NewVirtualMachineReconciler,
          NewVirtualMachineOperationReconciler, NewVirtualMachineSnapshotReconciler,
          NewVirtualMachineSnapshotOperationReconciler, NewIPAddressReconciler,
          NewMACAddressReconciler}) {
      recs_.push_back(f(deps));
    }
    Json node = {{"apiVersion", kApiVersion}, {"kind", "Node"}, {"metadata", {{"name", "n1"}}}};
    node["status"] = {{"address", "fake"},
                      {"pools", Json::array({{{"name", "reflink"}}, {{"name", "copy"}}})},
                      {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}};
    REQUIRE(store_->Create(node).ok());
  }
  ~World() { std::filesystem::remove_all(dir_); }

  Json Apply(Json obj) {
    obj["apiVersion"] = obj["kind"] == "Secret" ? "v1" : kApiVersion;
    if (!obj["metadata"].contains("namespace")) obj["metadata"]["namespace"] = "default";
    auto created = store_->Create(obj);
    REQUIRE(created.ok());
    return *created;
  }
  Json Get(const std::string& kind, const std::string& name) {
    auto obj = store_->Get(ObjectKey{kind, "default", name});
    REQUIRE(obj.ok());
    return *obj;
  }
  bool Exists(const std::string& kind, const std::string& name) {
    return store_->Get(ObjectKey{kind, "default", name}).ok();
  }
  void Delete(const std::string& kind, const std::string& name) {
    REQUIRE(store_->Delete(ObjectKey{kind, "default", name}).ok());
  }
  // Runs every reconciler over every object until the store stops changing.
  void Settle(int max_rounds = 40) {
    for (int round = 0; round < max_rounds; ++round) {
      uint64_t before = store_->CurrentVersion();
      for (auto& r : recs_) {
        auto objs = store_->List(r->Kind(), "");
        REQUIRE(objs.ok());
        for (const Json& o : *objs) (void)r->Reconcile(ObjectKey::Of(o));
      }
      clock_.Advance(absl::Seconds(1));
      if (store_->CurrentVersion() == before) return;
    }
  }
  // Runs only the reconciler of `kind` once over its objects (to stop a flow mid-way).
  void Pass(const std::string& kind) {
    for (auto& r : recs_) {
      if (r->Kind() != kind) continue;
      auto objs = store_->List(kind, "");
      REQUIRE(objs.ok());
      for (const Json& o : *objs) (void)r->Reconcile(ObjectKey::Of(o));
    }
    clock_.Advance(absl::Seconds(1));
  }
  void Advance(absl::Duration d) { clock_.Advance(d); }
  std::shared_ptr<FakeAgentClient> Agent() { return agents_.Node("n1"); }
  // The reconciler of `kind` (e.g. to ask it for Related keys).
  Reconciler& Rec(const std::string& kind) {
    for (auto& r : recs_) {
      if (r->Kind() == kind) return *r;
    }
    FAIL("no reconciler for " << kind);
    return *recs_.front();
  }
  ObjectStore& Store() { return *store_; }

  Json Disk(const std::string& name, const std::string& size, const std::string& from = "") {
    Json d = {{"kind", "VirtualDisk"},
              {"metadata", {{"name", name}}},
              {"spec", {{"persistentVolumeClaim", {{"size", size}}}}}};
    if (!from.empty()) {
      d["spec"]["dataSource"] = {{"type", "ObjectRef"},
                                 {"objectRef", {{"kind", "VirtualDiskSnapshot"}, {"name", from}}}};
    }
    return Apply(d);
  }
  Json Snapshot(const std::string& name, const std::string& disk, bool required = true) {
    return Apply({{"kind", "VirtualDiskSnapshot"},
                  {"metadata", {{"name", name}}},
                  {"spec", {{"virtualDiskName", disk}, {"requiredConsistency", required}}}});
  }
  Json Vm(const std::string& name, std::vector<std::string> disks) {
    Json refs = Json::array();
    for (const auto& d : disks) refs.push_back({{"kind", "VirtualDisk"}, {"name", d}});
    return Apply(
        {{"kind", "VirtualMachine"},
         {"metadata", {{"name", name}}},
         {"spec", {{"blockDeviceRefs", refs}, {"runPolicy", "AlwaysOnUnlessStoppedManually"}}}});
  }

  std::string Phase(const std::string& kind, const std::string& name) {
    return JsonString(Get(kind, name), "/status/phase");
  }
  std::string Reason(const std::string& kind, const std::string& name, const std::string& type) {
    return GetCondition(Get(kind, name), type).value("reason", "");
  }
  std::string Message(const std::string& kind, const std::string& name, const std::string& type) {
    return GetCondition(Get(kind, name), type).value("message", "");
  }

 private:
  static std::string MakeDir() {
    char tmpl[] = "/tmp/berth-reconcilers-XXXXXX";
    return mkdtemp(tmpl);
  }
  std::string dir_;
  SimulatedClock clock_;
  NodeTracker tracker_;
  ControllerConfig config_;
  FakeAgentDirectory agents_;
  std::unique_ptr<ObjectStore> store_;
  std::vector<std::unique_ptr<Reconciler>> recs_;
};

}  // namespace berth::controller

#endif  // BERTH_TESTS_UNIT_CONTROLLER_WORLD_H_
