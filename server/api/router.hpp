// The API's routes in one table: path and verb to endpoint, who may call it, whether it needs
// the CSRF header. 404 versus 405 is decided here, in one place.
#pragma once

#include <string>
#include <string_view>

#include "server/auth/roles.hpp"
#include "server/http/types.hpp"

namespace keydesk::server {

enum class Endpoint {
    session_get, session_create, session_delete, lookups, reveals, healthz, readyz,
    audit_records, audit_record, audit_integrity, audit_verify, audit_export, audit_bundle,
    report_summary, report_unrotated,
};

enum class Access {
    anyone,     // no session needed
    signed_in,  // any signed-in member of staff
    helpdesk,   // helpdesk or admin: may look up and reveal recovery keys
    audit,      // auditor, security or admin: may read the audit log
    security,   // security or admin: may export the audit log and see reports
};

struct Route {
    http::verb verb;
    std::string_view path;
    Endpoint endpoint;
    Access access;
    bool needs_csrf;  // state-changing calls of a signed-in session
};

struct RouteMatch {
    enum class Kind { found, not_found, method_not_allowed };
    Kind kind = Kind::not_found;
    const Route* route = nullptr;
    std::string allow;  // for 405: the verbs the path takes
};

// `/api/v1/audit/records/{seq}` matches with its last segment as the parameter (checked by the
// handler).
RouteMatch match_route(http::verb verb, std::string_view path);

// Whether a session with `roles` may call a route with `access`.
bool permits(Access access, const RoleSet& roles);

}  // namespace keydesk::server
