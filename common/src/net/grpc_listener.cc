#include "berth/net/grpc_listener.h"

#include <grpc/grpc.h>

#include "absl/strings/str_cat.h"

namespace berth::net {

ListenerLimits GrpcListener::DefaultLimits() {
  ListenerLimits l;
  l.max_connections = 1024;
  l.max_served_per_peer = 256;
  l.max_unserved = 128;
  l.max_unserved_per_peer = 64;
  l.first_byte_timeout = absl::Seconds(5);
  l.handshake_timeout = absl::Seconds(5);
  l.idle_timeout = absl::Minutes(10);
  return l;
}

std::unique_ptr<GrpcListener> GrpcListener::Add(grpc::ServerBuilder& builder,
                                                std::shared_ptr<grpc::ServerCredentials> creds,
                                                ListenerConfig config) {
  config.wait_client_hello = true;
  const ListenerLimits& l = config.limits;
  auto ms = [](absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); };
  if (l.handshake_timeout > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, ms(l.handshake_timeout));
  }
  if (l.idle_timeout > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, ms(l.idle_timeout));
  }
  // A peer that vanished without a FIN is found within about 80 s instead of hours.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  auto acceptor = builder.experimental().AddExternalConnectionAcceptor(
      grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, std::move(creds));
  return std::unique_ptr<GrpcListener>(new GrpcListener(std::move(acceptor), std::move(config)));
}

absl::Status GrpcListener::Start() {
  auto* acceptor = acceptor_.get();
  auto listener = Listener::HandOffTo(config_, [acceptor](int fd) {
    grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters p;
    p.listener_fd = -1;
    p.fd = fd;  // gRPC owns it from here
    acceptor->HandleNewConnection(&p);
  });
  if (!listener.ok()) return listener.status();
  listener_ = *std::move(listener);
  return absl::OkStatus();
}

}  // namespace berth::net
