// UsbAgents over gRPC: one NodeUSB stub per node, replaced when the node's address changes.
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent.grpc.pb.h"
#include "berth/controller/usb.h"
#include "berth/grpc_status.h"
#include "grpcpp/grpcpp.h"

namespace berth::controller {
namespace {

// Attaching may wait for the kernel to enumerate the imported device (up to 10 s on the agent).
constexpr absl::Duration kDeadline = absl::Seconds(30);
using Stub = agentpb::NodeUSB::Stub;

class GrpcUsbAgents : public UsbAgents {
 public:
  explicit GrpcUsbAgents(AgentChannels& channels) : channels_(channels) {}

  absl::StatusOr<agentpb::ListUsbDevicesResponse> ListDevices(const std::string& node) override {
    return Call<agentpb::ListUsbDevicesResponse>(node, &Stub::ListUsbDevices,
                                                 agentpb::ListUsbDevicesRequest());
  }
  absl::StatusOr<std::vector<std::string>> SetExports(
      const std::string& node, const std::vector<std::string>& busids) override {
    agentpb::SetUsbExportsRequest r;
    for (const std::string& b : busids) r.add_busids(b);
    auto resp = Call<agentpb::SetUsbExportsResponse>(node, &Stub::SetUsbExports, r);
    if (!resp.ok()) return resp.status();
    return std::vector<std::string>(resp->exported().begin(), resp->exported().end());
  }
  absl::StatusOr<agentpb::UsbAttachment> Attach(const std::string& node,
                                                const agentpb::AttachUsbRequest& r) override {
    return Call<agentpb::UsbAttachment>(node, &Stub::AttachUsb, r);
  }
  absl::StatusOr<bool> Detach(const std::string& node, const std::string& id) override {
    agentpb::DetachUsbRequest r;
    r.set_id(id);
    auto resp = Call<agentpb::DeleteResponse>(node, &Stub::DetachUsb, r);
    if (!resp.ok()) return resp.status();
    return resp->existed();
  }

 private:
  absl::StatusOr<std::shared_ptr<Stub>> StubFor(const std::string& node) {
    auto channel = channels_.ForNode(node);
    if (!channel.ok()) return channel.status();
    absl::MutexLock l(&mu_);
    auto& entry = stubs_[node];
    if (entry.first != *channel || !entry.second) {
      entry = {*channel, std::shared_ptr<Stub>(agentpb::NodeUSB::NewStub(*channel))};
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
  std::map<std::string, std::pair<std::shared_ptr<grpc::Channel>, std::shared_ptr<Stub>>> stubs_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<UsbAgents> NewGrpcUsbAgents(AgentChannels& channels) {
  return std::make_unique<GrpcUsbAgents>(channels);
}

}  // namespace berth::controller
