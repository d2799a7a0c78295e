// RateLimiter: one queue of event times per key, as long as the longest window.
#include "server/auth/rate_limiter.hpp"

#include <algorithm>

namespace keydesk::server {

std::optional<std::chrono::seconds> RateLimiter::try_acquire(const std::string& key,
                                                             Clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto& events = events_[key];
    std::chrono::seconds longest{0};
    for (const auto& window : windows_) longest = std::max(longest, window.length);
    while (!events.empty() && now - events.front() >= longest) events.pop_front();

    std::optional<std::chrono::seconds> wait;
    for (const auto& window : windows_) {
        // Events inside this window, newest last; the window is full if it holds `limit` of them.
        const auto inside = std::count_if(events.begin(), events.end(),
                                          [&](auto when) { return now - when < window.length; });
        if (static_cast<unsigned>(inside) < window.limit) continue;
        const auto oldest_inside = events[events.size() - static_cast<std::size_t>(inside)];
        const auto until = std::chrono::ceil<std::chrono::seconds>(oldest_inside + window.length - now);
        wait = std::max(wait.value_or(std::chrono::seconds(0)), std::max(until, std::chrono::seconds(1)));
    }
    if (!wait) events.push_back(now);
    return wait;
}

}  // namespace keydesk::server
