// verify_log: walks every audit file and names the first record that breaks the chain, a
// checkpoint, or agreement with the checkpoints kept outside the host.
#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "audit/audit_log.hpp"
#include "audit/chain.hpp"

namespace keydesk::audit {
namespace {

std::optional<std::string> read_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return std::nullopt;
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return std::nullopt;
    return content;
}

std::string range_text(std::uint64_t first, std::uint64_t last) {
    return first == last ? "record " + std::to_string(first)
                         : "records " + std::to_string(first) + " to " + std::to_string(last);
}

const boost::json::string* string_member(const boost::json::object& record, std::string_view name) {
    const auto* value = record.if_contains(name);
    return value ? value->if_string() : nullptr;
}

// The exact covered bytes a checkpoint record has when written by AuditLog: anything else in it
// (an added member, a changed actor) is outside what the signature vouches for.
std::string expected_checkpoint_bytes(const Checkpoint& checkpoint, std::string_view prev) {
    boost::json::object record;
    record["seq"] = checkpoint.seq;
    record["time"] = checkpoint.time;
    for (auto& [name, value] : checkpoint_fields(checkpoint)) record[name] = std::move(value);
    record["prev"] = prev;
    return boost::json::serialize(record);
}

struct External {
    std::string line;
    std::filesystem::path source;
    std::uint64_t source_line = 0;
    bool matched = false;
};

class Verifier {
public:
    explicit Verifier(const VerifyOptions& options) : options_(options) {}

    VerifyReport run() {
        report_.macs_checked = !options_.hmac_key.empty();
        if (!load_public_keys() || !load_external() || !walk() || !reaches_external()) return report_;
        add_notes();
        report_.ok = true;
        return report_;
    }

private:
    bool fail(Damage damage, std::string problem, const std::filesystem::path& file,
              std::uint64_t line, std::uint64_t seq) {
        report_.ok = false;
        report_.damage = damage;
        report_.problem = std::move(problem);
        report_.file = file.string();
        report_.line = line;
        report_.seq = seq;
        return false;
    }

    bool load_public_keys() {
        if (options_.public_keys_pem.empty()) return true;
        try {
            keys_ = PublicKeys::parse(options_.public_keys_pem);
        } catch (const SigningError& error) {
            return fail(Damage::unreadable, std::string("unreadable: the public key: ") + error.what(),
                        {}, 0, 0);
        }
        report_.signatures_checked = true;
        return true;
    }

    // The signature, and that the checkpoint agrees with itself; `where` names it in problems.
    bool check_signature(const Checkpoint& checkpoint, const std::filesystem::path& file,
                         std::uint64_t line) {
        if (keys_.empty()) return true;
        if (!keys_.knows(checkpoint.key_id)) {
            return fail(Damage::bad_signature,
                        "bad signature: the checkpoint at seq " + std::to_string(checkpoint.seq) +
                            " names key " + checkpoint.key_id + ", which is not among the given public keys",
                        file, line, checkpoint.seq);
        }
        if (!keys_.verify(checkpoint.key_id, checkpoint_note(checkpoint), checkpoint.signature)) {
            return fail(Damage::bad_signature,
                        "bad signature: the checkpoint at seq " + std::to_string(checkpoint.seq) +
                            " does not verify under key " + checkpoint.key_id,
                        file, line, checkpoint.seq);
        }
        return true;
    }

    bool load_external() {
        for (const auto& path : options_.checkpoint_files) {
            const auto content = read_file(path);
            if (!content) return fail(Damage::unreadable, "unreadable: checkpoint file", path, 0, 0);
            std::istringstream in(*content);
            std::uint64_t number = 0;
            for (std::string text; std::getline(in, text);) {
                ++number;
                // A syslog file or SIEM export wraps the record in its own prefix: take the record.
                const auto at = text.find(R"({"seq":)");
                if (at == std::string::npos || text.find(R"("event":"audit.checkpoint")", at) == std::string::npos) {
                    continue;
                }
                auto line = text.substr(at);
                while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
                    line.pop_back();
                }
                const auto split = split_line(line);
                boost::system::error_code error;
                const auto value = split ? boost::json::parse(split->covered, error) : boost::json::value();
                const auto* record = value.if_object();
                const auto checkpoint = record && !error ? checkpoint_from_record(*record) : std::nullopt;
                const auto* prev = record ? string_member(*record, "prev") : nullptr;
                if (!checkpoint || !prev) {
                    return fail(Damage::malformed, "malformed: a checkpoint line that does not parse",
                                path, number, 0);
                }
                if (!options_.hmac_key.empty() &&
                    !same_mac(hmac_hex(options_.hmac_key, split->covered), split->mac)) {
                    return fail(Damage::edited, "edited: the mac of this checkpoint copy does not match",
                                path, number, checkpoint->seq);
                }
                if (checkpoint->covers_seq + 1 != checkpoint->seq || *prev != checkpoint->covers_mac) {
                    return fail(Damage::contradiction,
                                "contradiction: the checkpoint copy at seq " + std::to_string(checkpoint->seq) +
                                    " does not cover the record just before it",
                                path, number, checkpoint->seq);
                }
                if (!check_signature(*checkpoint, path, number)) return false;
                const auto [entry, inserted] =
                    external_.try_emplace(checkpoint->seq, External{line, path, number, false});
                if (!inserted && entry->second.line != line) {
                    return fail(Damage::contradiction,
                                "contradiction: two checkpoints for seq " + std::to_string(checkpoint->seq) +
                                    " disagree (" + entry->second.source.string() + " line " +
                                    std::to_string(entry->second.source_line) + " and this one)",
                                path, number, checkpoint->seq);
                }
            }
        }
        report_.external_checkpoints = external_.size();
        report_.newest_external_seq = external_.empty() ? 0 : external_.rbegin()->first;
        return true;
    }

    // Whether a record numbered `seq` comes later in the log (a swap, not a loss).
    bool appears_later(std::uint64_t seq, const std::string& content, std::size_t position,
                       std::size_t file_index) const {
        auto scan = [seq](std::string_view text) {
            std::size_t at = 0;
            while (at < text.size()) {
                auto end = text.find('\n', at);
                if (end == std::string_view::npos) end = text.size();
                if (leading_seq(text.substr(at, end - at)) == seq) return true;
                at = end + 1;
            }
            return false;
        };
        if (scan(std::string_view(content).substr(position))) return true;
        for (auto i = file_index + 1; i < files_.size(); ++i) {
            if (const auto later = read_file(files_[i]); later && scan(*later)) return true;
        }
        return false;
    }

    bool check_checkpoint(const boost::json::object& record, const SplitLine& split,
                          std::string_view prev, const std::filesystem::path& file,
                          std::uint64_t line, std::uint64_t seq) {
        const auto checkpoint = checkpoint_from_record(record);
        if (!checkpoint) return fail(Damage::malformed, "malformed: a checkpoint lacks a member", file, line, seq);
        if (checkpoint->covers_seq + 1 != seq || checkpoint->covers_mac != prev) {
            return fail(Damage::contradiction,
                        "contradiction: the checkpoint at seq " + std::to_string(seq) +
                            " does not cover the record just before it",
                        file, line, seq);
        }
        if (!check_signature(*checkpoint, file, line)) return false;
        if (split.covered != expected_checkpoint_bytes(*checkpoint, prev)) {
            return fail(Damage::edited,
                        "edited: the checkpoint at seq " + std::to_string(seq) +
                            " carries members its signature does not cover",
                        file, line, seq);
        }
        const LineHasher* segment = nullptr;
        if (checkpoint->from_seq == segment_from_) {
            segment = &segment_;
        } else if (checkpoint->from_seq == file_segment_from_) {
            segment = &file_segment_;
            if (file_segment_from_ > segment_from_) {
                report_.notes.push_back(range_text(segment_from_, file_segment_from_ - 1) +
                                        (file_segment_from_ - 1 > segment_from_ ? " are" : " is") +
                                        " covered by no checkpoint (written without a signing key?)");
            }
        } else {
            return fail(Damage::contradiction,
                        "contradiction: the checkpoint at seq " + std::to_string(seq) +
                            " hashes from seq " + std::to_string(checkpoint->from_seq) +
                            ", where no segment of the log starts",
                        file, line, seq);
        }
        if (segment->hex() != checkpoint->sha256) {
            return fail(Damage::edited,
                        "edited: a line among " + range_text(checkpoint->from_seq, checkpoint->covers_seq) +
                            " changed since the checkpoint at seq " + std::to_string(seq) +
                            " signed them (give the HMAC key to name the record)",
                        file, line, checkpoint->from_seq);
        }
        ++report_.checkpoints;
        report_.covered_seq = checkpoint->covers_seq;
        newest_checkpoint_seq_ = seq;
        segment_ = LineHasher();
        segment_from_ = seq;
        return true;
    }

    bool walk() {
        files_ = log_files(options_.directory);
        report_.files = files_.size();
        std::uint64_t expected_seq = 1;
        std::string expected_prev(genesis_mac);
        std::filesystem::path previous_file;
        std::uint64_t previous_line = 0;

        for (std::size_t file_index = 0; file_index < files_.size(); ++file_index) {
            const auto& file = files_[file_index];
            const auto loaded = read_file(file);
            if (!loaded) return fail(Damage::unreadable, "unreadable: cannot read the file", file, 0, expected_seq);
            const std::string& content = *loaded;
            const bool last_file = file_index + 1 == files_.size();
            file_segment_ = LineHasher();
            file_segment_from_ = expected_seq;
            if (content.empty() && !last_file) report_.notes.push_back(file.filename().string() + " is empty");

            std::size_t position = 0;
            std::uint64_t line_number = 0;
            while (position < content.size()) {
                ++line_number;
                const auto end = content.find('\n', position);
                if (end == std::string::npos) {
                    if (!last_file) {
                        return fail(Damage::truncated,
                                    "truncated: a closed file ends in the middle of a record",
                                    file, line_number, expected_seq);
                    }
                    if (options_.live) {
                        report_.notes.push_back("the last line of " + file.filename().string() +
                                                " is still being written");
                        break;
                    }
                    return fail(Damage::torn,
                                "torn: the last line is incomplete (a crash during a write; keydesk "
                                "moves it aside on its next start)",
                                file, line_number, expected_seq);
                }
                const std::string_view line(content.data() + position, end - position);
                position = end + 1;

                const auto split = split_line(line);
                boost::system::error_code parse_error;
                const auto value = split ? boost::json::parse(split->covered, parse_error) : boost::json::value();
                const auto* record = value.if_object();
                if (!split || parse_error || !record) {
                    return fail(Damage::malformed, "malformed: not a sealed JSON record", file, line_number, expected_seq);
                }
                const auto* seq_value = record->if_contains("seq");
                const auto* prev_value = string_member(*record, "prev");
                if (!seq_value || !seq_value->is_int64() || seq_value->as_int64() < 1 || !prev_value) {
                    return fail(Damage::malformed, "malformed: seq or prev missing", file, line_number, expected_seq);
                }
                const auto seq = static_cast<std::uint64_t>(seq_value->as_int64());
                if (!options_.hmac_key.empty() &&
                    !same_mac(hmac_hex(options_.hmac_key, split->covered), split->mac)) {
                    return fail(Damage::edited, "edited: the mac does not match the record", file, line_number, seq);
                }
                if (seq > expected_seq) {
                    if (appears_later(expected_seq, content, position, file_index)) {
                        return fail(Damage::reordered,
                                    "reordered: seq " + std::to_string(seq) + " stands where " +
                                        std::to_string(expected_seq) + " belongs, which comes later",
                                    file, line_number, seq);
                    }
                    return fail(Damage::missing,
                                "missing: " + range_text(expected_seq, seq - 1) + (seq - 1 > expected_seq ? " are" : " is") +
                                    " gone",
                                file, line_number, seq);
                }
                if (seq < expected_seq) {
                    return fail(Damage::reordered,
                                "reordered: seq " + std::to_string(seq) + " stands where " +
                                    std::to_string(expected_seq) + " belongs",
                                file, line_number, seq);
                }
                if (*prev_value != expected_prev) {
                    if (seq == 1) {
                        return fail(Damage::edited, "edited: the first record's prev is not the genesis value",
                                    file, line_number, seq);
                    }
                    // The two records are each intact, but do not belong together: the earlier one
                    // was rewritten (a new mac) or this one's prev was.
                    return fail(Damage::edited,
                                "edited: record " + std::to_string(seq - 1) + " is not the one record " +
                                    std::to_string(seq) + " names as prev (one of the two was changed)",
                                previous_file, previous_line, seq - 1);
                }
                const auto* event = string_member(*record, "event");
                if (event && *event == checkpoint_event &&
                    !check_checkpoint(*record, *split, *prev_value, file, line_number, seq)) {
                    return false;
                }
                if (event && *event == rotate_event) {
                    const auto* previous_mac = string_member(*record, "previous_mac");
                    if (!previous_mac || *previous_mac != expected_prev) {
                        return fail(Damage::edited, "edited: the rotation record names another previous record",
                                    file, line_number, seq);
                    }
                    const auto* named = string_member(*record, "previous_file");
                    if (line_number == 1 && file_index > 0 && named &&
                        *named != files_[file_index - 1].filename().string()) {
                        report_.notes.push_back(file.filename().string() + " names " + std::string(*named) +
                                                " as the file before it, but that is " +
                                                files_[file_index - 1].filename().string() + " (renamed?)");
                    }
                }
                if (const auto copy = external_.find(seq); copy != external_.end()) {
                    if (copy->second.line != line) {
                        return fail(Damage::contradiction,
                                    "contradiction: record " + std::to_string(seq) +
                                        " differs from the checkpoint kept in " + copy->second.source.string() +
                                        " line " + std::to_string(copy->second.source_line),
                                    file, line_number, seq);
                    }
                    copy->second.matched = true;
                }
                segment_.add_line(line);
                file_segment_.add_line(line);
                expected_seq = seq + 1;
                expected_prev = split->mac;
                previous_file = file;
                previous_line = line_number;
                ++report_.records;
            }
        }
        report_.last_seq = expected_seq - 1;
        last_file_ = files_.empty() ? options_.directory : files_.back();
        return true;
    }

    bool reaches_external() {
        if (external_.empty() || external_.rbegin()->first <= report_.last_seq) return true;
        const auto& [seq, newest] = *external_.rbegin();
        return fail(Damage::truncated,
                    "truncated: the log ends at seq " + std::to_string(report_.last_seq) + ", but " +
                        newest.source.string() + " line " + std::to_string(newest.source_line) +
                        " holds the checkpoint at seq " + std::to_string(seq) +
                        ": at least " + range_text(report_.last_seq + 1, seq) + " are gone",
                    last_file_, 0, report_.last_seq + 1);
    }

    void add_notes() {
        if (!report_.macs_checked) {
            report_.notes.push_back("macs not checked (no HMAC key given): edits are found through the checkpoints");
        }
        if (!report_.signatures_checked && report_.checkpoints > 0) {
            report_.notes.push_back("checkpoint signatures not checked (no public key given)");
        }
        if (report_.signatures_checked && report_.checkpoints == 0 && report_.records > 0) {
            report_.notes.push_back("the log holds no checkpoint: nothing in it is signed");
        }
        if (report_.checkpoints > 0 && newest_checkpoint_seq_ < report_.last_seq) {
            report_.notes.push_back(range_text(newest_checkpoint_seq_ + 1, report_.last_seq) +
                                    " came after the newest checkpoint: only the HMAC chain covers them");
        }
        std::error_code error;
        for (const auto& entry : std::filesystem::directory_iterator(options_.directory, error)) {
            if (entry.path().filename().string().find(".torn-") != std::string::npos) {
                report_.notes.push_back("torn bytes from a crash are kept aside in " + entry.path().string());
            }
        }
    }

    const VerifyOptions& options_;
    VerifyReport report_;
    PublicKeys keys_;
    std::map<std::uint64_t, External> external_;
    std::vector<std::filesystem::path> files_;
    std::filesystem::path last_file_;
    // Two running hashes: from the newest checkpoint on, and from the current file's start (a
    // writer that found no checkpoint to continue from hashes from its file's first record).
    LineHasher segment_;
    std::uint64_t segment_from_ = 1;
    LineHasher file_segment_;
    std::uint64_t file_segment_from_ = 1;
    std::uint64_t newest_checkpoint_seq_ = 0;
};

}  // namespace

std::string_view damage_name(Damage damage) {
    switch (damage) {
        case Damage::none: return "none";
        case Damage::edited: return "edited";
        case Damage::missing: return "missing";
        case Damage::reordered: return "reordered";
        case Damage::truncated: return "truncated";
        case Damage::torn: return "torn";
        case Damage::bad_signature: return "bad signature";
        case Damage::contradiction: return "contradiction";
        case Damage::malformed: return "malformed";
        case Damage::unreadable: return "unreadable";
    }
    return "unknown";
}

VerifyReport verify_log(const VerifyOptions& options) { return Verifier(options).run(); }

VerifyReport verify_log(const std::filesystem::path& directory, const std::string& key) {
    VerifyOptions options;
    options.directory = directory;
    options.hmac_key = key;
    return verify_log(options);
}

std::string describe(const VerifyReport& report) {
    std::string text;
    if (report.ok) {
        // The first line stays "OK <n> records" for scripts written against earlier versions.
        text = "OK " + std::to_string(report.records) + " records\n";
        if (report.checkpoints > 0) {
            text += "  " + std::to_string(report.checkpoints) + " checkpoints" +
                    (report.signatures_checked ? " with good signatures" : "") +
                    ", the newest covers seq " + std::to_string(report.covered_seq) + "\n";
        }
        if (report.external_checkpoints > 0) {
            text += "  " + std::to_string(report.external_checkpoints) +
                    " checkpoints kept outside match the log, the newest at seq " +
                    std::to_string(report.newest_external_seq) + "\n";
        }
    } else {
        // `problem` starts with the damage's name: "BAD <file> line 2 seq 2: edited: ...".
        text = "BAD " + report.file + " line " + std::to_string(report.line) + " seq " +
               std::to_string(report.seq) + ": " + report.problem + "\n";
    }
    for (const auto& note : report.notes) text += "  note: " + note + "\n";
    return text;
}

boost::json::object to_json(const VerifyReport& report) {
    boost::json::array notes;
    for (const auto& note : report.notes) notes.emplace_back(note);
    boost::json::object json{{"ok", report.ok},
                             {"records", report.records},
                             {"files", report.files},
                             {"last_seq", report.last_seq},
                             {"macs_checked", report.macs_checked},
                             {"signatures_checked", report.signatures_checked},
                             {"checkpoints", report.checkpoints},
                             {"covered_seq", report.covered_seq},
                             {"external_checkpoints", report.external_checkpoints},
                             {"newest_external_seq", report.newest_external_seq},
                             {"notes", std::move(notes)}};
    if (!report.ok) {
        json["damage"] = damage_name(report.damage);
        json["file"] = report.file;
        json["line"] = report.line;
        json["seq"] = report.seq;
        json["problem"] = report.problem;
    }
    return json;
}

}  // namespace keydesk::audit
