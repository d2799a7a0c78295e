#include "server/auth/audit_budget.hpp"

#include <utility>

namespace keydesk::server {

AnonymousAuditBudget::Admission AnonymousAuditBudget::admit(const std::string& address, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (entries_.size() >= max_addresses_) {
        // Forget addresses whose minute is over and that owe no count; if still full, share one.
        std::erase_if(entries_, [&](const auto& item) {
            return item.second.suppressed == 0 && now - item.second.window_start >= std::chrono::minutes(1);
        });
    }
    const bool known = entries_.contains(address);
    auto& entry = entries_[known || entries_.size() < max_addresses_ ? address : std::string("*")];
    if (now - entry.window_start >= std::chrono::minutes(1)) {
        entry.window_start = now;
        entry.used = 0;
    }
    Admission admission;
    if (entry.used < per_minute_) {
        ++entry.used;
        admission.write = true;
        admission.suppressed = std::exchange(entry.suppressed, 0);
        return admission;
    }
    admission.started_suppressing = entry.suppressed == 0;
    ++entry.suppressed;
    return admission;
}

}  // namespace keydesk::server
