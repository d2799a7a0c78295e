// verify_log: walks every audit file and names the first record that breaks the chain.
#include <fstream>

#include <boost/json/parse.hpp>

#include "audit/audit_log.hpp"
#include "audit/chain.hpp"

namespace keydesk::audit {

VerifyReport verify_log(const std::filesystem::path& directory, const std::string& key) {
    VerifyReport report;
    const auto files = log_files(directory);
    std::uint64_t expected_seq = 1;
    std::string expected_prev(genesis_mac);

    for (std::size_t file_index = 0; file_index < files.size(); ++file_index) {
        const auto& file = files[file_index];
        std::ifstream in(file, std::ios::binary);
        if (!in) {
            report.file = file.string();
            report.problem = "unreadable file";
            return report;
        }
        std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::size_t position = 0;
        std::uint64_t line_number = 0;
        while (position < content.size()) {
            ++line_number;
            const auto end = content.find('\n', position);
            auto fail = [&](std::string problem, std::uint64_t seq) {
                report.file = file.string();
                report.line = line_number;
                report.seq = seq;
                report.problem = std::move(problem);
                return report;
            };
            if (end == std::string::npos) {
                const bool last_file = file_index + 1 == files.size();
                return fail(last_file ? "torn: the last line is incomplete (a crash during a write?)"
                                      : "malformed: a line without its end in a closed file",
                            expected_seq);
            }
            const std::string_view line(content.data() + position, end - position);
            position = end + 1;

            const auto split = split_line(line);
            boost::system::error_code parse_error;
            const auto value = split ? boost::json::parse(split->covered, parse_error) : boost::json::value();
            const auto* record = value.if_object();
            if (!split || parse_error || !record) return fail("malformed: not a sealed JSON record", expected_seq);
            const auto* seq_value = record->if_contains("seq");
            const auto* prev_value = record->if_contains("prev");
            if (!seq_value || !seq_value->is_int64() || !prev_value || !prev_value->is_string()) {
                return fail("malformed: seq or prev missing", expected_seq);
            }
            const auto seq = static_cast<std::uint64_t>(seq_value->as_int64());
            if (!key.empty() && !same_mac(hmac_hex(key, split->covered), split->mac)) {
                return fail("edited: the mac does not match the record", seq);
            }
            if (seq != expected_seq) {
                return fail(seq > expected_seq ? "missing: records " + std::to_string(expected_seq) +
                                                     " to " + std::to_string(seq - 1) + " are gone"
                                               : "reordered: seq " + std::to_string(seq) +
                                                     " where " + std::to_string(expected_seq) +
                                                     " belongs",
                            seq);
            }
            if (prev_value->as_string() != expected_prev) {
                return fail("reordered or missing: prev does not name the record before", seq);
            }
            expected_prev = split->mac;
            ++expected_seq;
            ++report.records;
        }
    }
    report.ok = true;
    return report;
}

}  // namespace keydesk::audit
