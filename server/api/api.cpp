// The API's handlers: sign-in, lookups, reveals, health; each audited before it answers.
#include "server/api/api.hpp"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <array>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "server/api/call.hpp"
#include "server/http/security_headers.hpp"
#include "web/assets.hpp"

namespace keydesk::server {
namespace {

namespace json = boost::json;

constexpr std::size_t max_target_length = 2048;
constexpr std::size_t max_field_length = 1024;
constexpr std::size_t max_reason_text_length = 500;
constexpr std::size_t max_ticket_length = 64;
constexpr std::size_t max_audited_matches = 50;

constexpr std::array reason_codes{
    "os_boot_order_changed", "bios_changed",    "os_files_modified",
    "lost_startup_key",      "lost_pin",        "tpm_reset",
    "lost_passphrase",       "lost_smartcard",  "other",
};

}  // namespace

Response json_response(const Request& request, http::status status, const json::value& body) {
    Response response{status, request.version()};
    response.set(http::field::content_type, "application/json");
    response.body() = json::serialize(body);
    response.keep_alive(request.keep_alive());
    return response;
}

Response error_response(const Request& request, http::status status, std::string_view code,
                        std::string_view detail) {
    json::object body{{"error", code}};
    if (!detail.empty()) body["detail"] = detail;
    return json_response(request, status, body);
}

namespace {

// Overwrites a JSON string that held a secret before the value is freed.
void wipe(json::object& object, std::string_view field) {
    if (auto* value = object.if_contains(field); value && value->is_string()) {
        auto& text = value->get_string();
        OPENSSL_cleanse(text.data(), text.size());
    }
}

// The request body as a JSON object whose members are all strings among `allowed`.
std::optional<json::object> parse_body(const Request& request,
                                       std::initializer_list<std::string_view> allowed,
                                       std::string& problem) {
    boost::system::error_code error;
    json::value value = json::parse(request.body(), error);
    if (error || !value.is_object()) {
        problem = "the body must be a JSON object";
        return std::nullopt;
    }
    auto& object = value.get_object();
    for (const auto& [name, member] : object) {
        if (std::find(allowed.begin(), allowed.end(), std::string_view(name)) == allowed.end()) {
            problem = "unknown field: " + std::string(name.substr(0, 64));
            return std::nullopt;
        }
        if (!member.is_string() || member.get_string().size() > max_field_length) {
            problem = "field " + std::string(name) + " must be a string of at most 1024 bytes";
            return std::nullopt;
        }
    }
    return std::move(object);
}

std::string string_field(const json::object& object, std::string_view name) {
    const auto* value = object.if_contains(name);
    return value ? std::string(value->get_string()) : std::string();
}

json::object key_json(const ldap::RecoveryKey& key) {
    return {{"key_id", key.key_id},   {"computer", key.computer}, {"computer_dn", key.computer_dn},
            {"created", key.created}, {"volume_id", key.volume_id}};
}

json::object user_json(const StaffSession& session) {
    json::array roles;
    for (const auto& role : session.roles.names()) roles.emplace_back(role);
    return {{"name", session.username}, {"display_name", session.display_name}, {"roles", roles}};
}

constexpr std::size_t max_end_user_length = 256;

}  // namespace


std::string_view find_cookie(std::string_view header, std::string_view name) {
    while (!header.empty()) {
        const auto end = header.find(';');
        auto pair = header.substr(0, end);
        while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
        const auto equals = pair.find('=');
        if (equals != std::string_view::npos && pair.substr(0, equals) == name) {
            return pair.substr(equals + 1);
        }
        if (end == std::string_view::npos) break;
        header.remove_prefix(end + 1);
    }
    return {};
}

std::vector<RateLimiter::Window> lookup_limits(const config::LimitsConfig& limits) {
    return {{limits.lookups_per_minute, std::chrono::minutes(1)},
            {limits.lookups_per_hour, std::chrono::hours(1)}};
}

std::vector<RateLimiter::Window> reveal_limits(const config::LimitsConfig& limits) {
    return {{limits.reveals_per_10_minutes, std::chrono::minutes(10)},
            {limits.reveals_per_hour, std::chrono::hours(1)}};
}

Api::Api(ApiServices services)
    : services_(services), anonymous_audit_budget_(services.audited_refusals_per_minute) {
    if (!services_.lookup.ticket_pattern.empty()) {
        ticket_pattern_.emplace(services_.lookup.ticket_pattern, std::regex::ECMAScript);
    }
}

Reply Api::handle(const Request& request, const ClientInfo& client) {
    Response response;
    BodySource stream;
    try {
        const auto target = request.target();
        if (target.size() > max_target_length) {
            response = error_response(request, http::status::uri_too_long, "uri_too_long");
        } else if (auto url = boost::urls::parse_origin_form(target); !url) {
            response = error_response(request, http::status::bad_request, "bad_request", "bad target");
        } else {
            Call call{request, client, url->encoded_path(), *url, nullptr, {}, std::nullopt, {}};
            response = dispatch(call);
            stream = std::move(call.stream);
        }
    } catch (const ldap::DirectoryUnavailable& error) {
        spdlog::warn("rid={} directory unavailable: {}", client.request_id, error.what());
        response = error_response(request, http::status::service_unavailable, "directory_unavailable");
        response.set(http::field::retry_after, "5");
    } catch (const audit::AuditUnavailable& error) {
        spdlog::error("rid={} audit log unavailable: {}", client.request_id, error.what());
        response = error_response(request, http::status::service_unavailable, "audit_unavailable");
        response.set(http::field::retry_after, "30");
    } catch (const std::exception& error) {
        spdlog::error("rid={} internal error: {}", client.request_id, error.what());
        response = error_response(request, http::status::internal_server_error, "internal_error");
    }
    response.set("X-Request-Id", client.request_id);
    add_security_headers(response);
    for (const auto& warning : services_.audit.take_warnings()) spdlog::warn("audit log: {}", warning);
    return Reply{std::move(response), std::move(stream)};
}

Response Api::dispatch(Call& call) {
    const auto& request = call.request;
    const bool is_api = call.path.starts_with("/api/") || call.path == "/healthz" ||
                        call.path == "/readyz";
    if (!is_api) {
        if (request.method() != http::verb::get && request.method() != http::verb::head) {
            auto response = error_response(request, http::status::method_not_allowed,
                                           "method_not_allowed");
            response.set(http::field::allow, "GET, HEAD");
            return response;
        }
        return static_asset(request, call.path);
    }

    const auto match = match_route(request.method(), call.path);
    if (match.kind == RouteMatch::Kind::not_found) {
        return error_response(request, http::status::not_found, "not_found");
    }
    if (match.kind == RouteMatch::Kind::method_not_allowed) {
        auto response = error_response(request, http::status::method_not_allowed, "method_not_allowed");
        response.set(http::field::allow, match.allow);
        return response;
    }
    call.route = match.route;

    call.token = std::string(find_cookie(request[http::field::cookie], session_cookie_name));
    if (!call.token.empty()) call.session = services_.sessions.find(call.token);

    if (call.route->access != Access::anyone) {
        if (!call.session) return error_response(request, http::status::unauthorized, "not_signed_in");
        if (!permits(call.route->access, call.session->roles)) {
            audit_denied(call, "role");
            return error_response(request, http::status::forbidden, "forbidden");
        }
    }
    if (request.method() == http::verb::post || request.method() == http::verb::delete_) {
        // A cross-site page cannot send this header, nor JSON without a CORS preflight.
        const auto origin = request[http::field::origin];
        if (!origin.empty() && origin != "https://" + std::string(request[http::field::host])) {
            audit_denied(call, "origin");
            return error_response(request, http::status::forbidden, "csrf_failed");
        }
        if (call.route->needs_csrf &&
            !same_token(request["X-CSRF-Token"], call.session ? call.session->csrf_token : "")) {
            audit_denied(call, "csrf");
            return error_response(request, http::status::forbidden, "csrf_failed");
        }
        if (request.method() == http::verb::post &&
            !request[http::field::content_type].starts_with("application/json")) {
            return error_response(request, http::status::unsupported_media_type,
                                  "unsupported_media_type", "send application/json");
        }
    }

    if ((call.route->endpoint == Endpoint::lookups || call.route->endpoint == Endpoint::reveals) &&
        !recheck_account(call)) {
        return error_response(request, http::status::unauthorized, "not_signed_in");
    }
    if (call.session && !permits(call.route->access, call.session->roles)) {
        audit_denied(call, "role");  // roles changed in AD since sign-in
        return error_response(request, http::status::forbidden, "forbidden");
    }

    switch (call.route->endpoint) {
        case Endpoint::session_get: return get_session(call);
        case Endpoint::session_create: return create_session(call);
        case Endpoint::session_delete: return delete_session(call);
        case Endpoint::lookups: return lookup(call);
        case Endpoint::reveals: return reveal(call);
        case Endpoint::healthz: return json_response(request, http::status::ok, {{"status", "alive"}});
        case Endpoint::readyz: return ready(call);
        case Endpoint::audit_records: return audit_records(call);
        case Endpoint::audit_record: return audit_record(call);
        case Endpoint::audit_integrity: return audit_integrity(call);
        case Endpoint::audit_verify: return audit_verify(call);
        case Endpoint::audit_export: return audit_export(call, false);
        case Endpoint::audit_bundle: return audit_export(call, true);
        case Endpoint::report_summary: return report_summary(call);
        case Endpoint::report_unrotated: return report_unrotated(call);
    }
    return error_response(request, http::status::not_found, "not_found");
}

Response Api::static_asset(const Request& request, std::string_view path) {
    const auto* asset = web::find_asset(path);
    if (!asset) return error_response(request, http::status::not_found, "not_found");
    Response response{http::status::ok, request.version()};
    response.set(http::field::etag, asset->etag);
    // Revalidated every time (a 304 by ETag when unchanged): after an upgrade the page and its
    // modules never mix versions.
    response.set(http::field::cache_control, "no-cache");
    response.keep_alive(request.keep_alive());
    if (request[http::field::if_none_match] == asset->etag) {
        response.result(http::status::not_modified);
        return response;
    }
    response.set(http::field::content_type, asset->content_type);
    if (request.method() == http::verb::head) {
        response.content_length(asset->body.size());
        return response;
    }
    response.body() = std::string(asset->body);
    return response;
}

json::object Api::audit_record(const Call& call, std::string_view event,
                               std::string_view outcome) const {
    json::object record;
    record["event"] = event;
    record["actor"] = call.session ? call.session->username : "";
    record["client"] = call.client.address;
    record["request_id"] = call.client.request_id;
    record["outcome"] = outcome;
    return record;
}

bool Api::recheck_account(Call& call) {
    const auto now = SessionStore::Clock::now();
    if (now - call.session->verified < services_.session_recheck) return true;
    const auto staff = services_.directory.refresh_staff(call.session->dn);
    if (!staff) {
        services_.sessions.remove(call.token);
        auto record = audit_record(call, "session.revoked", "denied");
        record["reason"] = "account_disabled_or_removed";
        services_.audit.append(std::move(record));
        spdlog::warn("rid={} session of {} ended: the account is disabled or gone",
                     call.client.request_id, call.session->username);
        return false;
    }
    const auto roles = services_.roles.roles_for(staff->group_dns);
    services_.sessions.update(call.token, [&](StaffSession& session) {
        session.roles = roles;
        session.verified = now;
    });
    call.session->roles = roles;
    call.session->verified = now;
    return true;
}

std::optional<Response> Api::rate_limited(Call& call, RateLimiter& limiter, std::string_view event) {
    const auto wait = limiter.try_acquire(call.session->username);
    if (!wait) return std::nullopt;
    auto record = audit_record(call, event, "denied");
    record["reason"] = "rate_limited";
    services_.audit.append(std::move(record));
    spdlog::warn("ALERT rid={} {} hit the {} rate limit: possible misuse, review the audit log",
                 call.client.request_id, call.session->username, event);
    auto response = error_response(call.request, http::status::too_many_requests, "rate_limited");
    response.set(http::field::retry_after, std::to_string(wait->count()));
    return response;
}

void Api::append_best_effort(boost::json::object record) {
    // For requests already failing for another reason (the directory is down): try to leave a
    // trace, but the answer is the original error either way.
    try {
        services_.audit.append(std::move(record));
    } catch (const audit::AuditUnavailable&) {
    }
}

void Api::append_anonymous(const Call& call, boost::json::object record) {
    const auto admission = anonymous_audit_budget_.admit(call.client.address);
    if (admission.started_suppressing) {
        spdlog::warn("ALERT rid={} {} exceeded {} audited refusals a minute without a session; "
                     "counting the rest instead of writing each (possible attack)",
                     call.client.request_id, call.client.address, services_.audited_refusals_per_minute);
    }
    if (!admission.write) return;
    if (admission.suppressed > 0) record["suppressed_before"] = admission.suppressed;
    services_.audit.append(std::move(record));
}

void Api::audit_denied(const Call& call, std::string_view reason) {
    auto record = audit_record(call, "access.denied", "denied");
    record["reason"] = reason;
    record["method"] = std::string(http::to_string(call.request.method()));
    record["path"] = call.path;
    if (!call.session) return append_anonymous(call, std::move(record));
    services_.audit.append(std::move(record));
}

Response Api::create_session(Call& call) {
    const auto& request = call.request;
    std::string problem;
    auto body = parse_body(request, {"username", "password"}, problem);
    if (!body || !body->contains("username") || !body->contains("password")) {
        if (body) wipe(*body, "password");
        return error_response(request, http::status::bad_request, "invalid_request",
                              problem.empty() ? "username and password are required" : problem);
    }
    const auto username = string_field(*body, "username");
    const auto& password = body->at("password").get_string();

    auto record = audit_record(call, "session.login_failed", "denied");
    record["actor"] = username.substr(0, 256);

    if (auto wait = services_.throttle.begin_attempt(username, call.client.address)) {
        wipe(*body, "password");
        record["reason"] = "throttled";
        append_anonymous(call, std::move(record));
        spdlog::warn("rid={} sign-in of '{}' throttled", call.client.request_id, username.substr(0, 64));
        auto response = error_response(request, http::status::too_many_requests, "too_many_attempts");
        response.set(http::field::retry_after, std::to_string(wait->count()));
        return response;
    }

    ldap::SignInResult result;
    try {
        result = services_.directory.sign_in(username, std::string_view(password));
    } catch (const ldap::DirectoryUnavailable&) {
        wipe(*body, "password");
        services_.throttle.not_counted(username, call.client.address);
        record["outcome"] = "error";
        record["reason"] = "directory_unavailable";
        append_best_effort(std::move(record));
        throw;
    }
    wipe(*body, "password");
    if (!result.staff) {
        if (result.failure == ldap::SignInFailure::invalid_username) {
            services_.throttle.not_counted(username, call.client.address);
        }
        record["reason"] = ldap::to_string(result.failure);
        append_anonymous(call, std::move(record));
        spdlog::warn("rid={} sign-in of '{}' failed: {} {}", call.client.request_id,
                     username.substr(0, 64), ldap::to_string(result.failure), result.detail);
        return error_response(request, http::status::unauthorized, "invalid_credentials");
    }

    StaffSession session;
    session.username = result.staff->username;
    session.display_name = result.staff->display_name;
    session.dn = result.staff->dn;
    session.roles = services_.roles.roles_for(result.staff->group_dns);
    record["actor"] = session.username;
    services_.throttle.succeeded(username, call.client.address);
    if (session.roles.empty()) {
        record["reason"] = "no_role";
        services_.audit.append(std::move(record));
        spdlog::warn("rid={} {} signed in but holds no keydesk role", call.client.request_id,
                     session.username);
        return error_response(request, http::status::forbidden, "no_role");
    }

    record["event"] = "session.login";
    record["outcome"] = "success";
    json::array roles;
    for (const auto& role : session.roles.names()) roles.emplace_back(role);
    record["roles"] = roles;
    services_.audit.append(std::move(record));  // before the session exists: fail closed

    // A new session id at every sign-in: whatever cookie came with the request is dropped.
    if (!call.token.empty()) services_.sessions.remove(call.token);
    const auto token = services_.sessions.create(session);
    call.session = services_.sessions.find(token);
    auto response = session_response(call);
    response.set(http::field::set_cookie, std::string(session_cookie_name) + "=" + token +
                                              "; Path=/; Secure; HttpOnly; SameSite=Strict");
    return response;
}

Response Api::session_response(const Call& call) const {
    // The browser warns before the idle timeout and hides revealed passwords on its own timer.
    const auto idle = services_.session_idle_timeout;
    const auto max_age = services_.sessions.max_age();
    const auto now = SessionStore::Clock::now();
    const auto expires = std::min(call.session->last_seen + idle, call.session->created + max_age);
    const auto seconds_until = [&](SessionStore::Clock::time_point when) {
        return std::max<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::seconds>(when - now).count());
    };
    return json_response(call.request, http::status::ok,
                         {{"user", user_json(*call.session)},
                          {"csrf_token", call.session->csrf_token},
                          {"idle_timeout_seconds", idle.count()},
                          {"expires_in_seconds", seconds_until(expires)},
                          {"max_expires_in_seconds", seconds_until(call.session->created + max_age)},
                          {"reveal_seconds", services_.lookup.reveal_display_seconds},
                          {"ticket_required", services_.lookup.require_ticket},
                          {"ticket_pattern", services_.lookup.ticket_pattern}});
}

Response Api::get_session(Call& call) { return session_response(call); }

Response Api::delete_session(Call& call) {
    services_.sessions.remove(call.token);
    services_.audit.append(audit_record(call, "session.logout", "success"));
    Response response{http::status::no_content, call.request.version()};
    response.keep_alive(call.request.keep_alive());
    response.set(http::field::set_cookie, std::string(session_cookie_name) +
                                              "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
    response.set("Clear-Site-Data", "\"cache\", \"cookies\", \"storage\"");
    return response;
}

Response Api::lookup(Call& call) {
    const auto& request = call.request;
    if (auto refused = rate_limited(call, services_.lookup_limits, "key.lookup")) return *refused;
    std::string problem;
    auto body = parse_body(request, {"key_id", "computer", "ticket"}, problem);
    const bool has_key = body && body->contains("key_id");
    const bool has_computer = body && body->contains("computer");
    auto record = audit_record(call, "key.lookup", "invalid");
    if (!body || has_key == has_computer) {
        record["reason"] = "invalid_request";
        services_.audit.append(std::move(record));
        return error_response(request, http::status::bad_request, "invalid_request",
                              problem.empty() ? "send exactly one of key_id and computer" : problem);
    }
    const auto ticket = string_field(*body, "ticket");
    if (ticket.size() > max_ticket_length) {
        record["reason"] = "invalid_ticket";
        services_.audit.append(std::move(record));
        return error_response(request, http::status::bad_request, "invalid_ticket");
    }
    if (!ticket.empty()) record["ticket"] = ticket;
    auto search = [&](auto&& find) {
        try {
            return find();
        } catch (const ldap::DirectoryUnavailable&) {
            record["outcome"] = "error";
            record["reason"] = "directory_unavailable";
            append_best_effort(std::move(record));
            throw;
        }
    };

    ldap::KeySearchResult found;
    if (has_key) {
        const auto typed = string_field(*body, "key_id");
        ldap::KeyIdError why = ldap::KeyIdError::none;
        const auto prefix = ldap::KeyIdPrefix::parse(typed, services_.lookup.min_key_id_chars, &why);
        if (!prefix) {
            record["query"] = json::object{{"key_id", typed.substr(0, 80)}};
            services_.audit.append(std::move(record));
            return error_response(request, http::status::bad_request, "invalid_key_id",
                                  ldap::describe(why));
        }
        record["query"] = json::object{{"key_id", prefix->dashed()}};
        found = search([&] { return services_.directory.find_keys(*prefix); });
    } else {
        const auto typed = string_field(*body, "computer");
        std::string name;
        if (!ldap::parse_computer_name(typed, name)) {
            record["query"] = json::object{{"computer", typed.substr(0, 80)}};
            services_.audit.append(std::move(record));
            return error_response(request, http::status::bad_request, "invalid_computer");
        }
        record["query"] = json::object{{"computer", name}};
        found = search([&] { return services_.directory.find_keys_for_computer(name); });
    }

    json::array matches;
    json::array audited;
    for (const auto& key : found.keys) {
        matches.push_back(key_json(key));
        if (audited.size() < max_audited_matches) {
            audited.push_back(json::object{{"key_id", key.key_id}, {"computer", key.computer}});
        }
    }
    record["outcome"] = found.keys.empty() ? "not_found" : "success";
    record["matches"] = audited;
    record["truncated"] = found.truncated;
    services_.audit.append(std::move(record));
    return json_response(request, http::status::ok,
                         {{"matches", matches}, {"truncated", found.truncated}});
}

Response Api::reveal(Call& call) {
    const auto& request = call.request;
    if (auto refused = rate_limited(call, services_.reveal_limits, "key.reveal")) return *refused;
    std::string problem;
    auto body = parse_body(
        request, {"key_id", "computer_dn", "reason", "reason_text", "ticket", "end_user"}, problem);
    auto record = audit_record(call, "key.reveal", "invalid");
    auto refuse = [&](std::string_view code, std::string_view detail = {}) {
        record["reason_code"] = code;
        services_.audit.append(std::move(record));
        return error_response(request, http::status::bad_request, code, detail);
    };
    if (!body) return refuse("invalid_request", problem);

    const auto typed_key = string_field(*body, "key_id");
    const auto key_id = ldap::KeyIdPrefix::parse(typed_key, 32);
    record["key_id"] = key_id ? key_id->dashed() : typed_key.substr(0, 80);
    const auto reason = string_field(*body, "reason");
    const auto reason_text = string_field(*body, "reason_text");
    const auto ticket = string_field(*body, "ticket");
    const auto computer_dn = string_field(*body, "computer_dn");
    const auto end_user = string_field(*body, "end_user");  // who is on the phone, if known
    record["reason"] = reason.substr(0, 64);
    if (!reason_text.empty()) record["reason_text"] = reason_text.substr(0, max_reason_text_length);
    if (!ticket.empty()) record["ticket"] = ticket.substr(0, max_ticket_length);
    if (!computer_dn.empty()) record["computer_dn"] = computer_dn;
    if (!end_user.empty()) record["end_user"] = end_user.substr(0, max_end_user_length);

    if (!key_id) return refuse("invalid_key_id", "a reveal needs the full 32-digit Key ID");
    if (std::find(reason_codes.begin(), reason_codes.end(), reason) == reason_codes.end()) {
        return refuse("invalid_reason");
    }
    if (reason == "other" && reason_text.empty()) return refuse("reason_text_required");
    if (reason_text.size() > max_reason_text_length) return refuse("invalid_request", "reason_text too long");
    if (end_user.size() > max_end_user_length) return refuse("invalid_request", "end_user too long");
    if (ticket.empty() && services_.lookup.require_ticket) return refuse("ticket_required");
    if (ticket.size() > max_ticket_length ||
        (!ticket.empty() && ticket_pattern_ && !std::regex_match(ticket, *ticket_pattern_))) {
        return refuse("invalid_ticket");
    }

    ldap::PasswordReadResult read;
    try {
        read = services_.directory.read_recovery_password(
            *key_id, computer_dn.empty() ? std::nullopt : std::optional<std::string>(computer_dn));
    } catch (const ldap::DirectoryUnavailable&) {
        record["outcome"] = "error";
        record["reason_code"] = "directory_unavailable";
        append_best_effort(std::move(record));
        throw;
    }
    using Outcome = ldap::PasswordReadResult::Outcome;
    if (read.outcome == Outcome::not_found) {
        record["outcome"] = "not_found";
        services_.audit.append(std::move(record));
        return error_response(request, http::status::not_found, "key_not_found");
    }
    record["computer"] = read.key.computer;
    record["computer_dn"] = read.key.computer_dn;
    record["dn"] = read.key.dn;
    if (read.outcome == Outcome::not_permitted) {
        record["outcome"] = "denied";
        record["reason_code"] = "not_permitted";
        services_.audit.append(std::move(record));
        spdlog::warn("rid={} the service account may not read the recovery password of {}",
                     call.client.request_id, read.key.dn);
        return error_response(request, http::status::forbidden, "not_permitted",
                              "the service account may not read this key");
    }

    record["outcome"] = "success";
    services_.audit.append(std::move(record));  // durable before the password leaves
    return json_response(request, http::status::ok,
                         {{"recovery_password", read.password.reveal()},
                          {"key_id", read.key.key_id},
                          {"computer", read.key.computer}});
}

Response Api::ready(Call& call) {
    const bool audit_healthy = services_.audit.healthy();  // may reopen a failed log
    for (const auto& warning : services_.audit.take_warnings()) spdlog::warn("audit log: {}", warning);
    if (!audit_healthy) {
        spdlog::warn("not ready: audit log failed: {}", services_.audit.failure());
        return error_response(call.request, http::status::service_unavailable, "audit_unavailable");
    }
    services_.directory.check_connection();  // throws DirectoryUnavailable -> 503
    // Ready does not wait for the index: until it has loaded, lookups search live.
    const auto index = services_.directory.index_status();
    return json_response(call.request, http::status::ok,
                         {{"status", "ready"},
                          {"index", {{"loaded", index.loaded},
                                     {"keys", index.keys},
                                     {"bytes", index.memory_bytes},
                                     {"full_loads", index.full_loads},
                                     {"polls", index.polls}}}});
}

}  // namespace keydesk::server
