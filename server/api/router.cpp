// The route table.
#include "server/api/router.hpp"

#include <array>

namespace keydesk::server {
namespace {

constexpr std::array routes{
    Route{http::verb::get, "/api/v1/session", Endpoint::session_get, Access::signed_in, false},
    Route{http::verb::post, "/api/v1/session", Endpoint::session_create, Access::anyone, false},
    Route{http::verb::delete_, "/api/v1/session", Endpoint::session_delete, Access::signed_in, true},
    Route{http::verb::post, "/api/v1/lookups", Endpoint::lookups, Access::helpdesk, true},
    Route{http::verb::post, "/api/v1/reveals", Endpoint::reveals, Access::helpdesk, true},
    Route{http::verb::get, "/healthz", Endpoint::healthz, Access::anyone, false},
    Route{http::verb::get, "/readyz", Endpoint::readyz, Access::anyone, false},
};

}  // namespace

RouteMatch match_route(http::verb verb, std::string_view path) {
    RouteMatch match;
    for (const auto& route : routes) {
        if (route.path != path) continue;
        if (route.verb == verb) {
            match.kind = RouteMatch::Kind::found;
            match.route = &route;
            return match;
        }
        match.kind = RouteMatch::Kind::method_not_allowed;
        if (!match.allow.empty()) match.allow += ", ";
        match.allow += std::string(http::to_string(route.verb));
    }
    return match;
}

bool permits(Access access, const RoleSet& roles) {
    switch (access) {
        case Access::anyone: return true;
        case Access::signed_in: return true;
        case Access::helpdesk: return roles.has(Role::helpdesk) || roles.has(Role::admin);
    }
    return false;
}

}  // namespace keydesk::server
