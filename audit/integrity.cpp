#include "audit/integrity.hpp"

namespace keydesk::audit {

IntegrityMonitor::IntegrityMonitor(VerifyOptions options, std::chrono::minutes interval)
    : options_(std::move(options)), interval_(interval) {
    options_.live = true;
    thread_ = std::thread([this] {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            lock.unlock();
            verify_now();
            lock.lock();
            wake_.wait_for(lock, interval_, [this] { return stopping_; });
        }
    });
}

IntegrityMonitor::~IntegrityMonitor() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

IntegrityResult IntegrityMonitor::run() {
    const auto started = std::chrono::steady_clock::now();
    IntegrityResult result;
    result.report = verify_log(options_);
    result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    result.time = utc_timestamp(std::chrono::system_clock::now());
    return result;
}

IntegrityResult IntegrityMonitor::verify_now() {
    std::lock_guard run_lock(run_mutex_);
    {
        std::lock_guard lock(mutex_);
        running_ = true;
    }
    auto result = run();
    std::lock_guard lock(mutex_);
    running_ = false;
    last_ = result;
    return result;
}

std::optional<IntegrityResult> IntegrityMonitor::last() const {
    std::lock_guard lock(mutex_);
    return last_;
}

bool IntegrityMonitor::running() const {
    std::lock_guard lock(mutex_);
    return running_;
}

}  // namespace keydesk::audit
