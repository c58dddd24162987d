#include "kubeapi/field_manager.h"

#include <catch2/catch.hpp>
#include <string>

using berth::Json;
using berth::kubeapi::Apply;
using berth::kubeapi::ApplyResult;
using berth::kubeapi::FieldPath;
using berth::kubeapi::FieldSet;
using berth::kubeapi::ManagerFromUserAgent;
using berth::kubeapi::PathElement;
using berth::kubeapi::PathString;
using berth::kubeapi::RecordUpdate;
using berth::kubeapi::ValidateManager;

namespace {

constexpr char kT1[] = "2025-01-01T00:00:01Z";
constexpr char kT2[] = "2025-01-01T00:00:02Z";
constexpr char kT3[] = "2025-01-01T00:00:03Z";
constexpr char kVersion[] = "virtualization.deckhouse.io/v1alpha2";

// A VirtualDisk configuration with the given spec (and optional metadata additions).
Json Disk(const std::string& spec, const std::string& extra_meta = "") {
  return Json::parse(R"({"apiVersion":"virtualization.deckhouse.io/v1alpha2","kind":"VirtualDisk",
    "metadata":{"name":"d","namespace":"ns")" +
                     (extra_meta.empty() ? "" : "," + extra_meta) + R"(},"spec":)" + spec + "}");
}

const Json& ManagedFields(const ApplyResult& r) { return r.object["metadata"]["managedFields"]; }

Json Entry(const std::string& manager, const std::string& operation, const char* time,
           const std::string& fields, const std::string& subresource = "") {
  Json e = {{"manager", manager},
            {"operation", operation},
            {"apiVersion", kVersion},
            {"fieldsType", "FieldsV1"},
            {"fieldsV1", Json::parse(fields)}};
  if (time != nullptr) e["time"] = time;
  if (!subresource.empty()) e["subresource"] = subresource;
  return e;
}

ApplyResult MustApply(const Json* live, const Json& applied, const std::string& manager,
                      const char* now, bool force = false, const std::string& subresource = "") {
  absl::StatusOr<ApplyResult> r = Apply(live, applied, manager, force, subresource, now);
  REQUIRE(r.ok());
  return *r;
}

}  // namespace

TEST_CASE("A create by apply owns every applied leaf and no struct field itself") {
  Json applied = Disk(R"({"persistentVolumeClaim":{"size":"1Gi"},"virtualDiskName":"a",
                          "tags":["x","y"]})",
                      R"("labels":{"app":"web"})");
  ApplyResult r = MustApply(nullptr, applied, "alice", kT1);
  REQUIRE(r.conflicts.empty());
  CHECK(r.changed);
  CHECK(ManagedFields(r) == Json::array({Entry("alice", "Apply", kT1,
                                               R"({"f:metadata":{"f:labels":{"f:app":{}}},
                               "f:spec":{"f:persistentVolumeClaim":{"f:size":{}},
                                         "f:tags":{},"f:virtualDiskName":{}}})")}));
  Json object = r.object;
  object["metadata"].erase("managedFields");
  CHECK(object == applied);
}

TEST_CASE("Applying again without a field removes it from the object") {
  ApplyResult first =
      MustApply(nullptr,
                Disk(R"({"persistentVolumeClaim":{"size":"1Gi"},"virtualDiskName":"a"})",
                     R"("labels":{"app":"web"})"),
                "alice", kT1);
  ApplyResult second =
      MustApply(&first.object, Disk(R"({"persistentVolumeClaim":{"size":"1Gi"}})"), "alice", kT2);
  REQUIRE(second.conflicts.empty());
  CHECK(second.changed);
  CHECK_FALSE(second.object["spec"].contains("virtualDiskName"));
  CHECK_FALSE(second.object["metadata"].contains("labels"));
  CHECK(second.object["spec"]["persistentVolumeClaim"]["size"] == "1Gi");
  CHECK(ManagedFields(second) ==
        Json::array({Entry("alice", "Apply", kT2,
                           R"({"f:spec":{"f:persistentVolumeClaim":{"f:size":{}}}})")}));
}

TEST_CASE("A field dropped by one applier stays while another manager owns it") {
  ApplyResult a = MustApply(nullptr, Disk(R"({"virtualDiskName":"a","tags":["t"]})"), "alice", kT1);
  ApplyResult b = MustApply(&a.object, Disk(R"({"virtualDiskName":"a"})"), "bob", kT2);
  ApplyResult again = MustApply(&b.object, Disk(R"({"tags":["t"]})"), "alice", kT3);
  REQUIRE(again.conflicts.empty());
  CHECK(again.object["spec"]["virtualDiskName"] == "a");
}

TEST_CASE("Applying another manager's field with a different value conflicts") {
  ApplyResult a = MustApply(nullptr, Disk(R"({"virtualDiskName":"a"})"), "alice", kT1);
  ApplyResult b = MustApply(&a.object, Disk(R"({"virtualDiskName":"b"})"), "bob", kT2);
  REQUIRE(b.conflicts.size() == 1);
  CHECK(b.conflicts[0].manager == "alice");
  CHECK(b.conflicts[0].field == ".spec.virtualDiskName");
  CHECK(b.ConflictMessage() ==
        R"(Apply failed with 1 conflict: conflict with "alice": .spec.virtualDiskName)");
  Json status = b.ConflictStatus();
  CHECK(status["code"] == 409);
  CHECK(status["reason"] == "Conflict");
  CHECK(status["details"]["causes"] ==
        Json::parse(R"([{"type":"FieldManagerConflict","message":"conflict with \"alice\"",
                         "field":".spec.virtualDiskName"}])"));
}

TEST_CASE("Conflicts with several managers are grouped by manager") {
  ApplyResult a = MustApply(nullptr, Disk(R"({"a":"1","b":"1"})"), "alice", kT1);
  Json edited = a.object;
  edited["spec"]["b"] = "2";
  Json updated = RecordUpdate(&a.object, edited, "carol", "", kT2);
  absl::StatusOr<ApplyResult> b =
      Apply(&updated, Disk(R"({"a":"3","b":"3"})"), "bob", false, "", kT3);
  REQUIRE(b.ok());
  CHECK(b->ConflictMessage() ==
        "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.a\n"
        "conflicts with \"carol\" using virtualization.deckhouse.io/v1alpha2:\n- .spec.b");
}

TEST_CASE("Applying the same value shares ownership without a conflict") {
  ApplyResult a = MustApply(nullptr, Disk(R"({"virtualDiskName":"a"})"), "alice", kT1);
  ApplyResult b = MustApply(&a.object, Disk(R"({"virtualDiskName":"a"})"), "bob", kT2);
  REQUIRE(b.conflicts.empty());
  CHECK_FALSE(b.changed);
  // A no-op apply sets no timestamp, and entries without one sort first.
  CHECK(ManagedFields(b) ==
        Json::array({Entry("bob", "Apply", nullptr, R"({"f:spec":{"f:virtualDiskName":{}}})"),
                     Entry("alice", "Apply", kT1, R"({"f:spec":{"f:virtualDiskName":{}}})")}));
}

TEST_CASE("A forced apply takes the conflicting fields over") {
  ApplyResult a =
      MustApply(nullptr, Disk(R"({"persistentVolumeClaim":{"size":"1Gi"},"virtualDiskName":"a"})"),
                "alice", kT1);
  ApplyResult b =
      MustApply(&a.object, Disk(R"({"virtualDiskName":"b"})"), "bob", kT2, /*force=*/true);
  REQUIRE(b.conflicts.empty());
  CHECK(b.object["spec"]["virtualDiskName"] == "b");
  CHECK(ManagedFields(b) ==
        Json::array({Entry("alice", "Apply", kT1,
                           R"({"f:spec":{"f:persistentVolumeClaim":{"f:size":{}}}})"),
                     Entry("bob", "Apply", kT2, R"({"f:spec":{"f:virtualDiskName":{}}})")}));
}

TEST_CASE("An update takes changed fields from the applier, whose next apply conflicts") {
  ApplyResult a =
      MustApply(nullptr, Disk(R"({"persistentVolumeClaim":{"size":"1Gi"},"virtualDiskName":"a"})"),
                "alice", kT1);
  Json edited = a.object;
  edited["spec"]["virtualDiskName"] = "z";
  edited["metadata"]["labels"] = {{"team", "x"}};
  Json updated = RecordUpdate(&a.object, edited, "kubectl-edit", "", kT2);
  CHECK(updated["metadata"]["managedFields"] ==
        Json::array({Entry("alice", "Apply", kT1,
                           R"({"f:spec":{"f:persistentVolumeClaim":{"f:size":{}}}})"),
                     Entry("kubectl-edit", "Update", kT2,
                           R"({"f:metadata":{"f:labels":{".":{},"f:team":{}}},
                               "f:spec":{"f:virtualDiskName":{}}})")}));
  ApplyResult again =
      MustApply(&updated, Disk(R"({"persistentVolumeClaim":{"size":"1Gi"},"virtualDiskName":"a"})"),
                "alice", kT3);
  REQUIRE(again.conflicts.size() == 1);
  CHECK(again.conflicts[0].field == ".spec.virtualDiskName");
  CHECK(again.conflicts[0].message ==
        R"(conflict with "kubectl-edit" using virtualization.deckhouse.io/v1alpha2)");
}

TEST_CASE("A create records every new field, maps with their own marker") {
  Json created = RecordUpdate(nullptr,
                              Disk(R"({"virtualDiskName":"a","persistentVolumeClaim":{"size":1}})",
                                   R"("labels":{"app":"web"})"),
                              "kubectl-create", "", kT1);
  CHECK(created["metadata"]["managedFields"] ==
        Json::array({Entry("kubectl-create", "Update", kT1,
                           R"({"f:metadata":{"f:labels":{".":{},"f:app":{}}},
                               "f:spec":{".":{},"f:persistentVolumeClaim":{".":{},"f:size":{}},
                                         "f:virtualDiskName":{}}})")}));
  // An update that changes nothing keeps the entry and its time.
  Json same = RecordUpdate(&created, created, "kubectl-edit", "", kT2);
  CHECK(same["metadata"]["managedFields"] == created["metadata"]["managedFields"]);
}

TEST_CASE("Updates honour untracked objects and a managedFields reset") {
  Json untracked = Disk(R"({"virtualDiskName":"a"})");
  Json edited = untracked;
  edited["spec"]["virtualDiskName"] = "b";
  CHECK_FALSE(RecordUpdate(&untracked, edited, "m", "", kT1)["metadata"].contains("managedFields"));

  Json created = RecordUpdate(nullptr, untracked, "creator", "", kT1);
  REQUIRE(created["metadata"].contains("managedFields"));
  Json reset = created;
  reset["metadata"]["managedFields"] = Json::array();
  CHECK_FALSE(RecordUpdate(&created, reset, "m", "", kT2)["metadata"].contains("managedFields"));
}

TEST_CASE("Status subresource applies manage status only") {
  ApplyResult a = MustApply(nullptr, Disk(R"({"virtualDiskName":"a"})"), "alice", kT1);
  Json status_config = Disk(R"({"virtualDiskName":"other"})");
  status_config["status"] = {{"phase", "Ready"}};
  ApplyResult s = MustApply(&a.object, status_config, "berth-controller", kT2, false, "status");
  REQUIRE(s.conflicts.empty());
  CHECK(s.object["spec"]["virtualDiskName"] == "a");
  CHECK(s.object["status"]["phase"] == "Ready");
  CHECK(ManagedFields(s) ==
        Json::array(
            {Entry("alice", "Apply", kT1, R"({"f:spec":{"f:virtualDiskName":{}}})"),
             Entry("berth-controller", "Apply", kT2, R"({"f:status":{"f:phase":{}}})", "status")}));
  // The main resource neither owns nor changes status.
  Json main_config = Disk(R"({"virtualDiskName":"a"})");
  main_config["status"] = {{"phase", "Failed"}};
  ApplyResult m = MustApply(&s.object, main_config, "alice", kT3);
  REQUIRE(m.conflicts.empty());
  CHECK(m.object["status"]["phase"] == "Ready");
  CHECK_FALSE(m.changed);
}

TEST_CASE("Lists without a list type are atomic, finalizers are a set") {
  ApplyResult a =
      MustApply(nullptr, Disk(R"({"tags":["a","b"]})", R"("finalizers":["a/x"])"), "alice", kT1);
  CHECK(ManagedFields(a)[0]["fieldsV1"] ==
        Json::parse(R"({"f:metadata":{"f:finalizers":{"v:\"a/x\"":{}}},"f:spec":{"f:tags":{}}})"));
  ApplyResult grow = MustApply(&a.object, Disk(R"({"tags":["a","b","c"]})"), "bob", kT2);
  REQUIRE(grow.conflicts.size() == 1);
  CHECK(grow.conflicts[0].field == ".spec.tags");

  ApplyResult fin = MustApply(&a.object, Disk("{}", R"("finalizers":["b/y"])"), "bob", kT2);
  REQUIRE(fin.conflicts.empty());
  CHECK(fin.object["metadata"]["finalizers"] == Json::array({"a/x", "b/y"}));
  ApplyResult drop = MustApply(&fin.object, Disk("{}"), "bob", kT3);
  CHECK(drop.object["metadata"]["finalizers"] == Json::array({"a/x"}));
}

TEST_CASE("Maps the schema leaves open own their keys with a marker") {
  Json schema = Json::parse(R"({"type":"object","properties":{"spec":{"type":"object",
    "properties":{"nodeSelector":{"type":"object","additionalProperties":{"type":"string"}},
                  "settings":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}}})");
  absl::StatusOr<ApplyResult> r =
      Apply(nullptr, Disk(R"({"nodeSelector":{"zone":"a"},"settings":{"deep":{"x":1}}})"), "alice",
            false, "", kT1, &schema);
  REQUIRE(r.ok());
  CHECK(ManagedFields(*r)[0]["fieldsV1"] ==
        Json::parse(R"({"f:spec":{"f:nodeSelector":{"f:zone":{}},
                                  "f:settings":{"f:deep":{".":{},"f:x":{}}}}})"));
}

TEST_CASE("The first apply to an untracked object conflicts with before-first-apply") {
  Json live = Disk(R"({"virtualDiskName":"a","persistentVolumeClaim":{"size":"1Gi"}})");
  ApplyResult r = MustApply(&live, Disk(R"({"virtualDiskName":"b"})"), "alice", kT2);
  REQUIRE(r.conflicts.size() == 1);
  CHECK(r.conflicts[0].message ==
        R"(conflict with "before-first-apply" using virtualization.deckhouse.io/v1alpha2)");
  ApplyResult same = MustApply(&live, Disk(R"({"virtualDiskName":"a"})"), "alice", kT2);
  CHECK(ManagedFields(same) ==
        Json::array({Entry("alice", "Apply", nullptr, R"({"f:spec":{"f:virtualDiskName":{}}})"),
                     Entry("before-first-apply", "Update", kT2,
                           R"({"f:spec":{".":{},"f:persistentVolumeClaim":{".":{},"f:size":{}},
                                         "f:virtualDiskName":{}}})")}));
}

TEST_CASE("kubectl's server-side apply takes over what its client-side apply set") {
  std::string last = R"({"apiVersion":"virtualization.deckhouse.io/v1alpha2",)"
                     R"("kind":"VirtualDisk","metadata":{"name":"d","namespace":"ns"},)"
                     R"("spec":{"virtualDiskName":"a"}})";
  Json csa = Disk(R"({"virtualDiskName":"a"})",
                  R"("annotations":{"kubectl.kubernetes.io/last-applied-configuration":)" +
                      Json(last + "\n").dump() + "}");
  Json live = RecordUpdate(nullptr, csa, "kubectl-client-side-apply", "", kT1);
  Json applied = Disk(R"({"virtualDiskName":"b"})");
  CHECK(MustApply(&live, applied, "someone", kT2).conflicts.size() == 1);
  ApplyResult r = MustApply(&live, applied, "kubectl", kT2);
  REQUIRE(r.conflicts.empty());
  CHECK(r.object["spec"]["virtualDiskName"] == "b");
  CHECK(r.object["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] ==
        R"({"apiVersion":"virtualization.deckhouse.io/v1alpha2","kind":"VirtualDisk",)"
        R"("metadata":{"name":"d","namespace":"ns"},"spec":{"virtualDiskName":"b"}})"
        "\n");
}

TEST_CASE("Apply refuses managedFields in the configuration") {
  Json applied = Disk("{}", R"("managedFields":[])");
  absl::StatusOr<ApplyResult> r = Apply(nullptr, applied, "alice", false, "", kT1);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(r.status().message() == "metadata.managedFields must be nil");
}

TEST_CASE("More than ten updaters fold the oldest into ancient-changes") {
  Json obj = RecordUpdate(nullptr, Disk("{}"), "m00", "", "2025-01-01T00:00:00Z");
  for (int i = 1; i <= 10; ++i) {
    Json next = obj;
    std::string n = (i < 10 ? "0" : "") + std::to_string(i);
    next["metadata"]["labels"]["l" + n] = "v";
    obj = RecordUpdate(&obj, next, "m" + n, "", "2025-01-01T00:00:" + n + "Z");
  }
  const Json& entries = obj["metadata"]["managedFields"];
  REQUIRE(entries.size() == 10);
  CHECK(entries[0]["manager"] == "ancient-changes");
  CHECK(entries[0]["fieldsV1"]["f:metadata"]["f:labels"].contains("f:l01"));
}

TEST_CASE("FieldsV1 round-trips, with the marker for owned parents") {
  Json fields = Json::parse(R"({"f:metadata":{"f:labels":{".":{},"f:app":{}},
    "f:ownerReferences":{"k:{\"uid\":\"u1\"}":{}},"f:finalizers":{"v:\"x\"":{}}},
    "f:spec":{".":{},"f:a":{"f:b":{}}}})");
  absl::StatusOr<FieldSet> set = FieldSet::FromFieldsV1(fields);
  REQUIRE(set.ok());
  PathElement meta = PathElement::Field("metadata"), spec = PathElement::Field("spec");
  CHECK(set->Has({meta, PathElement::Field("labels")}));
  CHECK_FALSE(set->Has({meta}));
  CHECK(set->Has({spec}));
  CHECK_FALSE(set->Has({spec, PathElement::Field("a")}));
  CHECK(set->Has({spec, PathElement::Field("a"), PathElement::Field("b")}));
  CHECK(set->Has({meta, PathElement::Field("ownerReferences"), PathElement::Key({{"uid", "u1"}})}));
  CHECK(set->ToFieldsV1() == fields);

  std::vector<std::string> printed;
  for (const FieldPath& p : set->Paths()) printed.push_back(PathString(p));
  CHECK(printed == std::vector<std::string>{".spec", ".metadata.labels",
                                            ".metadata.finalizers[=\"x\"]", ".metadata.labels.app",
                                            ".metadata.ownerReferences[uid=\"u1\"]", ".spec.a.b"});
  CHECK(FieldSet::FromFieldsV1(Json::parse(R"({"z:unknown":{},"f:a":{}})"))->ToFieldsV1() ==
        Json::parse(R"({"f:a":{}})"));
  CHECK_FALSE(FieldSet::FromFieldsV1(Json::parse(R"({"f":{}})")).ok());
  CHECK_FALSE(FieldSet::FromFieldsV1(Json::parse(R"({"f:a":1})")).ok());
}

TEST_CASE("The default manager is the User-Agent's product") {
  CHECK(ManagerFromUserAgent("kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9") == "kubectl");
  CHECK(ManagerFromUserAgent("OpenAPI-Generator/31.0.0/python") == "OpenAPI-Generator");
  CHECK(ManagerFromUserAgent("a\tb\x01") == "ab");
  CHECK(ManagerFromUserAgent(std::string(200, 'x')) == std::string(128, 'x'));
  CHECK(ManagerFromUserAgent("") == "");
}

TEST_CASE("fieldManager is validated with kube's messages") {
  CHECK(ValidateManager("kubectl", "PatchOptions", true).ok());
  CHECK(ValidateManager("", "CreateOptions", false).ok());
  CHECK(ValidateManager("", "PatchOptions", true).message() ==
        R"(PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required )"
        "for apply patch");
  CHECK(ValidateManager(std::string(129, 'm'), "UpdateOptions", false).message() ==
        R"(UpdateOptions.meta.k8s.io "" is invalid: fieldManager: Too long: must have at most )"
        "128 bytes");
  absl::Status bad = ValidateManager("a\x01", "CreateOptions", false);
  CHECK(bad.code() == absl::StatusCode::kInvalidArgument);
  CHECK(bad.message() == R"(CreateOptions.meta.k8s.io "" is invalid: fieldManager: Invalid )"
                         R"(value: "a\x01": invalid character U+0001 (at position 1))");
}
