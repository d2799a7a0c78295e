// The HTTP request path up to the handler, in memory: request bytes go through Beast's parser
// with keydesk's limits (8 KiB of headers, 16 KiB of body, a fresh parser per request, up to 8
// pipelined keep-alive requests), as HttpServer::serve reads them, into Api::handle with real
// services: a Directory whose only DC (ldaps://127.0.0.1:1) refuses every connection, so every
// directory call fails fast (503), a real RecoveringAuditLog under /dev/shm, a SessionStore
// holding one helpdesk session, LoginThrottle, RoleMap, LookupConfig with a ticket pattern. The
// response goes back out through Beast's serializer into a beast::test::stream.
//
// The request bytes may carry two placeholders, replaced before parsing: @TOKEN@ (the helpdesk
// session's cookie value) and @CSRF@ (its CSRF token), so that inputs reach the signed-in
// handlers (lookups, reveals, sign-out) and not only the 401.
//
// Properties: nothing crashes, nothing throws out of the handler; every status is a known code
// and not 500 (with the directory merely down, a 500 means an unexpected exception); every
// response carries Content-Security-Policy and X-Content-Type-Options; JSON bodies parse; the
// response serializes; and no response holds a recovery-password-shaped string (8 groups of 6
// digits) that the request did not itself contain.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "audit/audit_log.hpp"
#include "audit/recovering_log.hpp"
#include "config/config.hpp"
#include "ldap/directory.hpp"
#include "server/api/api.hpp"
#include "server/auth/login_throttle.hpp"
#include "server/auth/rate_limiter.hpp"
#include "server/auth/roles.hpp"
#include "server/auth/session_store.hpp"
#include "server/http/security_headers.hpp"
#include "server/http/server.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using keydesk::server::Request;
using keydesk::server::Response;

constexpr unsigned max_requests_per_input = 8;
constexpr std::size_t inputs_per_fixture = 20'000;  // then a fresh audit log and session store
const std::string helpdesk_group = "CN=KD-Helpdesk,OU=Groups,DC=example,DC=com";

fs::path scratch_dir() {
    static const fs::path root = keydesk::fuzz::scratch_dir("keydesk-fuzz-http");
    return root;
}

void remove_scratch() {
    std::error_code ignored;
    fs::remove_all(scratch_dir(), ignored);
}

keydesk::ldap::DirectorySettings unreachable_directory() {
    keydesk::ldap::DirectorySettings settings;
    settings.uris = {"ldaps://127.0.0.1:1"};
    settings.base_dn = "DC=example,DC=com";
    settings.bind_dn = "CN=svc-keydesk,OU=Service Accounts,DC=example,DC=com";
    settings.bind_password = "not-a-secret";
    settings.timeout = 1s;
    settings.pool_size = 1;
    return settings;
}

keydesk::config::RolesConfig roles_config() {
    keydesk::config::RolesConfig roles;
    roles.helpdesk = {helpdesk_group};
    return roles;
}

keydesk::config::LookupConfig lookup_config() {
    keydesk::config::LookupConfig lookup;
    lookup.ticket_pattern = "^(INC|REQ)[0-9]{7}$";
    return lookup;
}

// Everything an Api needs; rebuilt now and then so the audit log and the maps stay small.
struct Services {
    keydesk::ldap::Directory directory{unreachable_directory()};
    keydesk::audit::RecoveringAuditLog audit;
    keydesk::server::SessionStore sessions{15min, 8h};
    keydesk::server::LoginThrottle throttle;
    keydesk::config::RolesConfig roles_config = ::roles_config();
    keydesk::server::RoleMap roles{roles_config};
    keydesk::config::LookupConfig lookup = lookup_config();
    // Far above what a fuzzer reaches in a window: the handlers behind the limits stay reachable.
    keydesk::server::RateLimiter lookup_limits{{{1'000'000'000u, 1s}}};
    keydesk::server::RateLimiter reveal_limits{{{1'000'000'000u, 1s}}};
    keydesk::server::Api api;
    std::string token;
    std::string csrf;

    explicit Services(const fs::path& audit_dir)
        : audit(audit_dir, "keydesk-fuzz-http-audit-key-0123456789abcdef",
                keydesk::audit::AuditSettings{}),
          api(keydesk::server::ApiServices{
              .directory = directory,
              .audit = audit,
              .sessions = sessions,
              .throttle = throttle,
              .roles = roles,
              .lookup = lookup,
              .session_idle_timeout = 15min,
              .lookup_limits = lookup_limits,
              .reveal_limits = reveal_limits,
              .session_recheck = 24h,
          }) {
        ensure_session();
    }

    // The helpdesk session the placeholders name; made again after a sign-out removed it.
    void ensure_session() {
        if (!token.empty() && sessions.find(token)) return;
        keydesk::server::StaffSession session;
        session.username = "helpdesk1";
        session.display_name = "Help Desk";
        session.dn = "CN=helpdesk1,OU=Staff,DC=example,DC=com";
        session.roles = roles.roles_for({keydesk::ldap::normalize_dn(helpdesk_group)});
        FUZZ_CHECK(!session.roles.empty(), "the fixture's group grants no role");
        token = sessions.create(session);
        const auto stored = sessions.find(token);
        FUZZ_CHECK(stored.has_value(), "the fixture's session is gone");
        csrf = stored->csrf_token;
    }
};

void replace_all(std::string& text, std::string_view from, std::string_view to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
}

// A recovery password: 8 groups of 6 digits joined by dashes (55 characters).
bool password_at(std::string_view text, std::size_t at) {
    if (at + 55 > text.size()) return false;
    for (std::size_t i = 0; i < 55; ++i) {
        const char c = text[at + i];
        if (i % 7 == 6 ? c != '-' : (c < '0' || c > '9')) return false;
    }
    return true;
}

// A password-shaped string in the response is acceptable only as an echo of the request (an
// error naming a field the caller sent); the directory never answered, so nothing else could
// have produced one. Echoes may have been JSON-unescaped: compare with the body's decoded text.
void check_no_password(std::string_view response, std::string_view request_bytes,
                       const std::string& request_body) {
    std::string decoded;
    bool decoded_ready = false;
    for (std::size_t at = response.find_first_of("0123456789"); at != std::string_view::npos;
         at = response.find_first_of("0123456789", at + 1)) {
        if (!password_at(response, at)) continue;
        const auto shape = response.substr(at, 55);
        if (request_bytes.find(shape) != std::string_view::npos) continue;
        if (!decoded_ready) {
            boost::system::error_code error;
            const auto body = boost::json::parse(request_body, error);
            if (!error) decoded = boost::json::serialize(body);
            if (!error && body.is_object()) {
                for (const auto& [name, value] : body.get_object()) {
                    decoded += "\n" + std::string(name);
                    if (value.is_string()) decoded += "\n" + std::string(value.get_string());
                }
            }
            decoded_ready = true;
        }
        FUZZ_CHECK(
            decoded.find(shape) != std::string::npos,
            "a recovery-password-shaped string the request did not send: " + std::string(shape));
    }
}

// What HttpServer::serve answers when the read fails (server/http/server.cpp, plain_error).
std::optional<Response> answer_for_read_error(const beast::error_code& error) {
    auto plain = [](http::status status, std::string_view code) {
        Response response{status, 11};
        response.set(http::field::content_type, "application/json");
        keydesk::server::add_security_headers(response);
        response.body() = std::string(R"({"error":")") + std::string(code) + "\"}";
        response.keep_alive(false);
        return response;
    };
    if (error == http::error::body_limit)
        return plain(http::status::payload_too_large, "body_too_large");
    if (error == http::error::header_limit) {
        return plain(http::status::request_header_fields_too_large, "headers_too_large");
    }
    if (error.category() == http::make_error_code(http::error::bad_target).category()) {
        return plain(http::status::bad_request, "bad_request");
    }
    return std::nullopt;
}

void check_response(const Response& response) {
    const unsigned code = response.result_int();
    FUZZ_CHECK(http::int_to_status(code) != http::status::unknown, std::to_string(code));
    FUZZ_CHECK(code != 500, "500: " + response.body());
    FUZZ_CHECK(!response["Content-Security-Policy"].empty(), std::to_string(code));
    FUZZ_CHECK(response["X-Content-Type-Options"] == "nosniff", std::to_string(code));
    if (response[http::field::content_type] == "application/json" && !response.body().empty()) {
        boost::system::error_code error;
        boost::json::parse(response.body(), error);
        FUZZ_CHECK(!error, response.body());
    }
}

struct Fixture {
    boost::asio::io_context io;
    std::unique_ptr<Services> services;
    std::size_t inputs = 0;
    unsigned generation = 0;
    const bool verbose = std::getenv("KEYDESK_FUZZ_VERBOSE") != nullptr;  // each answer to stderr

    Fixture() {
        spdlog::set_level(spdlog::level::off);
        scratch_dir();  // made before the atexit handler that uses it, so destroyed after it
        std::atexit(remove_scratch);
        renew();
    }

    void renew() {
        services.reset();
        remove_scratch();
        const auto dir = scratch_dir() / std::to_string(generation++);
        fs::create_directories(dir);
        services = std::make_unique<Services>(dir);
        inputs = 0;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Fixture fixture;
    if (++fixture.inputs > inputs_per_fixture) fixture.renew();
    auto& services = *fixture.services;
    services.ensure_session();

    std::string bytes(reinterpret_cast<const char*>(data), size);
    replace_all(bytes, "@TOKEN@", services.token);
    replace_all(bytes, "@CSRF@", services.csrf);

    beast::test::stream connection(fixture.io);
    beast::test::stream peer(fixture.io);
    connection.connect(peer);
    connection.read_size(512);  // requests arrive in pieces, as from a socket
    connection.append(bytes);
    connection.close_remote();  // the client is done sending: end of stream after its bytes

    const keydesk::server::ClientInfo client{"192.0.2.7", "00000000fuzz0000"};
    beast::flat_buffer buffer;
    for (unsigned served = 0; served < max_requests_per_input; ++served) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(8 * 1024);
        parser.body_limit(16 * 1024);
        beast::error_code read_error;
        http::read(connection, buffer, parser, read_error);
        if (read_error == http::error::end_of_stream) break;

        Response response;
        std::string body;
        if (read_error) {
            auto answer = answer_for_read_error(read_error);
            if (!answer) break;  // a connection-level failure: nothing to answer
            response = std::move(*answer);
        } else {
            const Request& request = parser.get();
            body = request.body();
            response = services.api.handle(request, client).response;
            response.keep_alive(response.keep_alive() && request.keep_alive());
        }
        try {
            response.prepare_payload();
        } catch (const std::exception& error) {
            FUZZ_CHECK(false, std::string("prepare_payload: ") + error.what());
        }
        check_response(response);
        if (fixture.verbose) {
            std::fprintf(stderr, "fuzz_http_request: %s -> %u %s\n",
                         read_error ? read_error.message().c_str()
                                    : std::string(parser.get().method_string())
                                          .append(" ")
                                          .append(parser.get().target())
                                          .c_str(),
                         response.result_int(), response.body().substr(0, 120).c_str());
        }

        beast::error_code write_error;
        http::write(connection, response, write_error);
        FUZZ_CHECK(!write_error, write_error.message());
        const std::string written(peer.str());  // status line, headers and body as sent
        peer.clear();
        check_no_password(written, bytes, body);
        if (!response.keep_alive()) break;
    }
    return 0;
}
