#ifndef BERTH_CONTROLLER_STORE_ETCD_CLIENT_H_
#define BERTH_CONTROLLER_STORE_ETCD_CLIENT_H_

// The few etcd v3 calls the etcd store makes (KV Range, Txn, Compact; Watch streams; leases
// for the leader election), over one
// gRPC channel per endpoint. Calls go to the current endpoint; one that answers UNAVAILABLE
// makes the next endpoint current. Reads are retried on the next endpoint; writes are not (a
// write may have committed before the connection broke), they return Unavailable.
// Thread-safe.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/tls.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace berth::controller::store {

class EtcdClient {
 public:
  // Validates the endpoints ("http://host:port" or "https://host:port", all one scheme) and
  // builds their channels; connects lazily.
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Create(
      const std::vector<std::string>& endpoints, const TlsFiles& tls, absl::Duration call_timeout);

  absl::StatusOr<etcdserverpb::RangeResponse> Range(const etcdserverpb::RangeRequest& req);
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(const etcdserverpb::TxnRequest& req);
  absl::Status Compact(int64_t revision);

  // Leases (leader election). LeaseKeepAliveOnce renews once and returns the TTL left
  // (0 or less: the lease has expired).
  absl::StatusOr<etcdserverpb::LeaseGrantResponse> LeaseGrant(int64_t ttl_seconds);
  absl::Status LeaseRevoke(int64_t id);
  absl::StatusOr<int64_t> LeaseKeepAliveOnce(int64_t id);

  // Opens a Watch stream on the current endpoint; `ctx` must outlive it (cancel it to end the
  // stream).
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
  OpenWatch(grpc::ClientContext* ctx);

  // Moves calls (and new watch streams) to the next endpoint, after one failed.
  void Failed() { ++current_; }

  // The endpoint calls go to now, for messages.
  const std::string& endpoint() const { return endpoints_[current_.load() % endpoints_.size()]; }

 private:
  struct Member {
    std::unique_ptr<etcdserverpb::KV::Stub> kv;
    std::unique_ptr<etcdserverpb::Watch::Stub> watch;
    std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  };
  EtcdClient(std::vector<std::string> endpoints, std::vector<Member> members,
             absl::Duration call_timeout)
      : endpoints_(std::move(endpoints)), members_(std::move(members)), timeout_(call_timeout) {}

  // Runs `call` on the current member; on UNAVAILABLE moves to the next one and, when
  // `retry`, tries again there (each member once).
  template <typename Call>
  absl::Status Run(const char* what, bool retry, Call&& call);

  const std::vector<std::string> endpoints_;
  std::vector<Member> members_;
  const absl::Duration timeout_;
  std::atomic<size_t> current_{0};
};

}  // namespace berth::controller::store

#endif  // BERTH_CONTROLLER_STORE_ETCD_CLIENT_H_
