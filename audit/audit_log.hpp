// The append-only audit log: JSON Lines files, HMAC-chained, each record fdatasync'd before
// append() returns. Concurrent appends share one write and one sync (group commit).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>

namespace keydesk::audit {

// The record could not be made durable (HTTP 503 audit_unavailable). Fail closed.
class AuditUnavailable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class AuditLog {
public:
    // Opens the newest `audit-*.jsonl` in `directory` (creating the directory and a first file
    // if needed) and continues its chain. A torn last line left by a crash is moved aside into a
    // `.torn` file beside it (never dropped) and reported by warnings().
    // Throws AuditUnavailable when the directory or the file cannot be used.
    AuditLog(std::filesystem::path directory, std::string key,
             std::chrono::milliseconds append_timeout = std::chrono::seconds(5));
    ~AuditLog();
    AuditLog(const AuditLog&) = delete;
    AuditLog& operator=(const AuditLog&) = delete;

    // Adds `seq`, `time`, `prev` and `mac` to `fields` and returns the record's seq once it is on
    // disk. Throws AuditUnavailable if it is not durable within the timeout; after a write or sync
    // error every later append throws too (a failed fsync is never retried and trusted).
    std::uint64_t append(boost::json::object fields);

    bool healthy() const;
    std::string failure() const;
    const std::vector<std::string>& warnings() const { return warnings_; }
    const std::filesystem::path& current_file() const { return file_path_; }

private:
    struct Pending;
    void open_newest_file();
    void writer_loop();
    void fail_locked(std::string reason);

    std::filesystem::path directory_;
    std::string key_;
    std::chrono::milliseconds append_timeout_;
    std::filesystem::path file_path_;
    int fd_ = -1;
    std::uint64_t last_seq_ = 0;
    std::string last_mac_;
    std::vector<std::string> warnings_;
    boost::json::object repair_note_;  // an audit.repair record to write once open

    mutable std::mutex mutex_;
    std::condition_variable wake_writer_;
    std::deque<std::shared_ptr<Pending>> queue_;
    bool stopping_ = false;
    bool failed_ = false;
    std::string failure_;
    std::thread writer_;
};

// The result of checking a log directory end to end.
struct VerifyReport {
    bool ok = false;
    std::uint64_t records = 0;
    // On failure: where, and what kind of damage (edited, missing, reordered, torn, malformed).
    std::string file;
    std::uint64_t line = 0;
    std::uint64_t seq = 0;
    std::string problem;
};

// Checks every file: contiguous seq, every prev link and (if `key` is non-empty) every mac.
VerifyReport verify_log(const std::filesystem::path& directory, const std::string& key);

// The log's files, oldest first.
std::vector<std::filesystem::path> log_files(const std::filesystem::path& directory);

// "2026-11-26T00:23:40.123Z"
std::string utc_timestamp(std::chrono::system_clock::time_point when);

}  // namespace keydesk::audit
