// Watches through the Kubernetes API: what a watch resumed from a resourceVersion reports.
#include <catch2/catch.hpp>

#include "absl/synchronization/mutex.h"
#include "api_fixture.h"
#include "berth/json.h"

namespace berth::kubeapi::testing {
namespace {

constexpr char kVds[] =
    "/apis/virtualization.deckhouse.io/v1alpha2/namespaces/p/virtualdisksnapshots";

// The lines a watch stream emits, collected as they come.
struct Lines {
  absl::Mutex mu;
  std::vector<std::string> got;
  bool Wait(const std::string& needle) {
    absl::MutexLock l(&mu);
    auto has = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      for (const auto& s : got) {
        if (s.find(needle) != std::string::npos) return true;
      }
      return false;
    };
    return mu.AwaitWithTimeout(absl::Condition(&has), absl::Seconds(5));
  }
};

std::string CreateSnapshot(ApiFixture& f, const std::string& name) {
  Json vds = {{"apiVersion", "virtualization.deckhouse.io/v1alpha2"},
              {"kind", "VirtualDiskSnapshot"},
              {"metadata", {{"name", name}, {"namespace", "p"}, {"labels", {{"team", "a"}}}}},
              {"spec", {{"virtualDiskName", "d"}}}};
  HttpRequest r = AsAdmin("POST", kVds);
  r.headers.emplace("content-type", "application/json");
  r.body = vds.dump();
  HttpResponse created = f.Send(r);
  REQUIRE(created.code == 201);
  return Json::parse(created.body)["metadata"]["resourceVersion"].get<std::string>();
}

TEST_CASE("a selective watch resumed before a deletion reports the DELETED") {
  // kubectl delete --wait lists, then watches from the list's resourceVersion with
  // fieldSelector=metadata.name=NAME; an object deleted in between must still be reported.
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"fieldSelector", "metadata.name=gone"}, {"labelSelector", "team=a"}}) {
    ApiFixture f;
    std::string rv = CreateSnapshot(f, "gone");
    CreateSnapshot(f, "stays");
    REQUIRE(f.Send(AsAdmin("DELETE", std::string(kVds) + "/gone")).code == 200);

    HttpRequest w = AsAdmin("GET", kVds);
    w.query = {{"watch", "1"}, {"resourceVersion", rv}, {key, value}};
    HttpReply reply = f.api().Handle(w);
    REQUIRE(std::holds_alternative<std::unique_ptr<Stream>>(reply));
    auto& stream = std::get<std::unique_ptr<Stream>>(reply);
    Lines lines;
    stream->Start(
        [&](std::string line) {
          absl::MutexLock l(&lines.mu);
          lines.got.push_back(std::move(line));
        },
        [] {});
    INFO(key << "=" << value);
    CHECK(lines.Wait("\"type\":\"DELETED\""));
    stream.reset();  // unsubscribed: no more lines
    absl::MutexLock l(&lines.mu);
    for (const auto& s : lines.got) {
      if (s.find("DELETED") != std::string::npos) CHECK(s.find("\"gone\"") != std::string::npos);
    }
  }
}

}  // namespace
}  // namespace berth::kubeapi::testing
