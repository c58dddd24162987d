// ExportAgents over gRPC: one NodeExport stub per node, replaced when the address changes.
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent.grpc.pb.h"
#include "berth/controller/data_export.h"
#include "berth/grpc_status.h"
#include "grpcpp/grpcpp.h"

namespace berth::controller {
namespace {

constexpr absl::Duration kDeadline = absl::Seconds(15);

class GrpcExportAgents : public ExportAgents {
 public:
  explicit GrpcExportAgents(AgentChannels& channels) : channels_(channels) {}

  absl::StatusOr<agentpb::ExportInfo> StartExport(const std::string& node,
                                                  const agentpb::StartExportRequest& r) override {
    return Call<agentpb::ExportInfo>(node, &agentpb::NodeExport::Stub::StartExport, r);
  }
  absl::StatusOr<agentpb::ExportInfo> GetExport(const std::string& node,
                                                const std::string& id) override {
    agentpb::GetExportRequest r;
    r.set_id(id);
    return Call<agentpb::ExportInfo>(node, &agentpb::NodeExport::Stub::GetExport, r);
  }
  absl::StatusOr<bool> StopExport(const std::string& node, const std::string& id) override {
    agentpb::StopExportRequest r;
    r.set_id(id);
    auto resp = Call<agentpb::DeleteResponse>(node, &agentpb::NodeExport::Stub::StopExport, r);
    if (!resp.ok()) return resp.status();
    return resp->existed();
  }

 private:
  absl::StatusOr<std::shared_ptr<agentpb::NodeExport::Stub>> StubFor(const std::string& node) {
    auto channel = channels_.ForNode(node);
    if (!channel.ok()) return channel.status();
    absl::MutexLock l(&mu_);
    auto& entry = stubs_[node];
    if (entry.first != *channel || !entry.second) {
      entry = {*channel,
               std::shared_ptr<agentpb::NodeExport::Stub>(agentpb::NodeExport::NewStub(*channel))};
    }
    return entry.second;
  }

  template <typename Resp, typename Req, typename Method>
  absl::StatusOr<Resp> Call(const std::string& node, Method method, const Req& req) {
    auto stub = StubFor(node);
    if (!stub.ok()) return stub.status();
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + kDeadline));
    Resp resp;
    grpc::Status s = ((*stub).get()->*method)(&ctx, req, &resp);
    if (!s.ok()) {
      absl::Status st = FromGrpcStatus(s);
      return absl::Status(st.code(), absl::StrCat("node ", node, ": ", st.message()));
    }
    return resp;
  }

  AgentChannels& channels_;
  absl::Mutex mu_;
  std::map<std::string,
           std::pair<std::shared_ptr<grpc::Channel>, std::shared_ptr<agentpb::NodeExport::Stub>>>
      stubs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<ExportAgents> NewGrpcExportAgents(AgentChannels& channels) {
  return std::make_unique<GrpcExportAgents>(channels);
}

bool DiskHasActiveExport(const std::vector<Json>& exports, const std::string& disk) {
  for (const Json& e : exports) {
    if (JsonString(e, "/spec/targetRef/kind") != "VirtualDisk" ||
        JsonString(e, "/spec/targetRef/name") != disk) {
      continue;
    }
    std::string phase = JsonString(e, "/status/phase");
    if (phase != "Expired" && phase != "Failed") return true;
  }
  return false;
}

}  // namespace berth::controller
