// LoginThrottle: sliding windows of failure times, pruned so memory stays bounded.
#include "server/auth/login_throttle.hpp"

#include <algorithm>
#include <cctype>

namespace keydesk::server {
namespace {

constexpr std::size_t max_tracked = 100'000;

std::string account_key(const std::string& account) {
    // "CORP\Alice", "alice" and "ALICE@corp" are one account to AD's lockout counter.
    std::string key = account;
    if (const auto slash = key.find('\\'); slash != std::string::npos) key = key.substr(slash + 1);
    if (const auto at = key.find('@'); at != std::string::npos) key = key.substr(0, at);
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return key;
}

}  // namespace

std::optional<std::chrono::seconds> LoginThrottle::check(Failures& failures, unsigned limit,
                                                         Clock::time_point now) const {
    std::erase_if(failures, [&](auto when) { return now - when >= limits_.window; });
    if (failures.size() < limit) return std::nullopt;
    const auto wait = failures.front() + limits_.window - now;
    return std::max(std::chrono::seconds(1), std::chrono::ceil<std::chrono::seconds>(wait));
}

std::optional<std::chrono::seconds> LoginThrottle::begin_attempt(const std::string& account,
                                                                 const std::string& client,
                                                                 Clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (by_account_.size() + by_client_.size() > max_tracked) prune_locked(now);
    auto& account_failures = by_account_[account_key(account)];
    auto& client_failures = by_client_[client];
    std::optional<std::chrono::seconds> wait = check(account_failures, limits_.failures_per_account, now);
    if (auto client_wait = check(client_failures, limits_.failures_per_client, now)) {
        wait = std::max(wait.value_or(std::chrono::seconds(0)), *client_wait);
    }
    if (wait) return wait;
    account_failures.push_back(now);
    client_failures.push_back(now);
    return std::nullopt;
}

void LoginThrottle::drop_newest(std::unordered_map<std::string, Failures>& map,
                                const std::string& key) {
    if (auto found = map.find(key); found != map.end() && !found->second.empty()) {
        found->second.pop_back();
    }
}

void LoginThrottle::prune_locked(Clock::time_point now) {
    auto prune = [&](auto& map) {
        std::erase_if(map, [&](auto& item) {
            return item.second.empty() || now - item.second.back() >= limits_.window;
        });
    };
    prune(by_account_);
    prune(by_client_);
}

void LoginThrottle::succeeded(const std::string& account, const std::string& client) {
    std::lock_guard lock(mutex_);
    by_account_.erase(account_key(account));
    drop_newest(by_client_, client);
}

void LoginThrottle::not_counted(const std::string& account, const std::string& client) {
    std::lock_guard lock(mutex_);
    drop_newest(by_account_, account_key(account));
    drop_newest(by_client_, client);
}

}  // namespace keydesk::server
