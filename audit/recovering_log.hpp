// An audit log that recovers from storage faults without a restart: after a failed write or sync
// the failed log is never written again (a failed fsync is not retried and trusted); instead, at
// most once a second, a fresh AuditLog is opened on the same directory, which continues the chain
// from the last complete record on disk, exactly as at start-up.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "audit/audit_log.hpp"

namespace keydesk::audit {

class RecoveringAuditLog {
public:
    // Opens the log now; throws AuditUnavailable as AuditLog does.
    RecoveringAuditLog(std::filesystem::path directory, std::string key, AuditSettings settings);

    // As AuditLog::append; if the log has failed, first tries to reopen it (rate-limited).
    std::uint64_t append(boost::json::object fields);
    // Healthy now, or healthy again after a reopen attempt.
    bool healthy();
    std::string failure() const;

    // The log currently in use (for start-up warnings, SIGHUP reopen, shutdown close).
    std::shared_ptr<AuditLog> current() const;
    // Warnings of every open, including recoveries ("recovered after: ...").
    std::vector<std::string> take_warnings();

private:
    bool try_recover();

    std::filesystem::path directory_;
    std::string key_;
    AuditSettings settings_;
    mutable std::mutex mutex_;
    std::shared_ptr<AuditLog> log_;
    std::chrono::steady_clock::time_point last_attempt_{};
    std::string last_failure_;
    std::vector<std::string> warnings_;
};

}  // namespace keydesk::audit
