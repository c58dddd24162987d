// Checks manifests/: the CRDs against the controller's admission and the CLI's columns (one
// source of truth, tested both ways), every example through the CRD schema and admission, and
// the Deployment/DaemonSet/RBAC for what an agent and a controller need.
//
// Agreement is tested by mutation: for every schema rule that applies to a field an example
// sets (enum, pattern, length, minimum, required, unknown field, item count, type), the example
// is broken in exactly that way, and both the schema and admission must reject it. Immutable
// specs (the CRD's `self == oldSelf`) must be rejected by admission on update, and specs the
// CRD lets change must be accepted.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "berth/controller/admission.h"
#include "berth/kinds.h"
#include "berth/manifest.h"
#include "berth/schema.h"
#include "printers.h"

namespace berth {
namespace {

namespace fs = std::filesystem;
const fs::path kManifests = fs::path(BERTH_SOURCE_DIR) / "manifests";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<Json> Docs(const fs::path& path) {
  auto docs = ParseManifests(ReadFile(path));
  INFO(path.string() << ": " << docs.status().ToString());
  REQUIRE(docs.ok());
  return *docs;
}

std::vector<fs::path> YamlFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".yaml") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// CRDs by kind.
const std::map<std::string, Json>& Crds() {
  static const auto* crds = [] {
    auto* m = new std::map<std::string, Json>();
    for (const fs::path& p : YamlFiles(kManifests / "crds")) {
      for (Json& d : Docs(p)) (*m)[d["spec"]["names"]["kind"].get<std::string>()] = d;
    }
    return m;
  }();
  return *crds;
}

const Json& SchemaOf(const std::string& kind) {
  return Crds().at(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
}

bool Preserves(const Json& s) { return s.value("x-kubernetes-preserve-unknown-fields", false); }

// The CRD schema's verdict on an object: berth/schema.h, the validator the Kubernetes API
// serves with, unknown fields included.
std::vector<std::string> SchemaErrors(const Json& obj) {
  std::vector<std::string> errs;
  for (const schema::FieldError& e :
       schema::Validate(SchemaOf(obj["kind"].get<std::string>()), obj, /*report_unknown=*/true)) {
    errs.push_back(e.Message());
  }
  return errs;
}

using schema::ApplyDefaults;

std::vector<std::pair<fs::path, Json>> Examples() {
  std::vector<std::pair<fs::path, Json>> out;
  for (const fs::path& p : YamlFiles(kManifests / "examples")) {
    for (Json& d : Docs(p)) out.push_back({p, d});
  }
  return out;
}

TEST_CASE("every API kind has a CRD with the names, scope and category the CLI uses") {
  std::set<std::string> expected;
  for (const KindInfo& k : AllKinds()) {
    if (k.api_version != kApiVersion) continue;  // Secret is core v1
    expected.insert(k.kind);
    INFO(k.kind);
    REQUIRE(Crds().count(k.kind) == 1);
    const Json& crd = Crds().at(k.kind);
    CHECK(crd["apiVersion"] == "apiextensions.k8s.io/v1");
    CHECK(crd["metadata"]["name"] == k.plural + "." + kApiGroup);
    const Json& spec = crd["spec"];
    CHECK(spec["group"] == kApiGroup);
    CHECK(spec["scope"] == (k.namespaced ? "Namespaced" : "Cluster"));
    CHECK(spec["names"]["plural"] == k.plural);
    CHECK(spec["names"]["singular"] == k.singular);
    std::vector<std::string> shorts = spec["names"].value("shortNames", std::vector<std::string>{});
    // "no" belongs to the core Node; kubectl would make it ambiguous.
    std::vector<std::string> want = k.kind == "Node" ? std::vector<std::string>{} : k.short_names;
    CHECK(shorts == want);
    auto cats = spec["names"]["categories"].get<std::vector<std::string>>();
    CHECK(std::count(cats.begin(), cats.end(), "virtualization") == 1);
    REQUIRE(spec["versions"].size() == 1);
    const Json& v = spec["versions"][0];
    CHECK(v["name"] == "v1alpha2");
    CHECK(v["served"] == true);
    CHECK(v["storage"] == true);
    CHECK(v["subresources"].contains("status"));
    CHECK(v["schema"]["openAPIV3Schema"]["type"] == "object");
  }
  std::set<std::string> have;
  for (const auto& [kind, crd] : Crds()) have.insert(kind);
  CHECK(have == expected);
}

TEST_CASE("printer columns are the CLI's columns, wide ones at priority 1") {
  for (const auto& [kind, crd] : Crds()) {
    INFO(kind);
    std::vector<std::string> cli, cli_wide, crd_cols, crd_wide;
    for (const cli::Column& c : cli::ColumnsFor(kind)) {
      if (c.header == "NAME") continue;  // kubectl always prints NAME first
      (c.wide_only ? cli_wide : cli).push_back(c.header);
    }
    for (const Json& c : crd["spec"]["versions"][0]["additionalPrinterColumns"]) {
      std::string h = absl::AsciiStrToUpper(c["name"].get<std::string>());
      (c.value("priority", 0) > 0 ? crd_wide : crd_cols).push_back(h);
      CHECK(absl::StartsWith(c["jsonPath"].get<std::string>(), "."));
    }
    CHECK(crd_cols == cli);
    CHECK(crd_wide == cli_wide);
  }
}

TEST_CASE("every example passes its CRD schema and admission, with the same defaults") {
  auto examples = Examples();
  CHECK(examples.size() >= 25);
  std::set<std::string> kinds;
  for (const auto& [path, obj] : examples) {
    std::string kind = obj.value("kind", "");
    INFO(path.filename().string() << " (" << kind << ")");
    kinds.insert(kind);
    if (kind == "Secret") continue;
    REQUIRE(Crds().count(kind) == 1);
    CHECK(SchemaErrors(obj).empty());
    auto admitted = controller::Admit(obj, nullptr);
    INFO(admitted.status().ToString());
    REQUIRE(admitted.ok());
    // Fields the schema defaults are the fields admission defaults, to the same values.
    Json defaulted = obj;
    ApplyDefaults(SchemaOf(kind), defaulted);
    CHECK(defaulted["spec"].dump() == (*admitted)["spec"].dump());
  }
  // Examples cover every kind users write.
  for (const char* k :
       {"VirtualDisk", "VirtualDiskSnapshot", "VirtualMachine", "VirtualMachineSnapshot",
        "VirtualMachineOperation", "VirtualMachineSnapshotOperation", "VirtualImage",
        "ClusterVirtualImage", "VirtualMachineClass", "VirtualMachineIPAddress",
        "VirtualMachineMACAddress", "NodeUSBDevice", "DataExport"}) {
    CHECK(kinds.count(k) == 1);
  }
}

// --- Mutations: one broken field at a time. ---

struct Mutation {
  std::string what;
  Json object;
};

// Walks `schema` along `value` (a part of `root` at JSON pointer `ptr`) and adds one mutation
// per rule that constrains a present field.
void Mutate(const Json& schema, const Json& value, const Json& root, const std::string& ptr,
            std::vector<Mutation>& out) {
  auto with = [&](const std::string& what, const std::function<void(Json&)>& change) {
    Json copy = root;
    change(ptr.empty() ? copy : copy[Json::json_pointer(ptr)]);
    out.push_back({what + " at " + (ptr.empty() ? "/" : ptr), std::move(copy)});
  };
  if (schema.value("x-kubernetes-int-or-string", false)) {
    with("quantity that is not one", [](Json& v) { v = "ten gigs"; });
    return;
  }
  std::string type = schema.value("type", "");
  if (type == "object" && value.is_object() && schema.contains("properties")) {
    if (!Preserves(schema)) {
      with("unknown field", [](Json& v) { v["bogusField"] = "x"; });
    }
    const Json& props = schema["properties"];
    for (const auto& r : schema.value("required", Json::array())) {
      std::string key = r.get<std::string>();
      if (value.contains(key) && !props[key].contains("default")) {
        with("required " + key + " removed", [key](Json& v) { v.erase(key); });
      }
    }
    for (auto it = value.begin(); it != value.end(); ++it) {
      bool envelope = ptr.empty() && (it.key() == "apiVersion" || it.key() == "kind" ||
                                      it.key() == "metadata" || it.key() == "status");
      if (props.contains(it.key()) && !envelope) {
        Mutate(props[it.key()], *it, root, ptr + "/" + it.key(), out);
      }
    }
  } else if (type == "array" && value.is_array()) {
    if (schema.contains("maxItems") && !value.empty()) {
      size_t max = schema["maxItems"].get<size_t>();
      with("too many items", [max](Json& v) {
        Json first = v[0];
        while (v.size() <= max) v.push_back(first);
      });
    }
    for (size_t i = 0; i < value.size(); ++i) {
      Mutate(schema["items"], value[i], root, absl::StrCat(ptr, "/", i), out);
    }
  } else if (type == "string" && value.is_string()) {
    with("number where a string goes", [](Json& v) { v = 12345; });
    if (schema.contains("enum")) with("value outside the enum", [](Json& v) { v = "Bogus"; });
    if (schema.contains("maxLength")) {
      size_t n = schema["maxLength"].get<size_t>() + 1;
      with("too long", [n](Json& v) { v = std::string(n, 'a'); });
    }
    if (schema.contains("minLength") && schema["minLength"].get<size_t>() > 0) {
      with("empty", [](Json& v) { v = ""; });
    }
    if (schema.contains("pattern") && !schema.contains("enum")) {
      with("does not match the pattern", [](Json& v) { v = "Not_Valid!"; });
    }
  } else if (type == "integer" && value.is_number_integer()) {
    with("string where an integer goes", [](Json& v) { v = "three"; });
    if (schema.contains("minimum")) {
      int64_t min = schema["minimum"].get<int64_t>();
      with("below the minimum", [min](Json& v) { v = min - 1; });
    }
  } else if (type == "boolean" && value.is_boolean()) {
    with("string where a boolean goes", [](Json& v) { v = "yes"; });
  }
}

TEST_CASE("admission rejects every mutation the CRD schema rejects") {
  size_t total = 0;
  for (const auto& [path, obj] : Examples()) {
    std::string kind = obj.value("kind", "");
    if (kind == "Secret") continue;
    std::vector<Mutation> mutations;
    Json body = obj;
    Mutate(SchemaOf(kind), body, body, "", mutations);
    for (const Mutation& m : mutations) {
      INFO(path.filename().string() << ": " << m.what << "\n" << m.object.dump());
      CHECK_FALSE(SchemaErrors(m.object).empty());  // the mutation breaks the schema
      CHECK_FALSE(controller::Admit(m.object, nullptr).ok());
      ++total;
    }
  }
  CHECK(total > 300);
}

// Changes one scalar somewhere in `spec` (the first one found).
bool ChangeOneSpecField(Json& v) {
  if (v.is_string()) {
    v = v.get<std::string>() + "x";
    return true;
  }
  if (v.is_boolean()) {
    v = !v.get<bool>();
    return true;
  }
  if (v.is_number_integer()) {
    v = v.get<int64_t>() + 1;
    return true;
  }
  for (auto& item : v) {
    if (ChangeOneSpecField(item)) return true;
  }
  return false;
}

TEST_CASE("specs the CRD makes immutable are immutable in admission, and only those") {
  int immutable = 0, mutable_ = 0;
  for (const auto& [path, obj] : Examples()) {
    std::string kind = obj.value("kind", "");
    if (kind == "Secret" || !obj.contains("spec")) continue;
    const Json& spec_schema = SchemaOf(kind)["properties"]["spec"];
    bool rule = false;
    for (const Json& r : spec_schema.value("x-kubernetes-validations", Json::array())) {
      rule = rule || r["rule"] == "self == oldSelf";
    }
    auto stored = controller::Admit(obj, nullptr);
    REQUIRE(stored.ok());
    Json changed = *stored;
    if (kind == "VirtualMachine") {
      changed["spec"]["cpu"]["cores"] = 3;  // a field every VM example sets
    } else if (kind == "VirtualDisk") {
      changed["spec"]["persistentVolumeClaim"]["size"] = "100Gi";  // growing is allowed
    } else if (!ChangeOneSpecField(changed["spec"])) {
      continue;
    }
    INFO(path.filename().string() << " (" << kind << "), rule: " << rule);
    auto updated = controller::Admit(changed, &*stored);
    if (rule) {
      CHECK_FALSE(updated.ok());
      ++immutable;
    } else if (kind == "VirtualMachine" || kind == "VirtualDisk") {
      CHECK(updated.ok());
      ++mutable_;
    }
  }
  CHECK(immutable >= 12);
  CHECK(mutable_ >= 3);
}

// --- Deployment manifests. ---

std::map<std::string, Json> DeployObjects() {
  std::map<std::string, Json> out;
  for (const fs::path& p : YamlFiles(kManifests / "deploy")) {
    if (p.filename() == "kustomization.yaml") continue;
    for (Json& d : Docs(p)) {
      out[d["kind"].get<std::string>() + "/" + d["metadata"]["name"].get<std::string>()] = d;
    }
  }
  return out;
}

// Returns the flag names (without "--") a binary accepts, from its --helpfull.
std::set<std::string> FlagsOf(const std::string& binary) {
  FILE* p = popen((binary + " --helpfull 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  std::set<std::string> flags;
  std::smatch m;
  std::regex re("\\n\\s+--([a-z_0-9]+) ");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator();
       ++it) {
    flags.insert((*it)[1]);
  }
  return flags;
}

void CheckArgs(const Json& container, const std::set<std::string>& flags) {
  for (const Json& a : container["args"]) {
    std::string arg = a.get<std::string>();
    REQUIRE(absl::StartsWith(arg, "--"));
    std::string name = arg.substr(2, arg.find('=') - 2);
    INFO(arg);
    CHECK(flags.count(name) == 1);
  }
}

TEST_CASE("the agent DaemonSet and controller Deployment run what the daemons accept") {
  auto objs = DeployObjects();
  REQUIRE(objs.count("Namespace/berth-system") == 1);
  REQUIRE(objs.count("DaemonSet/berth-agent") == 1);
  REQUIRE(objs.count("Deployment/berth-controller") == 1);
  REQUIRE(objs.count("ClusterRole/berth-controller") == 1);
  REQUIRE(objs.count("ClusterRoleBinding/berth-controller") == 1);
  for (const auto& [key, o] : objs) {
    INFO(key);
    if (o["kind"] != "Namespace" && o["kind"] != "ClusterRole" &&
        o["kind"] != "ClusterRoleBinding" && o["kind"] != "APIService") {
      CHECK(o["metadata"]["namespace"] == "berth-system");
    }
  }
  const Json& ds = objs["DaemonSet/berth-agent"]["spec"]["template"]["spec"];
  CHECK(ds["hostNetwork"] == true);
  const Json& agent = ds["containers"][0];
  CHECK(agent["securityContext"]["privileged"] == true);
  std::set<std::string> mounts;
  for (const Json& m : agent["volumeMounts"]) mounts.insert(m["mountPath"].get<std::string>());
  for (const char* want : {"/dev", "/sys", "/run/libvirt", "/srv/berth", "/var/lib/berth/agent"}) {
    CHECK(mounts.count(want) == 1);
  }
  // Every pool path the agent is given lives under a mounted host path.
  for (const Json& a : agent["args"]) {
    std::string arg = a.get<std::string>();
    if (!absl::StartsWith(arg, "--pools=")) continue;
    for (absl::string_view pool : absl::StrSplit(arg.substr(8), ',')) {
      std::vector<std::string> parts = absl::StrSplit(pool, absl::MaxSplits(':', 2));
      REQUIRE(parts.size() == 3);
      CHECK(absl::StartsWith(parts[2], "/srv/berth/"));
    }
  }
  CheckArgs(agent, FlagsOf(BERTH_AGENT_BINARY));
  const Json& dep = objs["Deployment/berth-controller"]["spec"];
  CHECK(dep["replicas"] == 1);
  CHECK(dep["strategy"]["type"] == "Recreate");  // one controller per store
  const Json& ctl = dep["template"]["spec"]["containers"][0];
  CheckArgs(ctl, FlagsOf(BERTH_CONTROLLER_BINARY));
  // The gRPC port demands a client certificate, so the probe uses the metrics port's /readyz.
  CHECK(ctl["readinessProbe"]["httpGet"]["path"] == "/readyz");
  CHECK(ctl["readinessProbe"]["httpGet"]["port"] == "metrics");
  // Both daemons run with their certificate bundle mounted where --tls_dir points.
  for (const Json* c : {&ctl, &agent}) {
    bool has_tls = false;
    for (const Json& a : (*c)["args"]) has_tls |= a == "--tls_dir=/etc/berth/tls";
    CHECK(has_tls);
    bool mounted = false;
    for (const Json& m : (*c)["volumeMounts"]) mounted |= m["mountPath"] == "/etc/berth/tls";
    CHECK(mounted);
  }
  CHECK(ctl["securityContext"]["allowPrivilegeEscalation"] == false);
}

TEST_CASE("the APIService routes the API group to the controller's kube-api port") {
  auto objs = DeployObjects();
  const Json& api = objs["APIService/v1alpha2.virtualization.deckhouse.io"]["spec"];
  CHECK(api["group"] == kApiGroup);
  CHECK(api["version"] == "v1alpha2");
  CHECK(api["service"]["name"] == "berth-controller");
  const Json& svc = objs["Service/berth-controller"]["spec"];
  bool routed = false;
  for (const Json& p : svc["ports"]) {
    routed |= p["port"] == api["service"]["port"] && p["targetPort"] == "kube-api";
  }
  CHECK(routed);
  const Json& ctl =
      objs["Deployment/berth-controller"]["spec"]["template"]["spec"]["containers"][0];
  bool listens = false;
  for (const Json& a : ctl["args"]) listens |= a == "--kube_api_listen=0.0.0.0:6443";
  CHECK(listens);
}

TEST_CASE("the controller's role covers every CRD") {
  auto objs = DeployObjects();
  const Json& rules = objs["ClusterRole/berth-controller"]["rules"];
  bool all = false;
  for (const Json& r : rules) {
    auto groups = r["apiGroups"].get<std::vector<std::string>>();
    auto res = r["resources"].get<std::vector<std::string>>();
    if (std::count(groups.begin(), groups.end(), kApiGroup) &&
        std::count(res.begin(), res.end(), "*")) {
      all = true;
    }
  }
  CHECK(all);
}

}  // namespace
}  // namespace berth
