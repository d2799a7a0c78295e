// Refusals of unauthenticated requests (failed sign-ins, bad origins) are audited, but one client
// address must not be able to fill the audit log: it gets a budget of records per minute. Past
// it, refusals are only counted, and the count rides on the address's next record
// (`suppressed_before`), so the log still says how many there were.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace keydesk::server {

class AnonymousAuditBudget {
public:
    using Clock = std::chrono::steady_clock;
    struct Admission {
        bool write = false;             // write this record
        std::uint64_t suppressed = 0;   // refusals not written since the last one that was
        bool started_suppressing = false;  // the first refusal over budget in this minute
    };

    // Addresses beyond `max_addresses` share one budget (memory stays bounded under a flood from
    // many addresses).
    explicit AnonymousAuditBudget(unsigned per_minute, std::size_t max_addresses = 10000)
        : per_minute_(per_minute), max_addresses_(max_addresses) {}

    Admission admit(const std::string& address, Clock::time_point now = Clock::now());

private:
    struct Entry {
        Clock::time_point window_start;
        unsigned used = 0;
        std::uint64_t suppressed = 0;
    };
    unsigned per_minute_;
    std::size_t max_addresses_;
    std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace keydesk::server
