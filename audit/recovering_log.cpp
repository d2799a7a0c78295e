// RecoveringAuditLog: swap in a freshly opened AuditLog once the storage works again.
#include "audit/recovering_log.hpp"

namespace keydesk::audit {

namespace {
constexpr auto retry_interval = std::chrono::seconds(1);
}

RecoveringAuditLog::RecoveringAuditLog(std::filesystem::path directory, std::string key,
                                       AuditSettings settings)
    : directory_(std::move(directory)), key_(std::move(key)), settings_(std::move(settings)),
      log_(std::make_shared<AuditLog>(directory_, key_, settings_)) {
    warnings_ = log_->warnings();
}

std::shared_ptr<AuditLog> RecoveringAuditLog::current() const {
    std::lock_guard lock(mutex_);
    return log_;
}

bool RecoveringAuditLog::try_recover() {
    std::unique_lock lock(mutex_);
    if (log_->healthy()) return true;
    // Stalled on a hung disk, not failed: its writer still owns the file (and close() would wait
    // for it). It becomes healthy again when the write completes.
    if (!log_->has_failed()) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_attempt_ < retry_interval) return false;
    last_attempt_ = now;
    const auto failed = log_;
    lock.unlock();
    // Stop the failed log's writer first: two writers must never share the directory.
    failed->close();
    try {
        auto reopened = std::make_shared<AuditLog>(directory_, key_, settings_);
        // The failed log may have sealed records that never reached the disk (their requests
        // were refused): the reopened chain may be shorter by those. Far shorter means files
        // went missing (deleted underneath): never paper over that with a fresh chain.
        if (reopened->newest_seq() + 64 < failed->newest_seq() ||
            (failed->newest_seq() > 0 && reopened->newest_seq() == 0)) {
            reopened->close();
            throw AuditUnavailable("the audit log on disk ends at seq " +
                                   std::to_string(reopened->newest_seq()) + " but had reached " +
                                   std::to_string(failed->newest_seq()) +
                                   ": files are missing; investigate, then restart keydesk");
        }
        lock.lock();
        for (auto& warning : reopened->warnings()) warnings_.push_back(warning);
        warnings_.push_back("audit log recovered after: " + failed->failure());
        log_ = std::move(reopened);
        return true;
    } catch (const std::exception& error) {
        lock.lock();
        last_failure_ = error.what();
        return false;
    }
}

std::uint64_t RecoveringAuditLog::append(boost::json::object fields) {
    if (!current()->healthy() && !try_recover()) {
        throw AuditUnavailable(failure());
    }
    return current()->append(std::move(fields));
}

bool RecoveringAuditLog::healthy() { return current()->healthy() || try_recover(); }

std::string RecoveringAuditLog::failure() const {
    std::lock_guard lock(mutex_);
    if (log_->healthy()) return {};
    return last_failure_.empty() ? log_->failure() : log_->failure() + "; reopening: " + last_failure_;
}

std::vector<std::string> RecoveringAuditLog::take_warnings() {
    std::lock_guard lock(mutex_);
    return std::exchange(warnings_, {});
}

}  // namespace keydesk::audit
