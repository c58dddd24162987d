// The controller's agent channels against a real in-process gRPC server.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent.grpc.pb.h"
#include "berth/controller/agent_client.h"
#include "berth/controller/object_store.h"
#include "berth/kinds.h"
#include "grpcpp/grpcpp.h"

namespace berth::controller {
namespace {

namespace agentpb = ::berth::agent::v1;

// Answers ListSnapshots with `count` snapshots; everything else is unimplemented.
class ListingAgent : public agentpb::NodeAgent::Service {
 public:
  explicit ListingAgent(int count) : count_(count) {}
  grpc::Status ListSnapshots(grpc::ServerContext*, const agentpb::ListSnapshotsRequest* req,
                             agentpb::ListSnapshotsResponse* resp) override {
    for (int i = 0; i < count_; ++i) {
      agentpb::Snapshot* s = resp->add_snapshots();
      s->set_id(absl::StrCat("0b9c6a52-5d7e-4c1f-9a57-", 100000000000 + i));
      s->set_volume_id("7f1d2c3b-0a4e-4b5c-8d6e-1f2a3b4c5d6e");
      s->set_path(absl::StrCat("/var/lib/berth/pools/", req->pool(), "/snapshots/", s->id(),
                               "/data/disk.img"));
      s->set_size_bytes(int64_t{10} << 30);
    }
    return grpc::Status::OK;
  }

 private:
  int count_;
};

TEST_CASE("a pool of 40,000 snapshots (over gRPC's default 4 MB answer) can be listed") {
  ListingAgent agent(40000);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&agent);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  REQUIRE(server);
  REQUIRE(port > 0);

  std::string dir =
      (std::filesystem::temp_directory_path() / absl::StrCat("berth-agent-channels-", ::getpid()))
          .string();
  std::filesystem::create_directories(dir);
  RealClock clock;
  auto store = OpenSqliteStore(dir, clock);
  REQUIRE(store.ok());
  Json node = {{"apiVersion", kApiVersion}, {"kind", "Node"}, {"metadata", {{"name", "n1"}}}};
  node["status"] = {{"address", absl::StrCat("127.0.0.1:", port)}};
  REQUIRE((*store)->Create(node).ok());

  AgentChannels channels(**store, grpc::InsecureChannelCredentials());
  GrpcAgentDirectory agents(channels);
  auto client = agents.ForNode("n1");
  REQUIRE(client.ok());
  auto listed = (*client)->ListSnapshots("btrfs");
  REQUIRE(listed.ok());
  CHECK(listed->ByteSizeLong() > (size_t{4} << 20));
  CHECK(listed->snapshots_size() == 40000);
  CHECK(listed->snapshots(39999).id() == "0b9c6a52-5d7e-4c1f-9a57-100000039999");

  server->Shutdown();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace berth::controller
