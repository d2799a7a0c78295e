// CSV and JSON Lines exports, and evidence bundles (libarchive writes the .tar.gz as it goes).
#include "audit/export.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "audit/chain.hpp"
#include "audit/signing.hpp"

namespace keydesk::audit {
namespace {

namespace json = boost::json;

constexpr unsigned page_size = 1000;

std::runtime_error changed_under_us(std::uint64_t seq) {
    return std::runtime_error("the audit log changed during the export (record " + std::to_string(seq) +
                              " is no longer where the index says); the index will be rebuilt: try again");
}

std::vector<std::string> csv_cells(const IndexedRecord& record) {
    return {std::to_string(record.seq), record.time,     record.event,  record.actor,
            record.outcome,             record.client,   record.computer, record.key_id,
            record.reason,              record.ticket,   record.request_id};
}

la_ssize_t append_output(struct archive*, void* self, const void* buffer, size_t length) {
    static_cast<BundleStream*>(self)->output().append(static_cast<const char*>(buffer), length);
    return static_cast<la_ssize_t>(length);
}

std::uint64_t number_of(const json::object& object, std::string_view name) {
    const auto* value = object.if_contains(name);
    if (value && value->is_uint64()) return value->get_uint64();
    if (value && value->is_int64() && value->get_int64() >= 0) return static_cast<std::uint64_t>(value->get_int64());
    return 0;
}

}  // namespace

std::string csv_cell(std::string_view text) {
    std::string cell;
    if (!text.empty() && std::string_view("=+-@\t\r").find(text.front()) != std::string_view::npos) {
        cell += '\'';  // a spreadsheet then shows it as text instead of running it
    }
    cell += text;
    if (cell.find_first_of(",\"\r\n") == std::string::npos) return cell;
    std::string quoted = "\"";
    for (const char c : cell) {
        if (c == '"') quoted += '"';
        quoted += c;
    }
    quoted += '"';
    return quoted;
}

std::string csv_line(const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (i > 0) line += ',';
        line += csv_cell(cells[i]);
    }
    line += "\r\n";
    return line;
}

// ---------------------------------------------------------------------------------------------

ExportStream::ExportStream(AuditIndex& index, std::filesystem::path log_directory, AuditFilter filter,
                           std::uint64_t up_to, ExportFormat format)
    : index_(index), reader_(std::move(log_directory)), filter_(std::move(filter)), up_to_(up_to),
      format_(format) {}

bool ExportStream::next(std::string& out) {
    if (!header_done_) {
        header_done_ = true;
        if (format_ == ExportFormat::csv) {
            out += csv_line({std::begin(audit_csv_columns), std::end(audit_csv_columns)});
        }
    }
    if (done_) return false;
    const auto page = index_.oldest(filter_, after_, up_to_, page_size);
    for (const auto& record : page) {
        const auto line = index_.read_line(reader_, record);
        if (!line) throw changed_under_us(record.seq);
        if (format_ == ExportFormat::json) {
            out += *line;
            out += '\n';
        } else {
            // The cells come from the line in the file, not from the index.
            boost::system::error_code error;
            const auto value = json::parse(*line, error);
            if (error || !value.is_object()) throw changed_under_us(record.seq);
            out += csv_line(csv_cells(summarize_record(value.get_object())));
        }
        after_ = record.seq;
        ++rows_;
    }
    done_ = page.size() < page_size;
    return !done_;
}

// ---------------------------------------------------------------------------------------------

BundleStream::BundleStream(AuditIndex& index, std::filesystem::path log_directory, AuditFilter filter,
                           std::uint64_t up_to, BundleInfo info)
    : index_(index), reader_(std::move(log_directory)), filter_(std::move(filter)), up_to_(up_to),
      info_(std::move(info)) {
    archive_ = archive_write_new();
    if (!archive_ || archive_write_add_filter_gzip(archive_) != ARCHIVE_OK ||
        archive_write_set_format_pax_restricted(archive_) != ARCHIVE_OK ||
        archive_write_open(archive_, this, nullptr, append_output, nullptr) != ARCHIVE_OK) {
        throw std::runtime_error(std::string("evidence bundle: ") +
                                 (archive_ ? archive_error_string(archive_) : "out of memory"));
    }
}

BundleStream::~BundleStream() {
    if (archive_) archive_write_free(archive_);
}

// Which signed segments the selected records fall in, and how large the two files will be.
void BundleStream::plan() {
    // The segment [from, checkpoint] holding the previous record.
    std::uint64_t segment_from = 0, checkpoint = 0;
    std::uint64_t after = 0;
    const auto not_covered = [](std::uint64_t seq) {
        return std::runtime_error("record " + std::to_string(seq) + " is not covered by a signed checkpoint" +
                                  " (written before checkpoints were signed, or not yet checkpointed)");
    };
    while (true) {
        const auto page = index_.oldest(filter_, after, up_to_, page_size);
        for (const auto& record : page) {
            ++selected_;
            records_bytes_ += record.length + 1;
            after = record.seq;
            if (record.seq >= segment_from && record.seq < checkpoint) continue;
            const auto covering = index_.covering_checkpoint(record.seq);
            if (!covering) throw not_covered(record.seq);
            checkpoint = *covering;
            const auto line = index_.read_line(*covering);
            boost::system::error_code error;
            const auto value = line ? json::parse(*line, error) : json::value();
            if (!line || error || !value.is_object()) throw changed_under_us(*covering);
            const auto from = std::max<std::uint64_t>(1, number_of(value.get_object(), "from_seq"));
            // The first signed checkpoint of a log begun unsigned vouches only from its from_seq.
            if (record.seq < from) throw not_covered(record.seq);
            segment_from = from;
            if (!segments_.empty() && from <= segments_.back().second) {
                segments_.back().second = checkpoint;
            } else {
                segments_.emplace_back(from, checkpoint);
            }
        }
        if (page.size() < page_size) break;
    }
    for (const auto& segment : segments_) {
        const auto first = segment.first, last = segment.second;  // (a lambda cannot capture bindings in C++20)
        index_.select("SELECT count(*), coalesce(sum(length + 1), 0) FROM records WHERE seq BETWEEN ? AND ?",
                      {std::to_string(first), std::to_string(last)},
                      [&](const std::vector<std::string>& row) {
                          if (std::stoull(row[0]) != last - first + 1) {
                              throw std::runtime_error("the audit index lacks records " +
                                                       std::to_string(first) + ".." + std::to_string(last) +
                                                       ": run `keydesk audit verify`");
                          }
                          chain_lines_ += std::stoull(row[0]);
                          chain_bytes_ += std::stoull(row[1]);
                      });
    }
}

void BundleStream::add_entry(std::string_view name, std::uint64_t size) {
    auto* entry = archive_entry_new();
    archive_entry_set_pathname(entry, (info_.name + "/" + std::string(name)).c_str());
    archive_entry_set_size(entry, static_cast<la_int64_t>(size));
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_mtime(entry, std::time(nullptr), 0);
    const int result = archive_write_header(archive_, entry);
    archive_entry_free(entry);
    if (result != ARCHIVE_OK) {
        throw std::runtime_error(std::string("evidence bundle: ") + archive_error_string(archive_));
    }
}

void BundleStream::write(std::string_view data) {
    if (archive_write_data(archive_, data.data(), data.size()) != static_cast<la_ssize_t>(data.size())) {
        throw std::runtime_error(std::string("evidence bundle: ") + archive_error_string(archive_));
    }
}

void BundleStream::add_file(std::string_view name, std::string_view content) {
    add_entry(name, content.size());
    write(content);
}

bool BundleStream::next(std::string& out) {
    switch (phase_) {
        case Phase::start: {
            plan();
            std::ostringstream readme;
            readme << "keydesk evidence bundle " << info_.name << "\n\n"
                   << "records.jsonl   the " << selected_ << " selected audit records, exactly as in the log\n"
                   << "chain.jsonl     every line of each signed segment that holds a selected record,\n"
                   << "                ending with the signed checkpoint that vouches for the segment\n"
                   << "public-key.pem  the key the checkpoints were signed with\n"
                   << "verification.txt  keydesk's check of the whole log when the bundle was made\n"
                   << "manifest.json   the filters, counts and SHA-256 of the two .jsonl files\n\n"
                   << "To verify offline:\n\n"
                   << "    keydesk audit verify --bundle " << info_.name << ".tar.gz --public-key KEY.pem\n\n"
                   << "KEY.pem must come from the keydesk operators by another channel (compare its key\n"
                   << "id, `keydesk audit public-key` prints it): whoever made this bundle could have\n"
                   << "put their own key in public-key.pem. verify checks each checkpoint's Ed25519\n"
                   << "signature, the SHA-256 of its segment, the prev/mac links between the lines,\n"
                   << "and that every selected record is in a verified segment. See audit/README.md.\n";
            add_file("README.txt", readme.str());
            add_file("public-key.pem", info_.public_key_pem);
            add_file("verification.txt", info_.verification_report);
            add_entry("records.jsonl", records_bytes_);
            phase_ = Phase::records;
            break;
        }
        case Phase::records: {
            const auto page = index_.oldest(filter_, after_, up_to_, page_size);
            for (const auto& record : page) {
                const auto line = index_.read_line(reader_, record);
                if (!line) throw changed_under_us(record.seq);
                write(*line);
                write("\n");
                records_hash_.add_line(*line);
                after_ = record.seq;
            }
            if (page.size() < page_size) {
                add_entry("chain.jsonl", chain_bytes_);
                phase_ = Phase::chain;
                chain_after_ = segments_.empty() ? 0 : segments_.front().first - 1;
            }
            break;
        }
        case Phase::chain: {
            if (segment_ >= segments_.size()) {
                phase_ = Phase::finish;
                break;
            }
            const auto [first, last] = segments_[segment_];
            chain_after_ = std::max(chain_after_, first - 1);
            const auto page = index_.oldest(AuditFilter{}, chain_after_, last, page_size);
            for (const auto& record : page) {
                const auto line = index_.read_line(reader_, record);
                if (!line) throw changed_under_us(record.seq);
                write(*line);
                write("\n");
                chain_hash_.add_line(*line);
                chain_after_ = record.seq;
            }
            if (page.size() < page_size) ++segment_;
            break;
        }
        case Phase::finish: {
            json::array segments;
            for (const auto& [first, last] : segments_) segments.push_back(json::array{first, last});
            const json::object manifest{
                {"format", "keydesk-evidence-bundle-1"},
                {"generated_at", info_.generated_at},
                {"generated_by", info_.generated_by},
                {"filters", filter_.to_json()},
                {"up_to_seq", up_to_},
                {"records", selected_},
                {"chain_lines", chain_lines_},
                {"segments", segments},
                {"records_sha256", records_hash_.hex()},
                {"chain_sha256", chain_hash_.hex()},
            };
            add_file("manifest.json", json::serialize(manifest) + "\n");
            if (archive_write_close(archive_) != ARCHIVE_OK) {
                throw std::runtime_error(std::string("evidence bundle: ") + archive_error_string(archive_));
            }
            phase_ = Phase::done;
            break;
        }
        case Phase::done: break;
    }
    out += output_;
    output_.clear();
    return phase_ != Phase::done;
}

// ---------------------------------------------------------------------------------------------
// Verifying a bundle

namespace {

// The bundle's files by name (without the folder), from a .tar.gz or an extracted folder.
std::map<std::string, std::string> read_bundle(const std::filesystem::path& bundle) {
    std::map<std::string, std::string> files;
    if (std::filesystem::is_directory(bundle)) {
        for (const auto& entry : std::filesystem::directory_iterator(bundle)) {
            if (!entry.is_regular_file()) continue;
            std::ifstream in(entry.path(), std::ios::binary);
            std::ostringstream content;
            content << in.rdbuf();
            files[entry.path().filename().string()] = content.str();
        }
        return files;
    }
    auto* archive = archive_read_new();
    archive_read_support_filter_gzip(archive);
    archive_read_support_format_tar(archive);
    if (archive_read_open_filename(archive, bundle.c_str(), 1 << 16) != ARCHIVE_OK) {
        const std::string problem = archive_error_string(archive);
        archive_read_free(archive);
        throw std::runtime_error(bundle.string() + ": " + problem);
    }
    struct archive_entry* entry = nullptr;
    while (archive_read_next_header(archive, &entry) == ARCHIVE_OK) {
        const std::filesystem::path name(archive_entry_pathname(entry));
        std::string content;
        char buffer[1 << 16];
        la_ssize_t n;
        while ((n = archive_read_data(archive, buffer, sizeof buffer)) > 0) {
            content.append(buffer, static_cast<std::size_t>(n));
        }
        if (n < 0) {
            const std::string problem = archive_error_string(archive);
            archive_read_free(archive);
            throw std::runtime_error(bundle.string() + ": " + problem);
        }
        files[name.filename().string()] = std::move(content);
    }
    archive_read_free(archive);
    return files;
}

struct ChainLine {
    std::string text;
    std::string prev;
    std::string mac;
    json::object record;
};

std::vector<std::string_view> split_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        const auto end = text.find('\n');
        lines.push_back(text.substr(0, end));
        if (end == std::string_view::npos) break;
        text.remove_prefix(end + 1);
    }
    return lines;
}

}  // namespace

BundleReport verify_bundle(const std::filesystem::path& bundle, const std::string& public_keys_pem) {
    BundleReport report;
    const auto fail = [&](std::string problem) {
        report.ok = false;
        report.problem = std::move(problem);
        return report;
    };
    PublicKeys keys;
    try {
        keys = PublicKeys::parse(public_keys_pem);
    } catch (const SigningError& error) {
        return fail(std::string("unreadable: the public key: ") + error.what());
    }
    report.key_ids = keys.key_ids();
    std::map<std::string, std::string> files;
    try {
        files = read_bundle(bundle);
    } catch (const std::exception& error) {
        return fail(std::string("unreadable: ") + error.what());
    }
    if (!files.contains("chain.jsonl") || !files.contains("records.jsonl")) {
        return fail("malformed: chain.jsonl or records.jsonl is missing");
    }

    // Every chain line, by seq, in order and each once.
    std::map<std::uint64_t, ChainLine> chain;
    for (const auto line : split_lines(files["chain.jsonl"])) {
        boost::system::error_code error;
        auto value = json::parse(line, error);
        const auto split = split_line(line);
        if (error || !value.is_object() || !split) return fail("malformed: chain.jsonl holds a line that is not a record");
        const auto seq = number_of(value.get_object(), "seq");
        if (seq == 0 || (!chain.empty() && seq <= chain.rbegin()->first)) {
            return fail("reordered: chain.jsonl is not in seq order at seq " + std::to_string(seq));
        }
        const auto* prev = value.get_object().if_contains("prev");
        chain[seq] = ChainLine{std::string(line), prev && prev->is_string() ? std::string(prev->get_string()) : "",
                               split->mac, std::move(value.get_object())};
        ++report.chain_lines;
    }

    // Each checkpoint: its signature, its segment's SHA-256 and its link to the chain head.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> verified;  // covered seq ranges
    for (const auto& [seq, line] : chain) {
        const auto* event = line.record.if_contains("event");
        if (!event || !event->is_string() || event->get_string() != checkpoint_event) continue;
        const auto checkpoint = checkpoint_from_record(line.record);
        if (!checkpoint) return fail("malformed: checkpoint " + std::to_string(seq));
        // The checkpoint a segment starts with closes an earlier segment the bundle need not
        // hold; it is vouched for by the next checkpoint's SHA-256 instead. (A segment cut at
        // its start is caught below: its lines are then in no verified segment.)
        if (!chain.contains(checkpoint->from_seq)) continue;
        if (!keys.verify(checkpoint->key_id, checkpoint_note(*checkpoint), checkpoint->signature)) {
            return fail("bad_signature: checkpoint " + std::to_string(seq) + " (key " + checkpoint->key_id +
                        ") does not verify with the trusted public key");
        }
        LineHasher hasher;
        for (auto s = checkpoint->from_seq; s <= checkpoint->covers_seq; ++s) {
            const auto found = chain.find(s);
            if (found == chain.end()) {
                return fail("missing: record " + std::to_string(s) + " of the segment of checkpoint " +
                            std::to_string(seq));
            }
            hasher.add_line(found->second.text);
        }
        if (hasher.hex() != checkpoint->sha256) {
            return fail("edited: the lines " + std::to_string(checkpoint->from_seq) + ".." +
                        std::to_string(checkpoint->covers_seq) + " do not match checkpoint " +
                        std::to_string(seq) + "'s SHA-256");
        }
        const auto head = chain.find(checkpoint->covers_seq);
        if (head == chain.end() || head->second.mac != checkpoint->covers_mac || line.prev != checkpoint->covers_mac) {
            return fail("contradiction: checkpoint " + std::to_string(seq) + " does not match the chain head");
        }
        verified.emplace_back(checkpoint->from_seq, seq);
        ++report.checkpoints;
    }
    // The prev links between neighbouring lines (macs need the HMAC key; the SHA-256 covers bytes).
    for (auto it = chain.begin(); it != chain.end(); ++it) {
        const auto next = std::next(it);
        if (next != chain.end() && next->first == it->first + 1 && next->second.prev != it->second.mac) {
            return fail("edited: record " + std::to_string(next->first) + "'s prev does not link to record " +
                        std::to_string(it->first));
        }
    }
    const auto covered = [&](std::uint64_t seq) {
        return std::any_of(verified.begin(), verified.end(),
                           [&](const auto& range) { return seq >= range.first && seq <= range.second; });
    };
    for (const auto& [seq, line] : chain) {
        if (!covered(seq)) return fail("unsigned: chain.jsonl record " + std::to_string(seq) + " is in no signed segment");
    }
    // The manifest's counts and digests, when it is there, must match the files it describes
    // (a line dropped from or repeated in records.jsonl is otherwise still "in the chain").
    if (const auto manifest = files.find("manifest.json"); manifest != files.end()) {
        boost::system::error_code error;
        const auto value = json::parse(manifest->second, error);
        if (error || !value.is_object()) return fail("malformed: manifest.json");
        const auto& object = value.get_object();
        LineHasher records_hash, chain_hash;
        std::uint64_t record_lines = 0;
        for (const auto line : split_lines(files["records.jsonl"])) {
            records_hash.add_line(line);
            ++record_lines;
        }
        for (const auto line : split_lines(files["chain.jsonl"])) chain_hash.add_line(line);
        const auto* records_sha = object.if_contains("records_sha256");
        const auto* chain_sha = object.if_contains("chain_sha256");
        if (number_of(object, "records") != record_lines || !records_sha || !records_sha->is_string() ||
            records_sha->get_string() != records_hash.hex() || !chain_sha || !chain_sha->is_string() ||
            chain_sha->get_string() != chain_hash.hex()) {
            return fail("edited: records.jsonl or chain.jsonl does not match manifest.json");
        }
    }
    for (const auto line : split_lines(files["records.jsonl"])) {
        const auto seq = leading_seq(line);
        if (!seq) return fail("malformed: records.jsonl holds a line that is not a record");
        const auto found = chain.find(*seq);
        if (found == chain.end() || found->second.text != line) {
            return fail("edited: selected record " + std::to_string(*seq) + " differs from the signed chain");
        }
        ++report.records;
    }
    report.ok = true;
    return report;
}

std::string describe(const BundleReport& report) {
    std::ostringstream text;
    if (report.ok) {
        text << "OK bundle: " << report.records << " selected records, each in a signed segment; "
             << report.chain_lines << " chain lines; " << report.checkpoints << " checkpoints verified";
    } else {
        text << "BAD bundle: " << report.problem;
    }
    text << "\ntrusted key ids:";
    for (const auto& id : report.key_ids) text << " " << id;
    text << "\n";
    return text.str();
}

}  // namespace keydesk::audit
