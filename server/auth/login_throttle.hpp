// Throttles failed sign-ins per account and per client address, below AD's lockout threshold,
// so keydesk cannot be used to lock staff out of their accounts or to guess passwords.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace keydesk::server {

class LoginThrottle {
public:
    using Clock = std::chrono::steady_clock;

    struct Limits {
        unsigned failures_per_account = 4;  // AD's lockout thresholds are commonly 5 to 10
        unsigned failures_per_client = 20;
        std::chrono::seconds window{15 * 60};
    };

    explicit LoginThrottle(Limits limits) : limits_(limits) {}
    LoginThrottle() : LoginThrottle(Limits{}) {}

    // Starts a sign-in attempt. If the account or client is throttled, returns how long to wait
    // and reserves nothing. Otherwise the attempt counts as a failure from now on, so parallel
    // attempts cannot overrun the limit, until succeeded() or not_counted() says otherwise.
    std::optional<std::chrono::seconds> begin_attempt(const std::string& account,
                                                      const std::string& client,
                                                      Clock::time_point now = Clock::now());
    // The attempt signed in: the account's failures are forgiven, the client's reservation is
    // returned.
    void succeeded(const std::string& account, const std::string& client);
    // The attempt never reached the directory (malformed input): return the reservation.
    void not_counted(const std::string& account, const std::string& client);

private:
    using Failures = std::vector<Clock::time_point>;
    std::optional<std::chrono::seconds> check(Failures& failures, unsigned limit,
                                              Clock::time_point now) const;
    void prune_locked(Clock::time_point now);
    static void drop_newest(std::unordered_map<std::string, Failures>& map, const std::string& key);

    Limits limits_;
    std::mutex mutex_;
    std::unordered_map<std::string, Failures> by_account_;
    std::unordered_map<std::string, Failures> by_client_;
};

}  // namespace keydesk::server
