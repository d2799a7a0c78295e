// Per-staff-member limits on lookups and reveals over several windows at once (e.g. per minute
// and per hour): a helpdesk person revealing 50 keys in 10 minutes is an incident, not a day's work.
#pragma once

#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace keydesk::server {

class RateLimiter {
public:
    using Clock = std::chrono::steady_clock;
    struct Window {
        unsigned limit;
        std::chrono::seconds length;
    };

    explicit RateLimiter(std::vector<Window> windows) : windows_(std::move(windows)) {}

    // Counts one event for `key` unless a window is full; then returns how long until it is not.
    std::optional<std::chrono::seconds> try_acquire(const std::string& key,
                                                    Clock::time_point now = Clock::now());

private:
    std::vector<Window> windows_;
    std::mutex mutex_;
    std::unordered_map<std::string, std::deque<Clock::time_point>> events_;
};

}  // namespace keydesk::server
