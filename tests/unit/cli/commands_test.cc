// Runs whole `berth` invocations against FakeResourceClient.
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli.h"
#include "fake_resource_client.h"

namespace berth::cli {
namespace {

// Lends the harness's fake to the CLI, which wants to own its client.
class Forwarding : public ResourceClient {
 public:
  explicit Forwarding(ResourceClient* c) : c_(c) {}
  absl::StatusOr<ObjectResult> Apply(const Json& o, bool d) override { return c_->Apply(o, d); }
  absl::StatusOr<Json> Get(const std::string& k, const std::string& ns,
                           const std::string& n) override {
    return c_->Get(k, ns, n);
  }
  absl::StatusOr<ListResult> List(const ListQuery& q) override { return c_->List(q); }
  absl::StatusOr<ObjectResult> Delete(const std::string& k, const std::string& ns,
                                      const std::string& n) override {
    return c_->Delete(k, ns, n);
  }
  absl::Status Watch(const WatchQuery& q, absl::Time d, const WatchHandler& h) override {
    return c_->Watch(q, d, h);
  }
  absl::StatusOr<std::string> ServerVersion() override { return c_->ServerVersion(); }

 private:
  ResourceClient* c_;
};

struct Harness {
  SimulatedClock clock{ParseRfc3339("2024-10-04T08:00:00Z")};
  FakeResourceClient fake{&clock};
  std::ostringstream out, err;
  std::istringstream in;
  std::string connected_to;

  int Run(std::vector<std::string> args, const std::string& stdin_text = "") {
    out.str("");
    err.str("");
    in.str(stdin_text);
    in.clear();
    CliEnv env;
    env.in = &in;
    env.out = &out;
    env.err = &err;
    env.clock = &clock;
    env.sleep = [this](absl::Duration d) { clock.Advance(d); };
    env.connect = [this](const Connection& c) {
      connected_to = c.server;
      return absl::StatusOr<std::unique_ptr<ResourceClient>>(std::make_unique<Forwarding>(&fake));
    };
    return RunCli(args, std::move(env));
  }
};

Json Disk(const std::string& name, const std::string& ns = "default") {
  return {{"apiVersion", kApiVersion},
          {"kind", "VirtualDisk"},
          {"metadata",
           {{"name", name}, {"namespace", ns}, {"creationTimestamp", "2024-10-04T07:59:00Z"}}},
          {"spec", {{"persistentVolumeClaim", {{"size", "10Gi"}}}}},
          {"status", {{"phase", "Ready"}, {"capacity", "10Gi"}}}};
}

constexpr char kTwoDocs[] = R"(apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDiskSnapshot
metadata:
  name: snap-a
spec:
  virtualDiskName: root
---
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: NodeUSBDevice
metadata:
  name: logitech-webcam
spec:
  assignedNamespace: my-project
)";

TEST_CASE("apply: created, configured, unchanged; namespace defaulting", "[commands]") {
  Harness h;
  REQUIRE(h.Run({"apply", "-f", "-", "-n", "proj"}, kTwoDocs) == 0);
  CHECK(h.out.str() ==
        "virtualdisksnapshot.virtualization.deckhouse.io/snap-a created\n"
        "nodeusbdevice.virtualization.deckhouse.io/logitech-webcam created\n");
  CHECK(h.fake.applied[0]["metadata"]["namespace"] == "proj");
  CHECK_FALSE(h.fake.applied[1]["metadata"].contains("namespace"));  // cluster-scoped
  CHECK(h.connected_to == "127.0.0.1:7443");
  REQUIRE(h.Run({"apply", "-f", "-", "-n", "proj"}, kTwoDocs) == 0);
  CHECK(h.out.str().find("snap-a unchanged\n") != std::string::npos);
  std::string changed = kTwoDocs;
  changed.replace(changed.find("my-project"), 10, "other");
  REQUIRE(h.Run({"--namespace=proj", "apply", "-f", "-"}, changed) == 0);
  CHECK(h.out.str().find("logitech-webcam configured\n") != std::string::npos);
}

TEST_CASE("apply keeps going after an error and exits 1", "[commands]") {
  Harness h;
  h.fake.reject_names = {"snap-a"};
  CHECK(h.Run({"apply", "-f", "-"}, kTwoDocs) == 1);
  CHECK(h.err.str() ==
        "Error from server (Invalid): VirtualDiskSnapshot \"snap-a\": spec.x: invalid\n");
  CHECK(h.out.str() == "nodeusbdevice.virtualization.deckhouse.io/logitech-webcam created\n");
  CHECK(h.fake.applied[0]["metadata"]["namespace"] == "default");
}

TEST_CASE("apply refuses more objects than the limit before sending any", "[commands]") {
  Harness h;
  std::string many;
  for (int i = 0; i < 5001; ++i) {
    many +=
        "---\napiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualDisk\n"
        "metadata: {name: d" +
        std::to_string(i) + "}\n";
  }
  CHECK(h.Run({"apply", "-f", "-"}, many) == 1);
  CHECK(h.err.str() ==
        "error: apply: 5001 objects given; at most 5000 per apply (split the manifests)\n");
  CHECK(h.fake.applied.empty());
}

TEST_CASE("apply reads files, reports unknown kinds, dry-run", "[commands]") {
  Harness h;
  std::string path = "/tmp/berth_cli_test_apply.yaml";
  std::ofstream(path) << "apiVersion: v1\nkind: Gadget\nmetadata:\n  name: g\n";
  CHECK(h.Run({"apply", "-f", path}) == 1);
  CHECK(h.err.str() == "error: unable to recognize \"" + path +
                           "\": no matches for kind \"Gadget\" in version \"v1\"\n");
  std::remove(path.c_str());
  CHECK(h.Run({"apply", "-f", "/nonexistent.yaml"}) == 1);
  CHECK(h.err.str() == "error: the path \"/nonexistent.yaml\" does not exist\n");
  REQUIRE(h.Run({"apply", "-f", "-", "--dry-run=server"}, kTwoDocs) == 0);
  CHECK(h.out.str().find("snap-a created (server dry run)\n") != std::string::npos);
  CHECK_FALSE(h.fake.Has("vds", "default", "snap-a"));
  CHECK(h.Run({"apply", "-f", "-"}, "kind: [") == 1);
  CHECK(h.err.str().rfind("error: error parsing STDIN: manifest: invalid YAML", 0) == 0);
  CHECK(h.Run({"apply", "-n", "a", "-f", "-"},
              "kind: VirtualDisk\nmetadata:\n  name: d\n  namespace: b\n") == 1);
  CHECK(h.err.str().find("does not match the namespace \"a\"") != std::string::npos);
}

TEST_CASE("get prints tables, lists, names and errors", "[commands]") {
  Harness h;
  h.fake.Put(Disk("root"));
  h.fake.Put(Disk("data"));
  h.fake.Put(Disk("other", "prod"));
  REQUIRE(h.Run({"get", "vd"}) == 0);
  CHECK(h.out.str() ==
        "NAME   PHASE   CAPACITY   AGE\n"
        "data   Ready   10Gi       60s\n"
        "root   Ready   10Gi       60s\n");
  REQUIRE(h.Run({"get", "virtualdisks", "-A", "--no-headers"}) == 0);
  CHECK(h.out.str() ==
        "default   data    Ready   10Gi   60s\n"
        "default   root    Ready   10Gi   60s\n"
        "prod      other   Ready   10Gi   60s\n");
  REQUIRE(h.Run({"get", "vd/root", "-o", "json"}) == 0);
  CHECK(Json::parse(h.out.str())["metadata"]["name"] == "root");
  REQUIRE(h.Run({"get", "vd", "-o", "json"}) == 0);
  CHECK(Json::parse(h.out.str())["items"].size() == 2);
  REQUIRE(h.Run({"get", "vd", "-o", "name", "-n", "prod"}) == 0);
  CHECK(h.out.str() == "virtualdisk.virtualization.deckhouse.io/other\n");
  REQUIRE(h.Run({"get", "vd", "root", "-o", "jsonpath={.status.capacity}"}) == 0);
  CHECK(h.out.str() == "10Gi");
  CHECK(h.Run({"get", "vd", "root", "missing"}) == 1);
  CHECK(h.out.str().find("root") != std::string::npos);
  CHECK(h.err.str() ==
        "Error from server (NotFound): virtualdisks.virtualization.deckhouse.io "
        "\"missing\" not found\n");
  CHECK(h.Run({"get", "foo"}) == 1);
  CHECK(h.err.str() == "error: the server doesn't have a resource type \"foo\"\n");
  REQUIRE(h.Run({"get", "vds", "-n", "empty"}) == 0);
  CHECK(h.out.str().empty());
  CHECK(h.err.str() == "No resources found in empty namespace.\n");
  CHECK(h.Run({"get", "vd", "-o", "xml"}) == 1);
}

TEST_CASE("get -l filters on the server and the client", "[commands]") {
  Harness h;
  Json a = Disk("a");
  a["metadata"]["labels"] = {{"app", "web"}};
  h.fake.Put(a);
  h.fake.Put(Disk("b"));
  REQUIRE(h.Run({"get", "vd", "-l", "app=web", "-o", "name"}) == 0);
  CHECK(h.out.str() == "virtualdisk.virtualization.deckhouse.io/a\n");
  CHECK(h.fake.list_queries.back().label_selector == "app=web");
  REQUIRE(h.Run({"get", "vd", "-l", "!app", "--show-labels"}) == 0);
  CHECK(h.out.str() ==
        "NAME   PHASE   CAPACITY   AGE   LABELS\n"
        "b      Ready   10Gi       60s   <none>\n");
  CHECK(h.Run({"get", "vd", "-l", "a b"}) == 1);
}

TEST_CASE("get --watch prints the list, then changes", "[commands]") {
  Harness h;
  h.fake.Put(Disk("root"));
  Json changed = Disk("root");
  changed["status"]["phase"] = "Resizing";
  h.fake.watch_events = {{"MODIFIED", changed}, {"ADDED", Disk("elsewhere", "default")}};
  h.Run({"get", "vd", "-w"});
  CHECK(h.out.str() ==
        "NAME   PHASE   CAPACITY   AGE\n"
        "root   Ready   10Gi       60s\n"
        "root   Resizing   10Gi       60s\n"
        "elsewhere   Ready   10Gi       60s\n");
}

TEST_CASE("describe", "[commands]") {
  Harness h;
  h.fake.Put(Disk("root"));
  REQUIRE(h.Run({"describe", "vd", "root"}) == 0);
  CHECK(h.out.str().rfind("Name:         root\nNamespace:    default\n", 0) == 0);
  CHECK(h.out.str().find("Spec:\n  Persistent Volume Claim:\n    Size:  10Gi\n") !=
        std::string::npos);
  CHECK(h.Run({"describe", "vd", "nope"}) == 1);
}

TEST_CASE("delete waits for finalizers through the watch", "[commands]") {
  Harness h;
  Json d = Disk("root");
  d["metadata"]["finalizers"] = {"virtualization.deckhouse.io/cleanup"};
  h.fake.Put(d);
  h.fake.on_watch = [&] {
    h.fake.Remove("vd", "default", "root");
    h.fake.watch_events = {{"DELETED", Disk("root")}};
  };
  REQUIRE(h.Run({"delete", "vd", "root"}) == 0);
  CHECK(h.out.str() == "virtualdisk.virtualization.deckhouse.io \"root\" deleted\n");
  CHECK(h.fake.watch_calls == 1);
  CHECK(h.Run({"delete", "vd", "root"}) == 1);
  CHECK(h.err.str().rfind("Error from server (NotFound)", 0) == 0);
  CHECK(h.Run({"delete", "vd", "root", "--ignore-not-found"}) == 0);
  CHECK(h.err.str().empty());
  CHECK(h.Run({"delete", "vd"}) == 1);
}

TEST_CASE("delete times out when finalizers never finish", "[commands]") {
  Harness h;
  Json d = Disk("root");
  d["metadata"]["finalizers"] = {"x"};
  h.fake.Put(d);
  CHECK(h.Run({"delete", "vd/root", "--timeout=5s"}) == 1);
  CHECK(h.err.str() == "error: timed out waiting for the condition on virtualdisks/root\n");
  h.fake.Put(Disk("plain"));
  REQUIRE(h.Run({"delete", "vd", "plain", "--wait=false"}) == 0);
  CHECK_FALSE(h.fake.Has("vd", "default", "plain"));
}

TEST_CASE("delete -f and --all", "[commands]") {
  Harness h;
  h.fake.Put(Disk("a"));
  h.fake.Put(Disk("b"));
  REQUIRE(h.Run({"delete", "-f", "-"}, "kind: VirtualDisk\nmetadata:\n  name: a\n") == 0);
  CHECK_FALSE(h.fake.Has("vd", "default", "a"));
  REQUIRE(h.Run({"delete", "vd", "--all"}) == 0);
  CHECK_FALSE(h.fake.Has("vd", "default", "b"));
}

TEST_CASE("wait: watch satisfies a jsonpath condition", "[commands]") {
  Harness h;
  Json d = Disk("root");
  d["status"]["phase"] = "Pending";
  h.fake.Put(d);
  Json ready = Disk("root");
  h.fake.watch_events = {{"MODIFIED", d}, {"MODIFIED", ready}};
  h.fake.on_watch = [&] { h.fake.Put(ready); };
  REQUIRE(h.Run({"wait", "vd/root", "--for=jsonpath={.status.phase}=Ready"}) == 0);
  CHECK(h.out.str() == "virtualdisk.virtualization.deckhouse.io/root condition met\n");
  REQUIRE(h.Run({"wait", "vd", "root", "--for", "jsonpath={.status.phase}=Ready"}) == 0);
  CHECK(h.fake.watch_calls == 1);  // already Ready: no watch needed
}

TEST_CASE("wait: falls back to polling when Watch fails", "[commands]") {
  Harness h;
  Json d = Disk("root");
  d["status"] = {{"conditions", {{{"type", "Ready"}, {"status", "False"}}}}};
  h.fake.Put(d);
  h.fake.watch_fails = true;
  h.fake.on_get = [&](int calls) {
    if (calls == 5) {
      Json r = d;
      r["status"]["conditions"][0]["status"] = "True";
      h.fake.Put(r);
    }
  };
  absl::Time start = h.clock.Now();
  REQUIRE(h.Run({"wait", "vd/root", "--for=condition=Ready", "--timeout=60s"}) == 0);
  // Get, a failed Watch, then Gets 200 ms apart until the 5th sees Ready.
  CHECK(h.clock.Now() - start == absl::Milliseconds(600));
  CHECK(h.out.str() == "virtualdisk.virtualization.deckhouse.io/root condition met\n");
}

TEST_CASE("wait: timeout, missing object, --for=delete, --all", "[commands]") {
  Harness h;
  Json d = Disk("root");
  d["status"]["phase"] = "Pending";
  h.fake.Put(d);
  CHECK(h.Run({"wait", "vd/root", "--for=jsonpath={.status.phase}=Ready", "--timeout=2s"}) == 1);
  CHECK(h.err.str() == "error: timed out waiting for the condition on virtualdisks/root\n");
  CHECK(h.Run({"wait", "vd/nope", "--for=condition=Ready"}) == 1);
  CHECK(h.err.str().rfind("Error from server (NotFound)", 0) == 0);
  REQUIRE(h.Run({"wait", "vd/nope", "--for=delete"}) == 0);
  CHECK(h.out.str() == "virtualdisk.virtualization.deckhouse.io/nope condition met\n");
  h.fake.Put(Disk("second"));
  h.fake.watch_events = {{"MODIFIED", Disk("root")}};
  REQUIRE(h.Run({"wait", "vd", "--all", "--for=jsonpath={.status.phase}=Ready"}) == 0);
  CHECK(h.out.str() ==
        "virtualdisk.virtualization.deckhouse.io/root condition met\n"
        "virtualdisk.virtualization.deckhouse.io/second condition met\n");
  CHECK(h.Run({"wait", "vd/root", "--for=ready"}) == 1);
  CHECK(h.Run({"wait", "vd/root"}) == 1);
}

TEST_CASE("label and annotate", "[commands]") {
  Harness h;
  h.fake.Put(Disk("root"));
  REQUIRE(h.Run({"label", "vd", "root", "app=web", "tier=db"}) == 0);
  CHECK(h.out.str() == "virtualdisk.virtualization.deckhouse.io/root labeled\n");
  Json sent = h.fake.applied.back();
  CHECK(sent["metadata"]["labels"] == Json{{"app", "web"}, {"tier", "db"}});
  CHECK_FALSE(JsonString(sent, "/metadata/resourceVersion").empty());
  CHECK_FALSE(sent.contains("status"));
  CHECK(h.Run({"label", "vd/root", "app=api"}) == 1);
  CHECK(h.err.str() == "error: 'app' already has a value (web), and --overwrite is false\n");
  REQUIRE(h.Run({"label", "vd/root", "app=api", "tier-", "--overwrite"}) == 0);
  CHECK(h.fake.Get("vd", "default", "root")->at("metadata").at("labels") == Json{{"app", "api"}});
  REQUIRE(h.Run({"label", "vd", "root", "app=api"}) == 0);
  CHECK(h.out.str() == "virtualdisk.virtualization.deckhouse.io/root not labeled\n");
  REQUIRE(h.Run({"annotate", "vd", "root", "owner=team-a"}) == 0);
  CHECK(h.out.str() == "virtualdisk.virtualization.deckhouse.io/root annotated\n");
  CHECK(h.Run({"label", "vd", "root"}) == 1);
  CHECK(h.err.str() == "error: at least one label update is required\n");
}

TEST_CASE("label conflicts when the object changed since Get", "[commands]") {
  Harness h;
  h.fake.Put(Disk("root"));
  h.fake.before_apply = [&] {
    h.fake.before_apply = nullptr;
    h.fake.Put(Disk("root"));  // a concurrent writer bumps resourceVersion after our Get
  };
  CHECK(h.Run({"label", "vd", "root", "a=b"}) == 1);
  CHECK(h.err.str().rfind("Error from server (Conflict): ", 0) == 0);
  CHECK_FALSE(h.fake.Get("vd", "default", "root")->at("metadata").contains("labels"));
}

TEST_CASE("version, completion, help, server flag and bad usage", "[commands]") {
  Harness h;
  REQUIRE(h.Run({"version"}) == 0);
  CHECK(h.out.str() ==
        "Client Version: v" + std::string(kClientVersion) + "\nServer Version: v0.1.0\n");
  REQUIRE(h.Run({"--server", "10.0.0.1:9000", "version"}) == 0);
  CHECK(h.connected_to == "10.0.0.1:9000");
  REQUIRE(h.Run({"completion", "bash"}) == 0);
  CHECK(h.out.str().find("complete -F _berth berth") != std::string::npos);
  CHECK(h.out.str().find("vdsnapshot") != std::string::npos);
  CHECK(h.Run({"completion", "fish"}) == 1);
  for (const char* verb : {"apply", "get", "describe", "delete", "wait", "label", "annotate",
                           "version", "completion"}) {
    REQUIRE(h.Run({verb, "--help"}) == 0);
    CHECK(h.out.str().find("Examples:") != std::string::npos);
  }
  CHECK(h.Run({"bogus"}) == 1);
  CHECK(h.err.str() == "error: unknown command \"bogus\" for \"berth\"\n");
  CHECK(h.Run({"get", "vd", "--nope"}) == 1);
  CHECK(h.err.str().rfind("error: ", 0) == 0);
  CHECK(h.Run({"get"}) == 1);
  CHECK(h.err.str() == "error: you must specify the type of resource to get\n");
}

}  // namespace
}  // namespace berth::cli
