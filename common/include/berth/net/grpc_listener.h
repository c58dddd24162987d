// gRPC servers accept through net::Listener: the listener owns the port (caps, per-peer limits,
// first-byte and ClientHello deadlines, counters) and hands each connection that passed to
// gRPC's external connection acceptor; gRPC runs the TLS handshake (within the same handshake
// timeout, as a channel argument) and the HTTP/2 connection on its own event loop, no thread
// per connection.
#ifndef BERTH_NET_GRPC_LISTENER_H_
#define BERTH_NET_GRPC_LISTENER_H_

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <memory>

#include "absl/status/statusor.h"
#include "berth/net/listener.h"

namespace berth::net {

class GrpcListener {
 public:
  // Registers the acceptor and the connection arguments (handshake timeout, idle timeout,
  // keepalive) with `builder`. Call before BuildAndStart. Nothing is bound yet.
  static std::unique_ptr<GrpcListener> Add(grpc::ServerBuilder& builder,
                                           std::shared_ptr<grpc::ServerCredentials> creds,
                                           ListenerConfig config);
  // Binds and starts accepting. Call after BuildAndStart (gRPC drops connections handed to
  // it before it started).
  absl::Status Start();

  // 1,024 connections, 256 per peer IP, 128 unserved (64 per peer), 5 s to the first byte and
  // to the whole ClientHello, 5 s for gRPC's TLS handshake, 10 min without an RPC closes a
  // connection.
  static ListenerLimits DefaultLimits();

  int port() const { return listener_ ? listener_->port() : 0; }
  std::string address() const { return listener_ ? listener_->address() : ""; }
  ListenerCounts Counts() const { return listener_ ? listener_->Counts() : ListenerCounts{}; }

 private:
  GrpcListener(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor,
               ListenerConfig config)
      : acceptor_(std::move(acceptor)), config_(std::move(config)) {}

  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  ListenerConfig config_;
  std::unique_ptr<Listener> listener_;
};

}  // namespace berth::net

#endif  // BERTH_NET_GRPC_LISTENER_H_
