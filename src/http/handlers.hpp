// Handlers of the ordinary (non-streaming) routes.
#pragma once

#include "context/server_context.hpp"
#include "eventstreams/router.hpp"
#include "net/responses.hpp"

namespace eventstreams {

// The answer to a matched, allowed, non-stream route.
response handle_simple_route(const route_match& m, const request& req, const server_context& ctx);

// 404/405/400 for requests the router did not accept.
response handle_unrouted(const route_match& m, const request& req);

}  // namespace eventstreams
