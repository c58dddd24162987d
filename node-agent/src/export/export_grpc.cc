// berth.agent.v1.NodeExport: proto <-> ExportServer, nothing else.
#include "absl/strings/str_cat.h"
#include "agent.grpc.pb.h"
#include "berth/agent/export_server.h"
#include "berth/grpc_status.h"

namespace berth::agent {
namespace {

namespace pb = ::berth::agent::v1;

void ToProto(const ExportState& s, pb::ExportInfo* out) {
  out->set_id(s.id);
  out->set_url(s.url);
  out->set_public_url(s.public_url);
  out->set_token(s.token);
  out->set_ca_cert(s.ca_cert);
  out->set_size_bytes(s.size_bytes);
  out->set_expires_at_unix(absl::ToUnixSeconds(s.expires_at));
  out->set_state(s.state);
  out->set_bytes_served(s.bytes_served);
  out->set_bytes_received(s.bytes_received);
  out->set_message(s.message);
}

class NodeExportService : public pb::NodeExport::Service {
 public:
  explicit NodeExportService(ExportServer& server) : server_(server) {}

  grpc::Status StartExport(grpc::ServerContext*, const pb::StartExportRequest* req,
                           pb::ExportInfo* resp) override {
    if (req->volume_id().empty() == req->snapshot_id().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "set exactly one of volume_id and snapshot_id");
    }
    ExportSource src;
    src.pool = req->pool();
    src.volume_id = req->volume_id();
    src.snapshot_id = req->snapshot_id();
    src.upload = req->upload();
    src.resizable = req->resizable();
    src.since_snapshot_id = req->since_snapshot_id();
    src.ttl = absl::Seconds(req->ttl_seconds() > 0 ? req->ttl_seconds() : 120);
    auto state = server_.StartExport(req->id(), src);
    if (!state.ok()) return ToGrpcStatus(state.status());
    ToProto(*state, resp);
    return grpc::Status::OK;
  }

  grpc::Status GetExport(grpc::ServerContext*, const pb::GetExportRequest* req,
                         pb::ExportInfo* resp) override {
    auto state = server_.GetExport(req->id());
    if (!state.ok()) return ToGrpcStatus(state.status());
    ToProto(*state, resp);
    return grpc::Status::OK;
  }

  grpc::Status StopExport(grpc::ServerContext*, const pb::StopExportRequest* req,
                          pb::DeleteResponse* resp) override {
    resp->set_existed(server_.StopExport(req->id()));
    return grpc::Status::OK;
  }

 private:
  ExportServer& server_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewNodeExportService(ExportServer& server) {
  return std::make_unique<NodeExportService>(server);
}

}  // namespace berth::agent
