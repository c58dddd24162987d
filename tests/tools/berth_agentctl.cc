// berth-agentctl: calls one berth.agent.v1.NodeAgent RPC and prints the reply as JSON.
// A test tool (tests/integration/guest_freeze_test.sh), not a user command.
//
//   berth-agentctl ADDR info
//   berth-agentctl ADDR create-volume POOL ID SIZE_BYTES
//   berth-agentctl ADDR define NAME KEY=VALUE...   (uuid= vcpus= memory_mib= kernel= initrd=
//                                                   cmdline= disk=PATH:TARGET user_data_file=
//                                                   mac=)
//   berth-agentctl ADDR start|get|delete NAME
//   berth-agentctl ADDR stop NAME [force]
//   berth-agentctl ADDR snapshot DOMAIN freeze|nofreeze POOL:VOLUME:SNAPSHOT...
//   berth-agentctl ADDR delete-snapshot POOL ID
// Exit status: 0 ok, 1 RPC error (printed as "error: CODE: message"), 2 usage.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "agent.grpc.pb.h"
#include "berth/tls.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"

namespace pb = ::berth::agent::v1;

namespace {

int Usage() {
  std::cerr << "usage: berth-agentctl ADDR COMMAND ARGS... (see the source)\n";
  return 2;
}

int Print(const grpc::Status& s, const google::protobuf::Message& m) {
  if (!s.ok()) {
    std::cerr << "error: " << s.error_code() << ": " << s.error_message() << "\n";
    return 1;
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  google::protobuf::util::MessageToJsonString(m, &json, options);
  std::cout << json << "\n";
  return 0;
}

bool FillDefine(const std::vector<std::string>& args, pb::DefineDomainRequest& r) {
  for (size_t i = 2; i < args.size(); ++i) {  // after "define NAME"
    std::vector<std::string> kv = absl::StrSplit(args[i], absl::MaxSplits('=', 1));
    if (kv.size() != 2) return false;
    const std::string& k = kv[0];
    const std::string& v = kv[1];
    uint64_t n = 0;
    if (k == "uuid")
      r.set_uuid(v);
    else if (k == "vcpus" && absl::SimpleAtoi(v, &n))
      r.set_vcpus(static_cast<int>(n));
    else if (k == "memory_mib" && absl::SimpleAtoi(v, &n))
      r.set_memory_bytes(n << 20);
    else if (k == "kernel")
      r.set_kernel(v);
    else if (k == "initrd")
      r.set_initrd(v);
    else if (k == "cmdline")
      r.set_cmdline(v);
    else if (k == "mac")
      r.set_mac_address(v);
    else if (k == "user_data_file") {
      std::ifstream in(v);
      std::stringstream ss;
      ss << in.rdbuf();
      r.set_cloud_init_user_data(ss.str());
    } else if (k == "disk") {
      std::vector<std::string> pt = absl::StrSplit(v, ':');
      if (pt.size() != 2) return false;
      pb::DomainDisk* d = r.add_disks();
      d->set_path(pt[0]);
      d->set_target(pt[1]);
    } else {
      return false;
    }
  }
  return true;
}

int Snapshot(pb::NodeAgent::Stub& stub, const std::vector<std::string>& a) {
  if (a.size() < 4) return Usage();
  pb::SnapshotVolumesRequest r;
  r.set_domain(a[1]);
  r.set_freeze(a[2] == "freeze");
  for (size_t i = 3; i < a.size(); ++i) {
    std::vector<std::string> p = absl::StrSplit(a[i], ':');
    if (p.size() != 3) return Usage();
    pb::VolumeRef* v = r.add_volumes();
    v->set_pool(p[0]);
    v->set_volume_id(p[1]);
    v->set_snapshot_id(p[2]);
  }
  grpc::ClientContext ctx;
  pb::SnapshotVolumesResponse resp;
  return Print(stub.SnapshotVolumes(&ctx, r, &resp), resp);
}

int Run(pb::NodeAgent::Stub& stub, const std::vector<std::string>& a) {
  const std::string& cmd = a[0];
  grpc::ClientContext ctx;
  if (cmd == "info") {
    pb::NodeInfo resp;
    return Print(stub.GetInfo(&ctx, pb::GetInfoRequest(), &resp), resp);
  }
  if (cmd == "snapshot") return Snapshot(stub, a);
  if (a.size() < 2) return Usage();
  pb::DomainRequest dr;
  dr.set_name(a[1]);
  pb::DomainStatus status;
  if (cmd == "create-volume" && a.size() == 4) {
    pb::CreateVolumeRequest r;
    r.set_pool(a[1]);
    r.set_id(a[2]);
    uint64_t size = 0;
    if (!absl::SimpleAtoi(a[3], &size)) return Usage();
    r.set_size_bytes(size);
    pb::Volume resp;
    return Print(stub.CreateVolume(&ctx, r, &resp), resp);
  }
  if (cmd == "delete-snapshot" && a.size() == 3) {
    pb::DeleteSnapshotRequest r;
    r.set_pool(a[1]);
    r.set_id(a[2]);
    pb::DeleteResponse resp;
    return Print(stub.DeleteSnapshot(&ctx, r, &resp), resp);
  }
  if (cmd == "define") {
    pb::DefineDomainRequest r;
    r.set_name(a[1]);
    if (!FillDefine(a, r)) return Usage();
    return Print(stub.DefineDomain(&ctx, r, &status), status);
  }
  if (cmd == "start") return Print(stub.StartDomain(&ctx, dr, &status), status);
  if (cmd == "get") return Print(stub.GetDomain(&ctx, dr, &status), status);
  if (cmd == "stop") {
    pb::StopDomainRequest r;
    r.set_name(a[1]);
    r.set_force(a.size() > 2 && a[2] == "force");
    return Print(stub.StopDomain(&ctx, r, &status), status);
  }
  if (cmd == "delete") {
    pb::DeleteResponse resp;
    return Print(stub.DeleteDomain(&ctx, dr, &resp), resp);
  }
  return Usage();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return Usage();
  // BERTH_TLS_DIR: mutual TLS with that certificate bundle (the agent accepts controller and
  // cluster admin certificates only); unset: plaintext, for agents run with --insecure.
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (const char* dir = std::getenv("BERTH_TLS_DIR"); dir != nullptr && *dir != '\0') {
    creds = berth::MutualTlsChannelCredentials(berth::TlsFiles::FromDir(dir));
  }
  auto channel = grpc::CreateChannel(argv[1], creds);
  auto stub = pb::NodeAgent::NewStub(channel);
  return Run(*stub, std::vector<std::string>(argv + 2, argv + argc));
}
