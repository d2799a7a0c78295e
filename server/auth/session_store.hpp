// Signed-in staff sessions, held server-side; the browser only holds an opaque random token.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "server/auth/roles.hpp"

namespace keydesk::server {

struct StaffSession {
    std::string username;
    std::string display_name;
    std::string dn;
    RoleSet roles;
    std::string csrf_token;
    std::chrono::steady_clock::time_point created;
    std::chrono::steady_clock::time_point last_seen;
    std::chrono::steady_clock::time_point verified;  // last checked against the directory
};

class SessionStore {
public:
    using Clock = std::chrono::steady_clock;

    SessionStore(std::chrono::minutes idle_timeout, std::chrono::hours max_age,
                 std::size_t max_sessions = 10'000);

    // Stores the session (with a fresh CSRF token) and returns the token for the cookie.
    std::string create(StaffSession session);

    // The live session for a token, its idle timer restarted; nullopt if unknown or expired.
    std::optional<StaffSession> find(std::string_view token, Clock::time_point now = Clock::now());

    void remove(std::string_view token);
    // Applies `change` to a live session (roles after a re-check); false if it is gone.
    bool update(std::string_view token, const std::function<void(StaffSession&)>& change);
    std::size_t size() const;
    std::chrono::hours max_age() const { return max_age_; }

private:
    void evict_expired_locked(Clock::time_point now);
    bool expired(const StaffSession& session, Clock::time_point now) const;

    std::chrono::minutes idle_timeout_;
    std::chrono::hours max_age_;
    std::size_t max_sessions_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, StaffSession> sessions_;  // keyed by SHA-256 of the token
};

// 32 random bytes, base64url without padding.
std::string random_token();

// Constant-time comparison for tokens.
bool same_token(std::string_view a, std::string_view b);

}  // namespace keydesk::server
