// Request handling: a function of (request, services) -> response, with no sockets in sight.
#pragma once

#include <optional>
#include <regex>
#include <string>

#include <boost/json/object.hpp>

#include "audit/audit_index.hpp"
#include "audit/integrity.hpp"
#include "audit/recovering_log.hpp"
#include "audit/reports.hpp"
#include "config/config.hpp"
#include "ldap/directory.hpp"
#include "server/api/router.hpp"
#include "server/auth/audit_budget.hpp"
#include "server/auth/login_throttle.hpp"
#include "server/auth/rate_limiter.hpp"
#include "server/auth/roles.hpp"
#include "server/auth/session_store.hpp"
#include "server/http/types.hpp"

namespace keydesk::server {

// What the Audit and Reports pages read: the log's derived index and its integrity checks.
struct AuditReview {
    audit::AuditIndex& index;
    audit::IntegrityMonitor& integrity;
    audit::ReportSettings reports;
    std::filesystem::path log_directory;
};

struct ApiServices {
    ldap::Directory& directory;
    audit::RecoveringAuditLog& audit;
    SessionStore& sessions;
    LoginThrottle& throttle;
    const RoleMap& roles;
    const config::LookupConfig& lookup;
    std::chrono::seconds session_idle_timeout;
    RateLimiter& lookup_limits;  // per staff member
    RateLimiter& reveal_limits;
    // How stale a session's view of the account may get before a directory call re-checks it
    // (disabled account, group removed). Zero: every lookup and reveal re-checks.
    std::chrono::seconds session_recheck{60};
    AuditReview* review = nullptr;  // null: the audit and report calls answer 503
    unsigned audited_refusals_per_minute = 30;  // per client address, without a session
};

// The per-staff-member windows of [limits]: generous for a day on the phone, tight enough that a
// burst of reveals stands out.
std::vector<RateLimiter::Window> lookup_limits(const config::LimitsConfig& limits);
std::vector<RateLimiter::Window> reveal_limits(const config::LimitsConfig& limits);

inline constexpr std::string_view session_cookie_name = "__Host-keydesk";

class Api {
public:
    explicit Api(ApiServices services);

    // Never throws: infrastructure failures become 503/500 answers, logged with the request id.
    // Exports come back with a body source (streamed).
    Reply handle(const Request& request, const ClientInfo& client);

private:
    struct Call;
    Response dispatch(Call& call);
    Response static_asset(const Request& request, std::string_view path);
    Response create_session(Call& call);
    Response get_session(Call& call);
    Response delete_session(Call& call);
    Response lookup(Call& call);
    Response reveal(Call& call);
    Response ready(Call& call);
    // The Audit and Reports pages (audit_endpoints.cpp).
    Response audit_records(Call& call);
    Response audit_record(Call& call);
    Response audit_integrity(Call& call);
    Response audit_verify(Call& call);
    Response audit_export(Call& call, bool bundle);
    Response report_summary(Call& call);
    Response report_unrotated(Call& call);
    Response session_response(const Call& call) const;

    boost::json::object audit_record(const Call& call, std::string_view event,
                                     std::string_view outcome) const;
    void audit_denied(const Call& call, std::string_view reason);
    void append_best_effort(boost::json::object record);
    // For records of refused requests without a session: within the client address's budget.
    void append_anonymous(const Call& call, boost::json::object record);
    std::optional<Response> rate_limited(Call& call, RateLimiter& limiter, std::string_view event);
    // Re-checks the session's account against the directory when due; false ends the session.
    bool recheck_account(Call& call);

    ApiServices services_;
    std::optional<std::regex> ticket_pattern_;
    AnonymousAuditBudget anonymous_audit_budget_;
};

// The value of one cookie in a Cookie header, or empty.
std::string_view find_cookie(std::string_view header, std::string_view name);

}  // namespace keydesk::server
