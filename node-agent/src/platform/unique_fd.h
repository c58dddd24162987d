#ifndef BERTH_AGENT_PLATFORM_UNIQUE_FD_H_
#define BERTH_AGENT_PLATFORM_UNIQUE_FD_H_

#include "berth/net/socket.h"

namespace berth::agent::platform {

// One fd owner for the whole agent: the network layer's (move-only; get, valid, release, reset).
using UniqueFd = net::UniqueFd;

}  // namespace berth::agent::platform

#endif  // BERTH_AGENT_PLATFORM_UNIQUE_FD_H_
