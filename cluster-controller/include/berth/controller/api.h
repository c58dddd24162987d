#ifndef BERTH_CONTROLLER_API_H_
#define BERTH_CONTROLLER_API_H_

#include <memory>

#include "api.grpc.pb.h"
#include "berth/controller/access.h"
#include "berth/controller/controllers.h"
#include "berth/controller/object_store.h"
#include "berth/controller/reconciler.h"

namespace berth::controller {

// Serves berth.api.v1.Resources: admission, then the store. Thread-safe.
// Every call is authenticated and authorized by `access`.
std::unique_ptr<::berth::api::v1::Resources::Service> NewResourcesService(
    ObjectStore& store, const AccessControl& access);

// Serves berth.api.v1.Admin: agent registration and heartbeats, nodes, health.
std::unique_ptr<::berth::api::v1::Admin::Service> NewAdminService(ObjectStore& store,
                                                                  NodeTracker& tracker,
                                                                  Manager& manager,
                                                                  const ControllerConfig& config,
                                                                  AccessControl& access);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_API_H_
