// The integrity banner's source: `verify` of the whole log at start, every interval, and on
// request, with the newest result kept for the Audit page.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "audit/audit_log.hpp"

namespace keydesk::audit {

struct IntegrityResult {
    VerifyReport report;
    std::string time;  // when it finished, UTC
    std::chrono::milliseconds duration{0};
};

class IntegrityMonitor {
public:
    // Starts a thread that verifies at once and then every `interval` (`options.live` is set:
    // the log is being written).
    IntegrityMonitor(VerifyOptions options, std::chrono::minutes interval);
    ~IntegrityMonitor();
    IntegrityMonitor(const IntegrityMonitor&) = delete;
    IntegrityMonitor& operator=(const IntegrityMonitor&) = delete;

    // Verifies now (after any run in progress) and returns the result.
    IntegrityResult verify_now();
    std::optional<IntegrityResult> last() const;
    bool running() const;

private:
    IntegrityResult run();

    VerifyOptions options_;
    std::chrono::minutes interval_;
    std::mutex run_mutex_;  // one verification at a time
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::optional<IntegrityResult> last_;
    bool running_ = false;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace keydesk::audit
