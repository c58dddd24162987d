// Checks the gRPC adapter's request/response mapping against an in-process service.
#include <catch2/catch.hpp>
#include <memory>

#include "api.grpc.pb.h"
#include "grpc_resource_client.h"
#include "grpcpp/grpcpp.h"

namespace berth::cli {
namespace {

namespace v1 = ::berth::api::v1;

class RecordingResources : public v1::Resources::Service {
 public:
  grpc::Status Apply(grpc::ServerContext*, const v1::ApplyRequest* req,
                     v1::ObjectResponse* resp) override {
    last_apply = *req;
    resp->set_object_json(req->object_json());
    resp->set_action("created");
    return grpc::Status::OK;
  }
  grpc::Status Get(grpc::ServerContext*, const v1::GetRequest* req,
                   v1::ObjectResponse* resp) override {
    if (req->name() == "missing") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "virtualdisks \"missing\" not found");
    }
    resp->set_object_json(R"({"kind":"VirtualDisk","metadata":{"name":")" + req->name() +
                          R"(","namespace":")" + req->namespace_() + R"("}})");
    return grpc::Status::OK;
  }
  grpc::Status List(grpc::ServerContext*, const v1::ListRequest* req,
                    v1::ListResponse* resp) override {
    last_list = *req;
    resp->add_items_json(R"({"metadata":{"name":"a"}})");
    resp->set_resource_version("42");
    return grpc::Status::OK;
  }
  grpc::Status Watch(grpc::ServerContext*, const v1::WatchRequest* req,
                     grpc::ServerWriter<v1::WatchEvent>* writer) override {
    last_watch = *req;
    v1::WatchEvent ev;
    ev.set_type("ADDED");
    ev.set_object_json(R"({"metadata":{"name":"a"}})");
    writer->Write(ev);
    ev.set_type("DELETED");
    writer->Write(ev);
    return grpc::Status::OK;
  }
  v1::ApplyRequest last_apply;
  v1::ListRequest last_list;
  v1::WatchRequest last_watch;
};

class FixedAdmin : public v1::Admin::Service {
  grpc::Status Health(grpc::ServerContext*, const v1::HealthRequest*,
                      v1::HealthResponse* resp) override {
    resp->set_status("ok");
    resp->set_version("1.2.3");
    return grpc::Status::OK;
  }
};

TEST_CASE("GrpcResourceClient maps calls to the API", "[grpc]") {
  RecordingResources resources;
  FixedAdmin admin;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&resources);
  builder.RegisterService(&admin);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  REQUIRE(server != nullptr);
  auto client = CreateGrpcResourceClient(Connection{"127.0.0.1:" + std::to_string(port), "", ""});
  REQUIRE(client.ok());

  auto applied = (*client)->Apply(Json{{"kind", "VirtualDisk"}}, true);
  REQUIRE(applied.ok());
  CHECK(applied->action == "created");
  CHECK(resources.last_apply.dry_run());
  CHECK(Json::parse(resources.last_apply.object_json())["kind"] == "VirtualDisk");

  auto got = (*client)->Get("vd", "ns1", "root");
  REQUIRE(got.ok());
  CHECK((*got)["metadata"]["namespace"] == "ns1");
  auto missing = (*client)->Get("vd", "ns1", "missing");
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  CHECK(IsFromServer(missing.status()));

  auto list = (*client)->List({"vds", "", true, "app=web"});
  REQUIRE(list.ok());
  CHECK(list->resource_version == "42");
  CHECK(list->items.size() == 1);
  CHECK(resources.last_list.all_namespaces());
  CHECK(resources.last_list.label_selector() == "app=web");

  std::vector<std::string> types;
  absl::Status st = (*client)->Watch({"vd", "ns", false, "a", "7"}, absl::Now() + absl::Seconds(5),
                                     [&](const WatchEvent& ev) {
                                       types.push_back(ev.type);
                                       return ev.type != "DELETED";
                                     });
  CHECK(st.ok());
  CHECK(types == std::vector<std::string>{"ADDED", "DELETED"});
  CHECK(resources.last_watch.name() == "a");
  CHECK(resources.last_watch.resource_version() == "7");

  auto version = (*client)->ServerVersion();
  REQUIRE(version.ok());
  CHECK(*version == "1.2.3");
  server->Shutdown();
}

}  // namespace
}  // namespace berth::cli
