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
    Route{http::verb::get, "/api/v1/audit/records", Endpoint::audit_records, Access::audit, false},
    Route{http::verb::get, "/api/v1/audit/records/*", Endpoint::audit_record, Access::audit, false},
    Route{http::verb::get, "/api/v1/audit/integrity", Endpoint::audit_integrity, Access::audit, false},
    Route{http::verb::post, "/api/v1/audit/verify", Endpoint::audit_verify, Access::audit, true},
    Route{http::verb::get, "/api/v1/audit/export", Endpoint::audit_export, Access::security, false},
    Route{http::verb::get, "/api/v1/audit/bundle", Endpoint::audit_bundle, Access::security, false},
    Route{http::verb::get, "/api/v1/reports/summary", Endpoint::report_summary, Access::security, false},
    Route{http::verb::get, "/api/v1/reports/unrotated", Endpoint::report_unrotated, Access::security, false},
    Route{http::verb::get, "/healthz", Endpoint::healthz, Access::anyone, false},
    Route{http::verb::get, "/readyz", Endpoint::readyz, Access::anyone, false},
};

}  // namespace

RouteMatch match_route(http::verb verb, std::string_view path) {
    RouteMatch match;
    for (const auto& route : routes) {
        const bool matches =
            route.path.ends_with("/*")
                ? path.size() > route.path.size() - 1 &&
                      path.starts_with(route.path.substr(0, route.path.size() - 1)) &&
                      path.find('/', route.path.size() - 1) == std::string_view::npos
                : route.path == path;
        if (!matches) continue;
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
        case Access::audit:
            return roles.has(Role::auditor) || roles.has(Role::security) || roles.has(Role::admin);
        case Access::security: return roles.has(Role::security) || roles.has(Role::admin);
    }
    return false;
}

}  // namespace keydesk::server
