// The append-only audit log: JSON Lines files, HMAC-chained, each record fdatasync'd before
// append() returns. Concurrent appends share one write and one sync (group commit). Signed
// checkpoints let an auditor check the log with a public key only; rotation keeps files bounded.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>

#include "audit/checkpoint.hpp"
#include "audit/shipper.hpp"
#include "audit/signing.hpp"

namespace keydesk::audit {

// The record could not be made durable (HTTP 503 audit_unavailable). Fail closed.
class AuditUnavailable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Everything beyond the directory and the HMAC key; the defaults are the documented ones.
struct AuditSettings {
    std::chrono::milliseconds append_timeout{5000};

    // Ed25519 private key (PEM) that signs checkpoints. Empty: no checkpoints are written.
    // Set but unreadable: the constructor throws (no key is ever generated behind the operator's
    // back; `generate_signing_key` is for `keydesk audit keygen`).
    std::filesystem::path signing_key_file;
    std::uint64_t checkpoint_every_records = 1000;       // 0: not by count
    std::chrono::milliseconds checkpoint_interval{60000};  // with activity; 0: not by time

    std::uint64_t max_file_bytes = 64ull * 1024 * 1024;  // 0: no rotation by size
    bool rotate_daily = true;                            // a new file each UTC day

    // Off-host copies of every checkpoint (see shipper.hpp): "", "auto", "unix:/dev/log",
    // "udp://host:port", "tcp://host:port"; and a second file, ideally on another mount.
    std::string checkpoint_syslog;
    std::filesystem::path checkpoint_file;
    std::string syslog_hostname;                // empty: gethostname()
    std::chrono::milliseconds send_timeout{2000};  // per delivery; also the shutdown grace
    std::size_t send_queue_limit = 1024;
    std::function<void(std::string_view)> on_delivery_failure;  // called on the sender thread

    // The wall clock for record times and day rotation (tests move it); empty: system_clock.
    std::function<std::chrono::system_clock::time_point()> clock;
};

// The newest checkpoint and how its off-host copies fared (for /health and the audit banner).
struct CheckpointStatus {
    bool signing = false;  // checkpoints are written
    std::string key_id;
    std::uint64_t seq = 0;         // the newest checkpoint record's seq; 0: none yet
    std::uint64_t covers_seq = 0;  // the last record it covers
    std::string time;
    std::vector<DeliveryStatus> deliveries;
    std::uint64_t dropped = 0;  // lines the sender dropped because its queue was full
};

class AuditLog {
public:
    // Opens the newest `audit-*.jsonl` in `directory` (creating the directory and a first file
    // if needed) and continues its chain. A torn last line left by a crash is moved aside into a
    // `.torn` file beside it (never dropped) and reported by warnings().
    // Throws AuditUnavailable when the directory, the file or the signing key cannot be used.
    AuditLog(std::filesystem::path directory, std::string key,
             std::chrono::milliseconds append_timeout = std::chrono::seconds(5));
    AuditLog(std::filesystem::path directory, std::string key, AuditSettings settings);
    ~AuditLog();  // close()
    AuditLog(const AuditLog&) = delete;
    AuditLog& operator=(const AuditLog&) = delete;

    // Adds `seq`, `time`, `prev` and `mac` to `fields` and returns the record's seq once it is on
    // disk. Throws AuditUnavailable if it is not durable within the timeout; after a write or sync
    // error every later append throws too (a failed fsync is never retried and trusted).
    // `audit.checkpoint` and `audit.rotate` are the log's own events: std::invalid_argument.
    std::uint64_t append(boost::json::object fields);

    // Writes a checkpoint now if any record came after the last one; returns the last seq.
    std::uint64_t checkpoint();
    // Closes the current file (after a checkpoint) and starts a new one; returns the last seq.
    std::uint64_t rotate();
    // SIGHUP: a checkpoint, then the current file is opened again by name (a new file is started
    // if it was moved away or replaced); the off-host targets are reconnected.
    void reopen();
    // A final checkpoint, then no more appends. Idempotent; the destructor calls it.
    void close();

    // Not failed, and not stalled: a write or sync running longer than the append timeout (a
    // hung disk) makes the log unhealthy, and appends fail at once, until it completes.
    bool healthy() const;
    // A write or sync failed: this log takes no more records (a reopen may; a stall is not this).
    bool has_failed() const;
    // The seq of the newest record sealed (on disk unless the log has failed). Call once the
    // writer is idle or stopped (after close()).
    std::uint64_t newest_seq() const;
    std::string failure() const;
    // Start-up notes (a repaired tail, a resumed file); fixed once the constructor returns.
    const std::vector<std::string>& warnings() const { return warnings_; }
    std::filesystem::path current_file() const;
    CheckpointStatus checkpoint_status() const;
    // The public key checkpoints are signed with (PEM); empty without a signing key.
    std::string public_key_pem() const;
    // Waits until every checkpoint so far was handed to its targets (tests); false on timeout.
    bool wait_for_deliveries(std::chrono::milliseconds timeout) const;

private:
    struct Pending;
    std::uint64_t submit(std::shared_ptr<Pending> pending, bool internal);
    void open_newest_file();
    void writer_loop();
    void process(const std::shared_ptr<Pending>& pending);
    std::uint64_t seal_record(boost::json::object fields);
    void seal_checkpoint(std::string_view reason);
    bool flush();
    void maybe_rotate();
    void start_new_file(std::string_view reason);
    void reopen_file();
    void fail(std::string reason);
    bool checkpoint_due() const;
    std::chrono::system_clock::time_point now() const;
    std::string record_time();

    std::filesystem::path directory_;
    std::string key_;
    AuditSettings settings_;
    std::optional<SigningKey> signer_;
    std::unique_ptr<CheckpointShipper> shipper_;
    std::vector<std::string> warnings_;
    std::vector<boost::json::object> opening_notes_;  // audit.rotate / audit.repair to write once open

    // The writer thread's own state (set up by the constructor before the thread starts).
    int fd_ = -1;
    std::uint64_t file_bytes_ = 0;
    std::string file_date_;  // UTC day of the file's first record, "YYYY-MM-DD"
    std::uint64_t last_seq_ = 0;
    std::string last_mac_;
    std::string last_time_;  // the newest record's time: record times never go backwards
    LineHasher segment_;               // lines since the last checkpoint (see checkpoint.hpp)
    std::uint64_t segment_from_ = 1;
    std::uint64_t since_checkpoint_ = 0;  // records since the last checkpoint
    std::chrono::steady_clock::time_point last_checkpoint_at_;
    std::string buffer_;  // sealed lines not yet written
    std::vector<std::pair<std::shared_ptr<Pending>, std::uint64_t>> unsynced_;
    std::vector<std::pair<Checkpoint, std::string>> unsent_;  // sealed checkpoints in buffer_

    // When the writer's current write/sync began (steady clock, ns); 0 while it is not in one.
    std::atomic<std::int64_t> io_started_ns_{0};
    bool stalled() const;

    mutable std::mutex mutex_;
    std::condition_variable wake_writer_;
    std::deque<std::shared_ptr<Pending>> queue_;
    std::filesystem::path file_path_;  // written by the writer under mutex_
    bool stopping_ = false;
    bool closed_ = false;
    bool failed_ = false;
    std::string failure_;
    Checkpoint last_checkpoint_;  // under mutex_
    std::thread writer_;
};

// The kind of damage verify found, first bad record first.
enum class Damage {
    none,
    edited,         // a record's bytes changed (mac, prev link or a checkpoint's SHA-256)
    missing,        // records absent from the middle or the start
    reordered,      // records out of seq order
    truncated,      // the log ends before a checkpoint it was given, or a closed file ends mid-line
    torn,           // the newest file's last line is incomplete: a crash during a write
    bad_signature,  // a checkpoint signature does not verify, or names an unknown key
    contradiction,  // two checkpoints disagree, or a checkpoint does not match the log
    malformed,      // a line that is not a sealed JSON record
    unreadable,     // a file (or the public key) could not be read
};
std::string_view damage_name(Damage damage);

// The result of checking a log directory end to end.
struct VerifyReport {
    bool ok = false;
    std::uint64_t records = 0;
    // On failure: where, and what kind of damage; `problem` starts with the damage's name.
    std::string file;
    std::uint64_t line = 0;
    std::uint64_t seq = 0;
    std::string problem;

    Damage damage = Damage::none;
    std::uint64_t files = 0;
    std::uint64_t last_seq = 0;
    bool macs_checked = false;        // an HMAC key was given
    bool signatures_checked = false;  // public keys were given
    std::uint64_t checkpoints = 0;           // checkpoints in the log, each checked
    std::uint64_t covered_seq = 0;           // the last record the newest good checkpoint covers
    std::uint64_t external_checkpoints = 0;  // distinct checkpoints from checkpoint files, matched
    std::uint64_t newest_external_seq = 0;
    std::vector<std::string> notes;          // not damage: unsigned spans, torn files kept aside
};

struct VerifyOptions {
    std::filesystem::path directory;
    std::string hmac_key;          // empty: macs are not checked (links, hashes and signatures are)
    std::string public_keys_pem;   // empty: signatures are not checked
    // Checkpoint lines from outside the host: the second file, a SIEM export or a syslog file.
    // Any line holding a checkpoint record (`{"seq":...}` anywhere in it) counts; others are skipped.
    std::vector<std::filesystem::path> checkpoint_files;
    // A log being written: an incomplete last line is a write in progress, not a torn record.
    bool live = false;
};

// Checks every file: contiguous seq, every prev link, every mac (with the HMAC key), every
// checkpoint (signature with the public keys, segment SHA-256, agreement with the chain and with
// the checkpoint files) and that the log reaches the newest checkpoint it was given.
VerifyReport verify_log(const VerifyOptions& options);
VerifyReport verify_log(const std::filesystem::path& directory, const std::string& key);

// For a terminal: "OK <n> records" or "BAD <file> line <n> seq <s>: <problem>" (as before
// checkpoints existed), then details and notes, one per line.
std::string describe(const VerifyReport& report);
boost::json::object to_json(const VerifyReport& report);

// The log's files, oldest first.
std::vector<std::filesystem::path> log_files(const std::filesystem::path& directory);

// "2026-11-26T00:23:40.123Z"
std::string utc_timestamp(std::chrono::system_clock::time_point when);

}  // namespace keydesk::audit
