// A derived, rebuildable index of the audit log (SQLite) so that auditors can filter a million
// records quickly. The JSONL files stay the source of truth: the index only says where a record's
// line is, and everything shown or exported is read back from the files. The index follows the
// files as they grow and is rebuilt from scratch when it no longer matches them (edited, replaced,
// rotated away or a different log); losing it loses nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

struct sqlite3;

namespace keydesk::audit {

// What an auditor filters by; empty members do not filter. Build one with parse_filter().
struct AuditFilter {
    std::string from;      // inclusive, "YYYY-MM-DDTHH:MM:SS.mmmZ" (compared as text, as stored)
    std::string to;        // exclusive, same form
    std::string actor;     // case-insensitive
    std::string computer;  // upper case
    std::string key_id;    // 1-32 upper-case hex digits, no dashes: a prefix
    std::string event;
    std::string outcome;
    std::string reason;
    std::string ticket;

    // For the audit record of a query or an export: the members that are set.
    boost::json::object to_json() const;
};

// Parses query parameters (name -> value) into a filter. Unknown names, over-long values or
// malformed times are refused: nullopt, and `problem` says which parameter and why. Names in
// `also_allowed` (e.g. "cursor", "limit", "format") are skipped.
std::optional<AuditFilter> parse_filter(const std::vector<std::pair<std::string, std::string>>& params,
                                        const std::vector<std::string_view>& also_allowed,
                                        std::string& problem);

// "2026-11-26" or "2026-11-26T10:00[:00[.000]][Z]" -> "2026-11-26T10:00:00.000Z"; a bare date
// gives its first instant, or with `end_of_day` the first instant of the next day.
std::optional<std::string> normalize_time(std::string_view text, bool end_of_day);

// One record as the index knows it (the summary an auditor's table shows).
struct IndexedRecord {
    std::uint64_t seq = 0;
    std::string time, event, actor, outcome, client, computer, key_id, reason, ticket, request_id;
    // Where its line is, and the digest that line must have (see LineReader).
    std::string file;  // name within the log directory
    std::uint64_t line = 0, offset = 0, length = 0;
    std::string digest;
};

// The summary of a parsed record: what the table shows and CSV exports. A lookup's computer and
// Key ID are what was typed, else its first match; reason is `reason`, else `reason_code`.
IndexedRecord summarize_record(const boost::json::object& record);

// Reads records' lines back from the files, keeping the last file open (exports read many).
class LineReader {
public:
    explicit LineReader(std::filesystem::path log_directory) : directory_(std::move(log_directory)) {}
    ~LineReader();
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;
    // The exact line, if it is still where the index says, byte for byte as indexed; nullopt
    // otherwise (the files changed under the index).
    std::optional<std::string> read(const IndexedRecord& record);

private:
    std::filesystem::path directory_;
    std::string open_name_;
    int fd_ = -1;
};

class AuditIndex {
public:
    // Opens (or creates) the SQLite file; a file that cannot be used as an index is deleted and
    // made again. Nothing is read from the log until refresh().
    AuditIndex(std::filesystem::path log_directory, std::filesystem::path index_file);
    ~AuditIndex();
    AuditIndex(const AuditIndex&) = delete;
    AuditIndex& operator=(const AuditIndex&) = delete;

    // Brings the index up to date with the files: reads what was appended since, or rebuilds
    // when the files no longer match. If another thread is already doing so, returns at once
    // (queries then see the records indexed so far). Returns the newest indexed seq.
    std::uint64_t refresh();
    // As refresh(), but always waits for the index to reach the files' end.
    std::uint64_t refresh_and_wait();
    std::uint64_t indexed_seq() const { return indexed_seq_.load(); }
    std::uint64_t rebuilds() const { return rebuilds_.load(); }

    // Newest first: at most `limit` records with seq < `before` (0: from the newest) matching.
    std::vector<IndexedRecord> newest(const AuditFilter& filter, std::uint64_t before, unsigned limit);
    // Oldest first: at most `limit` records with `after` < seq <= `up_to` matching.
    std::vector<IndexedRecord> oldest(const AuditFilter& filter, std::uint64_t after,
                                      std::uint64_t up_to, unsigned limit);
    std::uint64_t count(const AuditFilter& filter, std::uint64_t up_to);

    std::optional<IndexedRecord> find(std::uint64_t seq);
    // The record's exact line, read from its file; nullopt if unknown, or if the index is stale
    // for it (the file changed): the index is then rebuilt at the next refresh().
    std::optional<std::string> read_line(std::uint64_t seq);
    // As read_line, for records from newest()/oldest(); marks the index stale on a mismatch.
    std::optional<std::string> read_line(LineReader& reader, const IndexedRecord& record);
    // The first `audit.checkpoint` record after `seq` (it covers `seq`): its seq, or nullopt.
    std::optional<std::uint64_t> covering_checkpoint(std::uint64_t seq);

    // Runs `sql` (read-only, with `?` parameters bound in order) and calls `row` for each result
    // row with the columns as text (NULL -> ""). For reports; the caller owns the SQL text.
    void select(std::string_view sql, const std::vector<std::string>& parameters,
                const std::function<void(const std::vector<std::string>&)>& row);

private:
    class Writer;
    void open_database();
    std::uint64_t catch_up();
    // Matching records with lowest <= seq <= highest, in `order` ("ASC", "DESC"; "" counts).
    std::vector<IndexedRecord> select_records(const AuditFilter& filter, std::uint64_t lowest,
                                              std::uint64_t highest, std::string_view order,
                                              unsigned limit);

    std::filesystem::path log_directory_;
    std::filesystem::path index_file_;
    sqlite3* writer_ = nullptr;  // under write_mutex_
    sqlite3* reader_ = nullptr;  // under read_mutex_
    std::mutex write_mutex_;
    std::mutex read_mutex_;
    std::atomic<std::uint64_t> indexed_seq_{0};
    std::atomic<std::uint64_t> rebuilds_{0};
    std::atomic<bool> stale_{false};
    std::uint64_t analyzed_at_ = 0;  // indexed_seq_ at the last ANALYZE (writer only)
};

}  // namespace keydesk::audit
