#include "store/etcd_client.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "berth/grpc_status.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace berth::controller::store {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("read ", path, ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(bool tls,
                                                                      const TlsFiles& files) {
  if (!tls) return grpc::InsecureChannelCredentials();
  if (!files.cert.empty() && !files.key.empty()) {
    if (absl::Status st = files.Check(); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat("etcd client TLS: ", st.message()));
    }
    return MutualTlsChannelCredentials(files);
  }
  grpc::SslCredentialsOptions ssl;
  if (!files.ca.empty()) {
    absl::StatusOr<std::string> ca = ReadFile(files.ca);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
  }
  return grpc::SslCredentials(ssl);
}

// The member cannot serve the call now: it is down, or it has no raft leader (lost quorum). A
// member without a leader answers a write it could not commit with gRPC UNKNOWN "context
// deadline exceeded" (etcd 3.4 passes its server-side context error through), which is no less
// "unavailable" than its usual "etcdserver: request timed out" (UNAVAILABLE).
bool MemberUnavailable(const grpc::Status& st) {
  switch (st.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return true;
    case grpc::StatusCode::UNKNOWN:
      return absl::StrContains(st.error_message(), "deadline exceeded") ||
             absl::StrContains(st.error_message(), "timed out") ||
             absl::StrContains(st.error_message(), "no leader") ||
             absl::StrContains(st.error_message(), "leader changed");
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Create(
    const std::vector<std::string>& endpoints, const TlsFiles& tls, absl::Duration call_timeout) {
  if (endpoints.empty()) return absl::InvalidArgumentError("etcd: no endpoint");
  const bool https = absl::StartsWith(endpoints[0], "https://");
  std::vector<Member> members;
  for (const std::string& endpoint : endpoints) {
    std::string scheme = https ? "https://" : "http://";
    if (!absl::StartsWith(endpoint, scheme) || endpoint.size() == scheme.size()) {
      return absl::InvalidArgumentError(absl::StrCat("etcd endpoint \"", endpoint, "\": want ",
                                                     scheme, "HOST:PORT (one scheme for all)"));
    }
    std::string target = endpoint.substr(scheme.size());
    if (absl::EndsWith(target, "/")) target.pop_back();
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = Credentials(https, tls);
    if (!creds.ok()) return creds.status();
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);  // a List page of big objects
    // A broken member is noticed within seconds, also on an idle watch stream.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    auto channel = grpc::CreateCustomChannel(target, *creds, args);
    members.push_back(Member{etcdserverpb::KV::NewStub(channel),
                             etcdserverpb::Watch::NewStub(channel),
                             etcdserverpb::Lease::NewStub(channel)});
  }
  return std::unique_ptr<EtcdClient>(new EtcdClient(endpoints, std::move(members), call_timeout));
}

template <typename Call>
absl::Status EtcdClient::Run(const char* what, bool retry, Call&& call) {
  absl::Status last;
  for (size_t attempt = 0; attempt < members_.size(); ++attempt) {
    size_t index = current_.load() % members_.size();
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    grpc::Status st = call(members_[index], &ctx);
    if (st.ok()) return absl::OkStatus();
    last = FromGrpcStatus(st);
    last = absl::Status(
        last.code(), absl::StrCat("etcd ", what, " at ", endpoints_[index], ": ", last.message()));
    if (!MemberUnavailable(st)) return last;
    size_t expected = index;
    current_.compare_exchange_strong(expected, index + 1);
    if (!retry) return absl::UnavailableError(last.message());
  }
  return absl::UnavailableError(last.message());
}

absl::StatusOr<etcdserverpb::RangeResponse> EtcdClient::Range(
    const etcdserverpb::RangeRequest& req) {
  etcdserverpb::RangeResponse resp;
  absl::Status st = Run("range", /*retry=*/true,
                        [&](Member& m, auto* ctx) { return m.kv->Range(ctx, req, &resp); });
  if (!st.ok()) return st;
  return resp;
}

absl::StatusOr<etcdserverpb::TxnResponse> EtcdClient::Txn(const etcdserverpb::TxnRequest& req) {
  etcdserverpb::TxnResponse resp;
  absl::Status st =
      Run("txn", /*retry=*/false, [&](Member& m, auto* ctx) { return m.kv->Txn(ctx, req, &resp); });
  if (!st.ok()) return st;
  return resp;
}

absl::Status EtcdClient::Compact(int64_t revision) {
  etcdserverpb::CompactionRequest req;
  req.set_revision(revision);
  req.set_physical(true);
  etcdserverpb::CompactionResponse resp;
  return Run("compact", /*retry=*/true,
             [&](Member& m, auto* ctx) { return m.kv->Compact(ctx, req, &resp); });
}

absl::StatusOr<etcdserverpb::LeaseGrantResponse> EtcdClient::LeaseGrant(int64_t ttl_seconds) {
  etcdserverpb::LeaseGrantRequest req;
  req.set_ttl(ttl_seconds);
  etcdserverpb::LeaseGrantResponse resp;
  absl::Status st = Run("lease grant", /*retry=*/true,
                        [&](Member& m, auto* ctx) { return m.lease->LeaseGrant(ctx, req, &resp); });
  if (!st.ok()) return st;
  if (!resp.error().empty()) return absl::UnavailableError("etcd lease grant: " + resp.error());
  return resp;
}

absl::Status EtcdClient::LeaseRevoke(int64_t id) {
  etcdserverpb::LeaseRevokeRequest req;
  req.set_id(id);
  etcdserverpb::LeaseRevokeResponse resp;
  return Run("lease revoke", /*retry=*/true,
             [&](Member& m, auto* ctx) { return m.lease->LeaseRevoke(ctx, req, &resp); });
}

absl::StatusOr<int64_t> EtcdClient::LeaseKeepAliveOnce(int64_t id) {
  etcdserverpb::LeaseKeepAliveResponse resp;
  absl::Status st = Run("lease keepalive", /*retry=*/true, [&](Member& m, auto* ctx) {
    auto stream = m.lease->LeaseKeepAlive(ctx);
    etcdserverpb::LeaseKeepAliveRequest req;
    req.set_id(id);
    if (!stream->Write(req) || !stream->Read(&resp)) {
      stream->WritesDone();
      grpc::Status finished = stream->Finish();
      return finished.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "keepalive stream ended")
                           : finished;
    }
    stream->WritesDone();
    return stream->Finish();
  });
  if (!st.ok()) return st;
  return resp.ttl();
}

std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
EtcdClient::OpenWatch(grpc::ClientContext* ctx) {
  return members_[current_.load() % members_.size()].watch->Watch(ctx);
}

}  // namespace berth::controller::store
