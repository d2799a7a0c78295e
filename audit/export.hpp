// Exports of the audit log for the security team: CSV and JSON Lines, and the evidence bundle a
// third party verifies offline. Each is produced piece by piece (constant memory whatever the
// size), reading the records back from the files the index points at.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_index.hpp"
#include "audit/checkpoint.hpp"

struct archive;  // libarchive

namespace keydesk::audit {

// One CSV cell (RFC 4180): quoted when it holds a comma, quote, CR or LF; a cell a spreadsheet
// would run as a formula (starting with = + - @ tab or CR) gets a leading ' first.
std::string csv_cell(std::string_view text);
// Cells joined by commas, ending in CRLF.
std::string csv_line(const std::vector<std::string>& cells);

inline constexpr std::string_view audit_csv_columns[] = {
    "seq", "time", "event", "actor", "outcome", "client", "computer", "key_id", "reason",
    "ticket", "request_id"};

enum class ExportFormat { csv, json };

// The records matching `filter` with seq <= `up_to`, oldest first.
class ExportStream {
public:
    ExportStream(AuditIndex& index, std::filesystem::path log_directory, AuditFilter filter,
                 std::uint64_t up_to, ExportFormat format);
    // Appends the next piece (about a thousand records) to `out`; false when nothing is left.
    // Throws std::runtime_error if a record's line is no longer where the index said.
    bool next(std::string& out);
    std::uint64_t rows() const { return rows_; }

private:
    AuditIndex& index_;
    LineReader reader_;
    AuditFilter filter_;
    std::uint64_t up_to_;
    ExportFormat format_;
    std::uint64_t after_ = 0;
    std::uint64_t rows_ = 0;
    bool header_done_ = false;
    bool done_ = false;
};

// What a bundle says about itself (manifest.json) besides the records.
struct BundleInfo {
    std::string name;          // the folder inside the archive, e.g. "keydesk-evidence-20261126T100000Z"
    std::string generated_at;  // UTC
    std::string generated_by;  // staff member
    std::string public_key_pem;
    std::string verification_report;  // `keydesk audit verify` of the whole log, as text
};

// A .tar.gz: README.txt, public-key.pem, verification.txt, records.jsonl (the selected lines),
// chain.jsonl (every line of each signed segment holding a selected record, with its
// checkpoint) and manifest.json. `keydesk audit verify --bundle` checks it offline.
// Records must be covered by a checkpoint: pass `up_to` no later than the newest checkpoint's
// covers_seq.
class BundleStream {
public:
    BundleStream(AuditIndex& index, std::filesystem::path log_directory, AuditFilter filter,
                 std::uint64_t up_to, BundleInfo info);
    ~BundleStream();
    BundleStream(const BundleStream&) = delete;
    BundleStream& operator=(const BundleStream&) = delete;

    bool next(std::string& out);
    std::uint64_t rows() const { return selected_; }

    // libarchive's write callback appends here.
    std::string& output() { return output_; }

private:
    void plan();
    void add_entry(std::string_view name, std::uint64_t size);
    void add_file(std::string_view name, std::string_view content);
    void write(std::string_view data);

    AuditIndex& index_;
    LineReader reader_;
    AuditFilter filter_;
    std::uint64_t up_to_;
    BundleInfo info_;
    struct archive* archive_ = nullptr;
    std::string output_;

    // The plan: segments (first seq, checkpoint seq), merged, and the sizes of the two files.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> segments_;
    std::uint64_t selected_ = 0;
    std::uint64_t records_bytes_ = 0;
    std::uint64_t chain_bytes_ = 0;
    std::uint64_t chain_lines_ = 0;

    enum class Phase { start, records, chain, finish, done };
    Phase phase_ = Phase::start;
    std::uint64_t after_ = 0;           // records phase: last seq written
    std::size_t segment_ = 0;           // chain phase: current segment
    std::uint64_t chain_after_ = 0;     // chain phase: last seq written
    LineHasher records_hash_;  // for the manifest
    LineHasher chain_hash_;
};

// The result of checking a bundle (a .tar.gz or its extracted folder) with trusted public keys.
struct BundleReport {
    bool ok = false;
    std::uint64_t records = 0;      // selected records, each found in a verified segment
    std::uint64_t chain_lines = 0;
    std::uint64_t checkpoints = 0;  // checkpoints whose signature and hash verified
    std::vector<std::string> key_ids;
    std::string problem;  // the first problem found
};
BundleReport verify_bundle(const std::filesystem::path& bundle, const std::string& public_keys_pem);
std::string describe(const BundleReport& report);

}  // namespace keydesk::audit
