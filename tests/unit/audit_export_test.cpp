// Exports of the audit log (CSV cells, CSV and JSON Lines streams, evidence bundles and their
// offline check) and the Reports page's figures, each against a brute-force reading of the files.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <boost/json.hpp>

#include "audit/audit_index.hpp"
#include "audit/audit_log.hpp"
#include "audit/checkpoint.hpp"
#include "audit/export.hpp"
#include "audit/reports.hpp"
#include "audit/signing.hpp"
#include "audit_log_fixture.hpp"

namespace audit = keydesk::audit;
namespace json = boost::json;
namespace fs = std::filesystem;

using audit::AuditFilter;
using audit::AuditIndex;
using audit::AuditLog;
using audit::AuditSettings;
using audit::BundleInfo;
using audit::BundleStream;
using audit::ExportFormat;
using audit::ExportStream;
using audit::csv_cell;
using audit::csv_line;
using namespace keydesk::test;

namespace {

const std::string hmac_key = "0123456789abcdef0123456789abcdef-export-test";
using Rows = std::vector<std::vector<std::string>>;

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines) text += line + "\n";
    return text;
}

// A small RFC 4180 reader: rows of cells, each row ending in CRLF; a quoted cell may hold commas,
// CR, LF and doubled quotes. nullopt for anything else (a bare quote, a row without its CRLF).
std::optional<Rows> parse_csv(std::string_view text) {
    Rows rows;
    std::vector<std::string> row;
    std::size_t i = 0;
    while (i < text.size()) {
        std::string cell;
        if (text[i] == '"') {
            ++i;
            while (true) {
                if (i >= text.size()) return std::nullopt;
                if (text[i] == '"') {
                    if (i + 1 < text.size() && text[i + 1] == '"') {
                        cell += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                cell += text[i++];
            }
        } else {
            while (i < text.size() && text[i] != ',' && text[i] != '\r' && text[i] != '\n') {
                if (text[i] == '"') return std::nullopt;
                cell += text[i++];
            }
        }
        row.push_back(std::move(cell));
        if (i < text.size() && text[i] == ',') {
            ++i;
            continue;
        }
        if (text.substr(i, 2) != "\r\n") return std::nullopt;
        i += 2;
        rows.push_back(std::move(row));
        row.clear();
    }
    if (!row.empty()) return std::nullopt;
    return rows;
}

// What a spreadsheet-safe CSV cell reads back as: a cell that would run as a formula has a '.
std::string as_exported(const std::string& text) {
    return !text.empty() && std::string_view("=+-@\t\r").find(text.front()) != std::string_view::npos ? "'" + text
                                                                                                       : text;
}

std::vector<std::string> expected_csv_row(const json::object& record) {
    const auto s = audit::summarize_record(record);
    std::vector<std::string> cells{std::to_string(s.seq), s.time,     s.event,  s.actor,  s.outcome, s.client,
                                   s.computer,            s.key_id,   s.reason, s.ticket, s.request_id};
    for (auto& cell : cells) cell = as_exported(cell);
    return cells;
}

std::vector<std::string> csv_columns() {
    return {std::begin(audit::audit_csv_columns), std::end(audit::audit_csv_columns)};
}

std::string key_for(int n) {
    char text[48];
    std::snprintf(text, sizeof text, "%08X-%04X-%04X-%04X-%012llX", 0xA1B20000u + static_cast<unsigned>(n),
                  static_cast<unsigned>(n), 0xBEEFu, 0x1000u + static_cast<unsigned>(n),
                  static_cast<unsigned long long>(n) * 7919ull);
    return text;
}

// Record `i` of the export tests' mix; some cells need quoting or would be formulas.
json::object mix_record(int i) {
    static const char* const actors[] = {"alice", "bob", "=cmd|' /C calc'!A0", "carol"};
    json::object record{{"actor", actors[i % 4]}, {"client", "10.0.0." + std::to_string(i % 5)},
                        {"request_id", "rid-" + std::to_string(i)}};
    switch (i % 5) {
        case 0:
            record["event"] = "key.lookup";
            record["outcome"] = "success";
            record["query"] = json::object{{"key_id", key_for(i).substr(0, 11)}};
            record["matches"] = json::array{json::object{{"key_id", key_for(i)}, {"computer", "PC-" + std::to_string(i)}},
                                            json::object{{"key_id", key_for(i + 1)}, {"computer", "PC-X"}}};
            break;
        case 1:
            record["event"] = "key.reveal";
            record["outcome"] = "success";
            record["key_id"] = key_for(i - 1);
            record["computer"] = "PC-" + std::to_string(i - 1);
            record["reason"] = "hardware_change";
            record["reason_text"] = "board \"swapped\", twice\nsee ticket";
            record["ticket"] = "INC-" + std::to_string(i) + ", \"urgent\"\r\nline two";
            break;
        case 2:
            record["event"] = "session.login_failed";
            record["outcome"] = "denied";
            record["actor"] = "-2+3";
            record["reason"] = "@bad_password";
            break;
        case 3:
            record["event"] = "key.reveal";
            record["outcome"] = "invalid";
            record["key_id"] = "12";
            record["reason"] = "";
            record["reason_code"] = "invalid_key_id";
            break;
        default:
            record["event"] = "access.denied";
            record["outcome"] = "denied";
            record["reason"] = "not_auditor";
            break;
    }
    return record;
}

// Runs a stream to its end; `pieces` counts the calls that produced output.
template <typename Stream>
std::string drain(Stream& stream, int* pieces = nullptr) {
    std::string out;
    int produced = 0;
    for (int calls = 0; calls < 100000; ++calls) {
        const auto before = out.size();
        const bool more = stream.next(out);
        if (out.size() > before) ++produced;
        if (!more) break;
    }
    if (pieces) *pieces = produced;
    return out;
}

class AuditExportTest : public AuditLogFixture {
protected:
    AuditExportTest() : AuditLogFixture("kd-export-") {}

    void write_mix(AuditLog& log, int first, int last) {
        append_records(log, first, last, mix_record, std::chrono::milliseconds(1000));
    }

    // Appends the records make(first)..make(last - 1) from eight threads: group commit shares the
    // writes and syncs, which keeps thousands of records quick.
    static void append_concurrently(AuditLog& log, int first, int last, const std::function<json::object(int)>& make) {
        std::atomic<int> next{first};
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) {
            threads.emplace_back([&] {
                for (int i = next++; i < last; i = next++) log.append(make(i));
            });
        }
        for (auto& thread : threads) thread.join();
    }

    // A log where "dave" signs in five times, all in its fourth signed segment; returns the seq the
    // last checkpoint covers.
    std::uint64_t write_log_with_dave() {
        AuditLog log(dir_, hmac_key, settings());
        write_mix(log, 0, 34);
        for (int i = 0; i < 5; ++i) {
            log.append({{"event", "session.login"}, {"actor", "dave"}, {"outcome", "success"}, {"n", i}});
        }
        write_mix(log, 34, 70);
        log.checkpoint();
        return log.checkpoint_status().covers_seq;
    }

    void write_closed_log(int records, std::uint64_t every = 10) {
        AuditLog log(dir_, hmac_key, settings(every));
        write_mix(log, 0, records);
    }

    // What the bundles say about themselves; the log is verified once per test.
    BundleInfo bundle_info() {
        if (!verification_) verification_ = audit::describe(audit::verify_log(dir_, hmac_key));
        BundleInfo info;
        info.name = bundle_name;
        info.generated_at = "2026-11-26T10:00:00.000Z";
        info.generated_by = "auditor1";
        info.public_key_pem = public_pem_;
        info.verification_report = *verification_;
        return info;
    }

    // Streams a bundle to `file`; returns its rows().
    std::uint64_t write_bundle(AuditIndex& index, const AuditFilter& filter, std::uint64_t up_to, const fs::path& file) {
        BundleStream bundle(index, dir_, filter, up_to, bundle_info());
        write_text(file, drain(bundle));
        return bundle.rows();
    }

    // Extracts a .tar.gz with the system's tar; returns the bundle's folder.
    fs::path extract(const fs::path& archive, const std::string& name) {
        const auto into = base_ / ("extracted-" + std::to_string(++extractions_));
        fs::create_directories(into);
        const auto command = "tar -xzf '" + archive.string() + "' -C '" + into.string() + "'";
        EXPECT_EQ(std::system(command.c_str()), 0) << command;
        return into / name;
    }

    static constexpr const char* bundle_name = "keydesk-evidence-20261126T100000Z";
    std::optional<std::string> verification_;
    int extractions_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// CSV cells

TEST(CsvCell, QuotesOnlyWhatNeedsQuotingAndDefusesFormulas) {
    EXPECT_EQ(csv_cell("plain text"), "plain text");
    EXPECT_EQ(csv_cell(""), "");
    EXPECT_EQ(csv_cell("a,b"), "\"a,b\"");
    EXPECT_EQ(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
    EXPECT_EQ(csv_cell("\""), "\"\"\"\"");
    EXPECT_EQ(csv_cell("line\r\nnext"), "\"line\r\nnext\"");
    EXPECT_EQ(csv_cell("a\nb"), "\"a\nb\"");
    EXPECT_EQ(csv_cell("a\rb"), "\"a\rb\"");
    EXPECT_EQ(csv_cell("a=b"), "a=b");    // only a leading character makes a formula
    EXPECT_EQ(csv_cell(" =b"), " =b");
    EXPECT_EQ(csv_cell("a\tb"), "a\tb");  // a tab inside needs no quotes
    for (const char prefix : std::string("=+-@\t")) {
        const auto text = std::string(1, prefix) + "SUM(A1)";
        EXPECT_EQ(csv_cell(text), "'" + text) << int(prefix);
        // With a comma too: the ' is inside the quotes.
        EXPECT_EQ(csv_cell(text + ",x"), "\"'" + text + ",x\"") << int(prefix);
    }
    EXPECT_EQ(csv_cell("\rx"), "\"'\rx\"");  // a leading CR is both
    EXPECT_EQ(csv_cell("=\"x\""), "\"'=\"\"x\"\"\"");
    EXPECT_EQ(csv_cell("-1"), "'-1");
    EXPECT_EQ(csv_cell("="), "'=");
}

TEST(CsvCell, LinesEndInCrLfAndJoinCellsWithCommas) {
    EXPECT_EQ(csv_line({"a", "b,c", ""}), "a,\"b,c\",\r\n");
    EXPECT_EQ(csv_line({"only"}), "only\r\n");
    EXPECT_EQ(csv_line({}), "\r\n");
    EXPECT_EQ(csv_line({"", ""}), ",\r\n");
    EXPECT_EQ(csv_line({"=1", "x\ny"}), "'=1,\"x\ny\"\r\n");
}

TEST(CsvCell, WhatItWritesReadsBackAsTheCells) {
    const Rows rows = {
        {"plain", "", "a,b", "say \"hi\"", "two\r\nlines", "lf\nonly", "cr\ronly", "\"", ",", "\"\""},
        {"=1+2", "+1", "-1", "@SUM(A1)", "\tTAB", "\rCR", "=a,\"b\"", "x=1", "' already", "ünïcødé"},
        {""},
        {std::string(300, 'x') + ",\"" + std::string(10, '\n')},
    };
    std::string text;
    for (const auto& row : rows) text += csv_line(row);
    const auto parsed = parse_csv(text);
    ASSERT_TRUE(parsed) << text;
    ASSERT_EQ(parsed->size(), rows.size());
    for (std::size_t r = 0; r < rows.size(); ++r) {
        ASSERT_EQ((*parsed)[r].size(), rows[r].size()) << "row " << r;
        for (std::size_t c = 0; c < rows[r].size(); ++c) {
            EXPECT_EQ((*parsed)[r][c], as_exported(rows[r][c])) << "row " << r << " cell " << c;
        }
    }
    // The reader itself refuses what is not RFC 4180.
    EXPECT_FALSE(parse_csv("a,b"));
    EXPECT_FALSE(parse_csv("a\"b\r\n"));
    EXPECT_FALSE(parse_csv("\"a\r\n"));
}

// ---------------------------------------------------------------------------------------------
// CSV and JSON Lines exports

TEST_F(AuditExportTest, CsvHasTheHeaderAndOneRowPerRecordFromItsLine) {
    write_closed_log(60);
    AuditIndex index(dir_, index_file_);
    const auto newest = index.refresh_and_wait();
    const auto lines = read_log(dir_);
    ExportStream stream(index, dir_, AuditFilter{}, newest, ExportFormat::csv);
    const auto out = drain(stream);
    EXPECT_TRUE(out.starts_with(csv_line(csv_columns())));
    EXPECT_NE(out.find("'=cmd"), std::string::npos);  // the formula actor, defused
    const auto rows = parse_csv(out);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), lines.size() + 1);
    EXPECT_EQ(rows->front(), csv_columns());
    for (std::size_t i = 0; i < lines.size(); ++i) {
        EXPECT_EQ((*rows)[i + 1], expected_csv_row(lines[i].record)) << "seq " << lines[i].seq;
    }
    EXPECT_EQ(stream.rows(), lines.size());
    // Nothing more once done.
    std::string more;
    EXPECT_FALSE(stream.next(more));
    EXPECT_TRUE(more.empty());
}

TEST_F(AuditExportTest, JsonLinesAreTheFilesLinesByteForByte) {
    write_closed_log(60);
    AuditIndex index(dir_, index_file_);
    const auto newest = index.refresh_and_wait();
    std::vector<std::string> expected;
    for (const auto& line : read_log(dir_)) expected.push_back(line.text);
    ExportStream stream(index, dir_, AuditFilter{}, newest, ExportFormat::json);
    EXPECT_EQ(drain(stream), join_lines(expected));
    EXPECT_EQ(stream.rows(), expected.size());
}

TEST_F(AuditExportTest, AFilterAndUpToSelectTheRecords) {
    write_closed_log(60);
    AuditIndex index(dir_, index_file_);
    const auto newest = index.refresh_and_wait();
    const auto lines = read_log(dir_);

    std::string problem;
    const auto reveals = audit::parse_filter({{"event", "key.reveal"}, {"outcome", "success"}}, {}, problem);
    ASSERT_TRUE(reveals) << problem;
    const auto up_to = lines[lines.size() / 2].seq;
    for (const auto limit : {newest, up_to}) {
        SCOPED_TRACE("up to " + std::to_string(limit));
        std::vector<std::string> json_expected;
        Rows csv_expected{csv_columns()};
        for (const auto& line : lines) {
            if (line.seq > limit || text_of(line.record, "event") != "key.reveal" ||
                text_of(line.record, "outcome") != "success") {
                continue;
            }
            json_expected.push_back(line.text);
            csv_expected.push_back(expected_csv_row(line.record));
        }
        ASSERT_GT(json_expected.size(), 2u);
        ExportStream json_stream(index, dir_, *reveals, limit, ExportFormat::json);
        EXPECT_EQ(drain(json_stream), join_lines(json_expected));
        ExportStream csv_stream(index, dir_, *reveals, limit, ExportFormat::csv);
        EXPECT_EQ(parse_csv(drain(csv_stream)), csv_expected);
        EXPECT_EQ(csv_stream.rows(), json_expected.size());
    }
    // up_to alone: no record after it.
    ExportStream all(index, dir_, AuditFilter{}, up_to, ExportFormat::json);
    std::vector<std::string> before;
    for (const auto& line : lines) {
        if (line.seq <= up_to) before.push_back(line.text);
    }
    EXPECT_EQ(drain(all), join_lines(before));
    // Nothing matches: CSV is the header alone, JSON is empty.
    AuditFilter nobody;
    nobody.actor = "nobody";
    ExportStream empty_csv(index, dir_, nobody, newest, ExportFormat::csv);
    EXPECT_EQ(drain(empty_csv), csv_line(csv_columns()));
    ExportStream empty_json(index, dir_, nobody, newest, ExportFormat::json);
    EXPECT_EQ(drain(empty_json), "");
}

TEST_F(AuditExportTest, ThousandsOfRecordsComeInPiecesEachOnceInOrder) {
    {
        AuditLog log(dir_, hmac_key, settings(1000));
        append_concurrently(log, 0, 2100, [](int i) {
            return json::object{{"event", i % 3 ? "key.lookup" : "session.login"},
                                {"actor", i % 2 ? "alice" : "bob"},
                                {"outcome", "success"},
                                {"n", i}};
        });
    }
    AuditIndex index(dir_, index_file_);
    const auto newest = index.refresh_and_wait();
    const auto lines = read_log(dir_);
    ASSERT_GT(lines.size(), 2100u);

    int pieces = 0;
    ExportStream json_stream(index, dir_, AuditFilter{}, newest, ExportFormat::json);
    std::vector<std::string> expected;
    for (const auto& line : lines) expected.push_back(line.text);
    EXPECT_EQ(drain(json_stream, &pieces), join_lines(expected));
    EXPECT_GE(pieces, 3);
    EXPECT_EQ(json_stream.rows(), lines.size());

    ExportStream csv_stream(index, dir_, AuditFilter{}, newest, ExportFormat::csv);
    const auto rows = parse_csv(drain(csv_stream, &pieces));
    EXPECT_GE(pieces, 3);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), lines.size() + 1);
    for (std::size_t i = 0; i < lines.size(); ++i) EXPECT_EQ((*rows)[i + 1][0], std::to_string(lines[i].seq));

    // Filtered across pages: exactly the matching ones.
    AuditFilter alice;
    alice.actor = "ALICE";
    std::vector<std::string> alices;
    for (const auto& line : lines) {
        if (text_of(line.record, "actor") == "alice") alices.push_back(line.text);
    }
    ASSERT_GT(alices.size(), 1000u);
    ExportStream filtered(index, dir_, alice, newest, ExportFormat::json);
    EXPECT_EQ(drain(filtered), join_lines(alices));
}

TEST_F(AuditExportTest, ALineMovedAfterIndexingStopsTheExport) {
    write_closed_log(30);
    AuditIndex index(dir_, index_file_);
    const auto newest = index.refresh_and_wait();
    const auto rebuilds = index.rebuilds();
    // seq 5's actor one character longer: it and every later line of the file move.
    const auto file = audit::log_files(dir_).front();
    auto text = read_text(file);
    const auto at = text.find("{\"seq\":5,");
    ASSERT_NE(at, std::string::npos);
    const auto actor = text.find("\"actor\":\"", at) + 9;
    text.insert(actor, "x");
    write_text(file, text);

    for (const auto format : {ExportFormat::csv, ExportFormat::json}) {
        ExportStream stream(index, dir_, AuditFilter{}, newest, format);
        EXPECT_THROW(drain(stream), std::runtime_error);
    }
    // The index knows it is stale: the next refresh rebuilds it and the export works again.
    index.refresh_and_wait();
    EXPECT_EQ(index.rebuilds(), rebuilds + 1);
    ExportStream stream(index, dir_, AuditFilter{}, newest, ExportFormat::json);
    std::vector<std::string> expected;
    for (const auto& line : read_log(dir_)) expected.push_back(line.text);
    EXPECT_EQ(drain(stream), join_lines(expected));
}

TEST_F(AuditExportTest, ALineEditedInPlaceAfterIndexingStopsTheExport) {
    write_closed_log(30);
    AuditIndex index(dir_, index_file_);
    const auto newest = index.refresh_and_wait();
    const auto file = audit::log_files(dir_).front();
    auto text = read_text(file);
    const auto at = text.find("{\"seq\":5,");
    ASSERT_NE(at, std::string::npos);
    const auto actor = text.find("\"actor\":\"", at) + 9;
    text[actor] = text[actor] == 'x' ? 'y' : 'x';
    write_text(file, text);
    ExportStream stream(index, dir_, AuditFilter{}, newest, ExportFormat::json);
    EXPECT_THROW(drain(stream), std::runtime_error);
}

// ---------------------------------------------------------------------------------------------
// Evidence bundles

namespace {

// The lines a bundle's chain.jsonl must hold for `selected`: each whole signed segment holding a
// selected record, with its checkpoint, once, in seq order.
std::vector<std::string> expected_chain(const std::vector<LogLine>& lines, const std::vector<std::uint64_t>& selected) {
    std::map<std::uint64_t, std::uint64_t> from_of;  // checkpoint seq -> from_seq
    for (const auto& line : lines) {
        if (text_of(line.record, "event") == "audit.checkpoint") {
            from_of[line.seq] = line.record.at("from_seq").to_number<std::uint64_t>();
        }
    }
    std::set<std::uint64_t> wanted;
    for (const auto seq : selected) {
        const auto cover = from_of.upper_bound(seq);
        if (cover == from_of.end()) {
            ADD_FAILURE() << "seq " << seq << " is not covered";
            continue;
        }
        for (auto s = cover->second; s <= cover->first; ++s) wanted.insert(s);
    }
    std::vector<std::string> chain;
    for (const auto& line : lines) {
        if (wanted.contains(line.seq)) chain.push_back(line.text);
    }
    return chain;
}

std::string sha256_of_lines(const std::vector<std::string>& lines) {
    audit::LineHasher hasher;
    for (const auto& line : lines) hasher.add_line(line);
    return hasher.hex();
}

// `line` with the first character of its actor changed (same length, still JSON).
std::string with_other_actor(std::string line) {
    const auto at = line.find("\"actor\":\"");
    EXPECT_NE(at, std::string::npos) << line;
    auto& c = line[at + 9];
    c = c == 'x' ? 'y' : 'x';
    return line;
}

}  // namespace

TEST_F(AuditExportTest, BundleHoldsTheRecordsAndTheirSignedChainAndVerifies) {
    std::uint64_t up_to = 0;
    {
        AuditLog log(dir_, hmac_key, settings());
        write_mix(log, 0, 45);
        log.checkpoint();
        up_to = log.checkpoint_status().covers_seq;
    }
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    const auto lines = read_log(dir_);
    std::vector<std::string> records;
    std::vector<std::uint64_t> selected;
    for (const auto& line : lines) {
        if (line.seq <= up_to) {
            records.push_back(line.text);
            selected.push_back(line.seq);
        }
    }
    ASSERT_GE(records.size(), 49u);  // 45 records, 4 checkpoints by count
    const auto file = base_ / "bundle.tar.gz";
    EXPECT_EQ(write_bundle(index, AuditFilter{}, up_to, file), records.size());

    const auto report = audit::verify_bundle(file, public_pem_);
    EXPECT_TRUE(report.ok) << report.problem;
    EXPECT_EQ(report.records, records.size());
    EXPECT_GE(report.checkpoints, 5u);
    EXPECT_TRUE(audit::describe(report).starts_with("OK bundle")) << audit::describe(report);
    ASSERT_EQ(report.key_ids.size(), 1u);

    const auto info = bundle_info();
    const auto folder = extract(file, info.name);
    EXPECT_EQ(read_text(folder / "records.jsonl"), join_lines(records));
    const auto chain = expected_chain(lines, selected);
    EXPECT_EQ(read_text(folder / "chain.jsonl"), join_lines(chain));
    EXPECT_EQ(report.chain_lines, chain.size());
    EXPECT_EQ(read_text(folder / "public-key.pem"), public_pem_);
    EXPECT_EQ(read_text(folder / "verification.txt"), info.verification_report);
    EXPECT_NE(read_text(folder / "README.txt").find(info.name), std::string::npos);
    const auto manifest = json::parse(read_text(folder / "manifest.json")).as_object();
    EXPECT_EQ(manifest.at("records").to_number<std::uint64_t>(), records.size());
    EXPECT_EQ(manifest.at("chain_lines").to_number<std::uint64_t>(), chain.size());
    EXPECT_EQ(manifest.at("up_to_seq").to_number<std::uint64_t>(), up_to);
    EXPECT_EQ(manifest.at("records_sha256").as_string(), sha256_of_lines(records));
    EXPECT_EQ(manifest.at("chain_sha256").as_string(), sha256_of_lines(chain));
    EXPECT_EQ(manifest.at("generated_by").as_string(), info.generated_by);
    EXPECT_TRUE(manifest.at("filters").as_object().empty());

    // The extracted folder verifies as the archive does.
    const auto folder_report = audit::verify_bundle(folder, public_pem_);
    EXPECT_TRUE(folder_report.ok) << folder_report.problem;
    EXPECT_EQ(folder_report.records, records.size());
    EXPECT_EQ(folder_report.checkpoints, report.checkpoints);
}

TEST_F(AuditExportTest, BundleVerificationNamesEachKindOfTampering) {
    std::uint64_t up_to = 0;
    {
        AuditLog log(dir_, hmac_key, settings());
        write_mix(log, 0, 35);
        log.checkpoint();
        up_to = log.checkpoint_status().covers_seq;
    }
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    const auto file = base_ / "bundle.tar.gz";
    write_bundle(index, AuditFilter{}, up_to, file);
    const auto folder = extract(file, bundle_name);
    ASSERT_TRUE(audit::verify_bundle(folder, public_pem_).ok);
    const auto chain = split_lines(read_text(folder / "chain.jsonl"));
    const auto records = split_lines(read_text(folder / "records.jsonl"));
    ASSERT_GT(chain.size(), 12u);
    ASSERT_NE(chain[3].find("\"actor\""), std::string::npos);  // a record, not a checkpoint

    int copies = 0;
    const auto tampered = [&](const std::function<void(std::vector<std::string>& chain, std::vector<std::string>& records)>& change) {
        const auto copy = base_ / ("tampered-" + std::to_string(++copies));
        fs::copy(folder, copy, fs::copy_options::recursive);
        auto new_chain = chain;
        auto new_records = records;
        change(new_chain, new_records);
        write_text(copy / "chain.jsonl", join_lines(new_chain));
        write_text(copy / "records.jsonl", join_lines(new_records));
        return audit::verify_bundle(copy, public_pem_);
    };
    const auto expect_bad = [](const audit::BundleReport& report, std::string_view prefix) {
        EXPECT_FALSE(report.ok);
        EXPECT_TRUE(report.problem.starts_with(prefix)) << report.problem;
        EXPECT_TRUE(audit::describe(report).starts_with("BAD bundle: ")) << audit::describe(report);
    };
    // Unchanged copies verify (the harness itself changes nothing).
    EXPECT_TRUE(tampered([](auto&, auto&) {}).ok);

    expect_bad(tampered([](auto& c, auto&) { c[3] = with_other_actor(c[3]); }), "edited");
    expect_bad(tampered([](auto& c, auto&) { c.erase(c.begin() + 3); }), "missing");
    expect_bad(tampered([](auto& c, auto&) { std::swap(c[2], c[3]); }), "reordered");
    expect_bad(tampered([](auto&, auto& r) { r[5] = with_other_actor(r[5]); }), "edited");
    // The same edit in both files: the chain no longer matches its checkpoint.
    expect_bad(tampered([](auto& c, auto& r) {
                   c[3] = with_other_actor(c[3]);
                   r[3] = c[3];
               }),
               "edited");
    // A record the chain does not hold.
    expect_bad(tampered([](auto&, auto& r) {
                   auto line = r.back();
                   const auto at = line.find(',');
                   line.replace(0, at, "{\"seq\":999999");
                   r.push_back(line);
               }),
               "edited");
    expect_bad(tampered([](auto& c, auto&) { c.push_back("not json"); }), "malformed");
    // Without its last checkpoint, the last segment is vouched for by nothing.
    ASSERT_NE(chain.back().find("\"event\":\"audit.checkpoint\""), std::string::npos);
    expect_bad(tampered([](auto& c, auto&) { c.pop_back(); }), "unsigned");

    // Another key than the one that signed: no checkpoint verifies.
    const auto stranger = audit::generate_signing_key(aux_ / "stranger.pem");
    expect_bad(audit::verify_bundle(folder, stranger), "bad_signature");
    expect_bad(audit::verify_bundle(file, stranger), "bad_signature");

    // Not a bundle at all, or one without its files.
    write_text(base_ / "junk.tar.gz", std::string(1000, 'j'));
    expect_bad(audit::verify_bundle(base_ / "junk.tar.gz", public_pem_), "unreadable");
    const auto incomplete = base_ / "incomplete";
    fs::copy(folder, incomplete, fs::copy_options::recursive);
    fs::remove(incomplete / "chain.jsonl");
    expect_bad(audit::verify_bundle(incomplete, public_pem_), "malformed");
}

TEST_F(AuditExportTest, ABundleRefusesRecordsNoCheckpointCoversYet) {
    AuditLog log(dir_, hmac_key, settings());
    write_mix(log, 0, 25);  // checkpoints after 10 and 20 records; five records after them
    AuditIndex index(dir_, index_file_);
    const auto newest = index.refresh_and_wait();
    const auto covered = log.checkpoint_status().covers_seq;
    ASSERT_LT(covered + 1, newest);
    {
        BundleStream bundle(index, dir_, AuditFilter{}, newest, bundle_info());
        EXPECT_THROW(drain(bundle), std::runtime_error);
    }
    const auto file = base_ / "covered.tar.gz";
    EXPECT_EQ(write_bundle(index, AuditFilter{}, covered, file), covered);
    const auto report = audit::verify_bundle(file, public_pem_);
    EXPECT_TRUE(report.ok) << report.problem;
    EXPECT_EQ(report.records, covered);
}

TEST_F(AuditExportTest, RecordsFromBeforeSigningStartedAreNotCovered) {
    // Started without a signing key: the first file is covered by no checkpoint.
    {
        auto unsigned_settings = settings();
        unsigned_settings.signing_key_file.clear();
        AuditLog log(dir_, hmac_key, unsigned_settings);
        write_mix(log, 0, 3);
        log.rotate();
        write_mix(log, 3, 5);
    }
    std::uint64_t up_to = 0;
    {
        AuditLog log(dir_, hmac_key, settings());
        write_mix(log, 5, 20);
        log.checkpoint();
        up_to = log.checkpoint_status().covers_seq;
    }
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    const auto lines = read_log(dir_);
    std::uint64_t first_signed = 0;  // the first checkpoint's from_seq
    for (const auto& line : lines) {
        if (text_of(line.record, "event") == "audit.checkpoint") {
            first_signed = line.record.at("from_seq").to_number<std::uint64_t>();
            break;
        }
    }
    ASSERT_GT(first_signed, 1u);
    EXPECT_LT(text_of(lines[first_signed - 2].record, "time"), text_of(lines[first_signed - 1].record, "time"));

    // Only signed records selected: a bundle that verifies.
    std::string problem;
    const auto signed_only = audit::parse_filter({{"from", text_of(lines[first_signed - 1].record, "time")}}, {}, problem);
    ASSERT_TRUE(signed_only) << problem;
    const auto file = base_ / "signed.tar.gz";
    const auto rows = write_bundle(index, *signed_only, up_to, file);
    EXPECT_GT(rows, 0u);
    const auto report = audit::verify_bundle(file, public_pem_);
    EXPECT_TRUE(report.ok) << report.problem;
    EXPECT_EQ(report.records, rows);

    // Records from before signing: refused, as records after the newest checkpoint are.
    BundleStream bundle(index, dir_, AuditFilter{}, up_to, bundle_info());
    EXPECT_THROW(drain(bundle), std::runtime_error);
}

TEST_F(AuditExportTest, AFilteredBundleHoldsOnlyTheSelectedRecordsButWholeSegments) {
    const auto up_to = write_log_with_dave();
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    const auto lines = read_log(dir_);
    std::vector<std::string> records;
    std::vector<std::uint64_t> selected;
    for (const auto& line : lines) {
        if (text_of(line.record, "actor") == "dave") {
            records.push_back(line.text);
            selected.push_back(line.seq);
        }
    }
    ASSERT_EQ(records.size(), 5u);
    const auto chain = expected_chain(lines, selected);
    ASSERT_LT(chain.size(), lines.size() / 2);  // the segments without dave are left out
    ASSERT_GE(chain.size(), 11u);

    AuditFilter dave;
    dave.actor = "Dave";
    const auto file = base_ / "dave.tar.gz";
    EXPECT_EQ(write_bundle(index, dave, up_to, file), records.size());
    const auto folder = extract(file, bundle_name);
    EXPECT_EQ(read_text(folder / "records.jsonl"), join_lines(records));
    EXPECT_EQ(read_text(folder / "chain.jsonl"), join_lines(chain));
    const auto manifest = json::parse(read_text(folder / "manifest.json")).as_object();
    EXPECT_EQ(manifest.at("filters"), dave.to_json());
    EXPECT_EQ(manifest.at("records").to_number<std::uint64_t>(), records.size());
    EXPECT_EQ(manifest.at("chain_lines").to_number<std::uint64_t>(), chain.size());
    EXPECT_EQ(manifest.at("records_sha256").as_string(), sha256_of_lines(records));

    // Nothing selected: an empty bundle, which says so.
    AuditFilter nobody;
    nobody.actor = "nobody";
    const auto empty_file = base_ / "empty.tar.gz";
    EXPECT_EQ(write_bundle(index, nobody, up_to, empty_file), 0u);
    const auto empty = extract(empty_file, bundle_name);
    EXPECT_EQ(read_text(empty / "records.jsonl"), "");
    EXPECT_EQ(read_text(empty / "chain.jsonl"), "");
    const auto report = audit::verify_bundle(empty_file, public_pem_);
    EXPECT_TRUE(report.ok) << report.problem;
    EXPECT_EQ(report.records, 0u);
}

TEST_F(AuditExportTest, AFilteredBundleVerifies) {
    const auto up_to = write_log_with_dave();
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    std::vector<std::uint64_t> selected;
    const auto lines = read_log(dir_);
    for (const auto& line : lines) {
        if (text_of(line.record, "actor") == "dave") selected.push_back(line.seq);
    }
    AuditFilter dave;
    dave.actor = "dave";
    const auto file = base_ / "dave.tar.gz";
    write_bundle(index, dave, up_to, file);
    const auto report = audit::verify_bundle(file, public_pem_);
    EXPECT_TRUE(report.ok) << report.problem;
    EXPECT_EQ(report.records, selected.size());
    EXPECT_EQ(report.chain_lines, expected_chain(lines, selected).size());
    // And tampering with it is still found.
    const auto folder = extract(file, bundle_name);
    auto chain = split_lines(read_text(folder / "chain.jsonl"));
    const auto pristine = chain;
    chain[3] = with_other_actor(chain[3]);
    write_text(folder / "chain.jsonl", join_lines(chain));
    EXPECT_TRUE(audit::verify_bundle(folder, public_pem_).problem.starts_with("edited"));
    // Without the line its segment starts with (the earlier checkpoint), the segment is not signed.
    chain = pristine;
    chain.erase(chain.begin());
    write_text(folder / "chain.jsonl", join_lines(chain));
    const auto cut = audit::verify_bundle(folder, public_pem_);
    EXPECT_FALSE(cut.ok);
    EXPECT_TRUE(cut.problem.starts_with("unsigned") || cut.problem.starts_with("missing")) << cut.problem;
}

TEST_F(AuditExportTest, ABundleSpansRotatedFilesAndThousandsOfRecords) {
    std::uint64_t up_to = 0;
    {
        // A first segment of 1200 records (the chain is read in pages within it), then a
        // rotation: the next segment starts in the first file and ends in the second.
        AuditLog log(dir_, hmac_key, settings(1200));
        append_concurrently(log, 0, 1300, mix_record);
        log.rotate();
        append_concurrently(log, 1300, 1600, mix_record);
        log.checkpoint();
        up_to = log.checkpoint_status().covers_seq;
    }
    ASSERT_EQ(audit::log_files(dir_).size(), 2u);
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    const auto lines = read_log(dir_);
    std::vector<std::string> records;
    for (const auto& line : lines) {
        if (line.seq <= up_to) records.push_back(line.text);
    }
    ASSERT_GT(records.size(), 1600u);
    const auto file = base_ / "big.tar.gz";
    EXPECT_EQ(write_bundle(index, AuditFilter{}, up_to, file), records.size());
    const auto report = audit::verify_bundle(file, public_pem_);
    EXPECT_TRUE(report.ok) << report.problem;
    EXPECT_EQ(report.records, records.size());
    EXPECT_EQ(report.checkpoints, 3u);  // by count, at rotation, requested
    EXPECT_EQ(report.chain_lines, records.size() + 1);
    const auto folder = extract(file, bundle_name);
    EXPECT_EQ(read_text(folder / "records.jsonl"), join_lines(records));
    EXPECT_EQ(read_text(folder / "chain.jsonl"), join_lines(records) + lines[records.size()].text + "\n");
}

// ---------------------------------------------------------------------------------------------
// Reports

namespace {

// The process's local time zone for one test, put back afterwards.
class ScopedTimeZone {
public:
    explicit ScopedTimeZone(const char* zone) {
        if (const char* old = std::getenv("TZ")) old_ = old;
        ::setenv("TZ", zone, 1);
        ::tzset();
    }
    ~ScopedTimeZone() {
        if (old_) {
            ::setenv("TZ", old_->c_str(), 1);
        } else {
            ::unsetenv("TZ");
        }
        ::tzset();
    }
    ScopedTimeZone(const ScopedTimeZone&) = delete;
    ScopedTimeZone& operator=(const ScopedTimeZone&) = delete;

private:
    std::optional<std::string> old_;
};

// Outside Mon-Fri 08:00-18:00 UTC, computed with std::chrono's calendar.
bool outside_office_utc(const std::string& time) {
    int y = 0, hour = 0, minute = 0;
    unsigned m = 0, d = 0;
    EXPECT_EQ(std::sscanf(time.c_str(), "%d-%u-%uT%d:%d", &y, &m, &d, &hour, &minute), 5) << time;
    const std::chrono::weekday weekday{std::chrono::sys_days{std::chrono::year{y} / m / d}};
    const bool weekend = weekday == std::chrono::Saturday || weekday == std::chrono::Sunday;
    const int minute_of_day = hour * 60 + minute;
    return weekend || minute_of_day < 8 * 60 || minute_of_day >= 18 * 60;
}

bool counted(const json::object& record) {
    const auto event = text_of(record, "event");
    const auto outcome = text_of(record, "outcome");
    return (event == "key.lookup" && (outcome == "success" || outcome == "not_found")) ||
           (event == "key.reveal" && outcome == "success");
}

std::set<std::string> computers_of(const json::object& record) {
    std::set<std::string> computers;
    const auto note = [&](const json::object& object) {
        if (const auto computer = text_of(object, "computer"); !computer.empty()) computers.insert(upper(computer));
    };
    note(record);
    if (const auto* query = record.if_contains("query"); query && query->is_object()) note(query->get_object());
    if (const auto* matches = record.if_contains("matches"); matches && matches->is_array()) {
        for (const auto& match : matches->get_array()) note(match.as_object());
    }
    return computers;
}

double median_of(std::vector<std::uint64_t> values) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const auto n = values.size();
    return n % 2 ? static_cast<double>(values[n / 2])
                 : (static_cast<double>(values[n / 2 - 1]) + static_cast<double>(values[n / 2])) / 2;
}

std::uint64_t number(const json::value& value) { return value.to_number<std::uint64_t>(); }

std::string string_at(const json::object& object, std::string_view name) {
    return std::string(object.at(name).as_string());
}

class ReportsTest : public AuditExportTest {
protected:
    // One planned record: when, and what.
    struct Planned {
        std::int64_t when;
        json::object record;
    };

    void plan(int day, int hour, int minute, json::object record) {
        planned_.push_back({millis_at(2026, 11, static_cast<unsigned>(day), hour, minute), std::move(record)});
    }

    static json::object lookup(const std::string& actor, const std::string& outcome, const std::string& computer) {
        json::object record{{"event", "key.lookup"}, {"actor", actor}, {"outcome", outcome}};
        if (outcome == "success") {
            record["query"] = json::object{{"key_id", "A1B2"}};
            record["matches"] = json::array{json::object{{"key_id", key_for(1)}, {"computer", computer}},
                                            json::object{{"key_id", key_for(2)}, {"computer", "pc-shared"}}};
        } else {
            record["query"] = json::object{{"computer", lower(computer)}};
            record["matches"] = json::array{};
        }
        return record;
    }

    static json::object reveal(const std::string& actor, int key, const std::string& outcome = "success") {
        json::object record{{"event", "key.reveal"}, {"actor", actor}, {"outcome", outcome},
                            {"key_id", key_for(key)}, {"computer", "PC-R" + std::to_string(key)},
                            {"reason", "hardware_change"}};
        if (outcome != "success") record["reason_code"] = "not_permitted";
        return record;
    }

    static json::object failed(const std::string& actor) {
        return {{"event", "session.login_failed"}, {"actor", actor}, {"outcome", "denied"}, {"reason", "bad_password"}};
    }

    // Mon 2026-11-23 to Sun 2026-11-29, with a day of history before and one record after.
    void write_week() {
        plan(20, 10, 0, lookup("low", "not_found", "PC-LOW"));
        plan(20, 10, 1, lookup("low", "not_found", "PC-LOW"));
        plan(20, 11, 0, failed("mallory"));
        for (int day = 23; day <= 26; ++day) {
            for (int i = 0; i < 2; ++i) plan(day, 9, i, lookup("vol", "success", "PC-VOL"));
            for (int i = 0; i < 2; ++i) plan(day, 10, i, lookup("low", "not_found", "PC-LOW"));
            for (int i = 0; i < 4; ++i) plan(day, 11, i, lookup("edge", "success", "PC-EDGE"));
            plan(day, 12, 0, {{"event", "session.login"}, {"actor", "vol"}, {"outcome", "success"}});
        }
        // Friday: a busy day for three of them.
        for (int i = 0; i < 10; ++i) plan(27, 9, i, lookup("vol", "success", "PC-VOL"));
        for (int i = 0; i < 9; ++i) plan(27, 10, i, lookup("low", "not_found", "PC-LOW"));
        for (int i = 0; i < 12; ++i) plan(27, 11, i, lookup("edge", "success", "PC-EDGE"));
        // Reveals either side of the business day's edges, and on a Saturday.
        plan(26, 7, 59, reveal("alice", 1));
        plan(26, 8, 0, reveal("alice", 2));
        plan(26, 17, 59, reveal("alice", 3));
        plan(26, 18, 0, reveal("Bob", 1));
        plan(28, 12, 0, reveal("alice", 1));
        plan(27, 14, 0, reveal("Bob", 4));
        plan(25, 14, 0, reveal("Bob", 5, "denied"));
        plan(24, 14, 0, {{"event", "key.lookup"}, {"actor", "carol"}, {"outcome", "invalid"}, {"reason", "invalid_request"}});
        plan(29, 14, 0, {{"event", "key.lookup"}, {"actor", "carol"}, {"outcome", "invalid"}, {"reason", "invalid_request"}});
        for (int i = 0; i < 3; ++i) plan(24, 9, 30 + i, failed("mallory"));
        plan(25, 9, 30, failed("eve"));
        for (int i = 0; i < 2; ++i) plan(27, 16, i, failed("Bob"));
        plan(25, 15, 0, {{"event", "access.denied"}, {"actor", "carol"}, {"outcome", "denied"}, {"reason", "not_auditor"}});
        plan(30, 9, 0, lookup("vol", "success", "PC-VOL"));
        plan(30, 9, 1, reveal("alice", 6));
        plan(30, 9, 2, failed("mallory"));

        std::stable_sort(planned_.begin(), planned_.end(),
                         [](const Planned& a, const Planned& b) { return a.when < b.when; });
        AuditLog log(dir_, hmac_key, settings());
        for (auto& [when, record] : planned_) {
            clock_->store(when);
            log.append(record);
        }
    }

    std::vector<Planned> planned_;
};

}  // namespace

TEST(ReportsBusinessHours, EdgesWeekendsAndTheLocalTimeZone) {
    audit::ReportSettings settings;
    {
        ScopedTimeZone utc("UTC");
        // 2026-11-26 is a Thursday, 2026-11-28 a Saturday.
        ASSERT_EQ(std::chrono::weekday{std::chrono::sys_days{std::chrono::year{2026} / 11 / 26}}, std::chrono::Thursday);
        for (const auto* time : {"2026-11-26T07:59:59.999Z", "2026-11-26T08:00:00.000Z", "2026-11-26T12:00:00.000Z",
                                 "2026-11-26T17:59:59.999Z", "2026-11-26T18:00:00.000Z", "2026-11-26T23:59:00.000Z",
                                 "2026-11-26T00:00:00.000Z", "2026-11-28T12:00:00.000Z", "2026-11-29T12:00:00.000Z",
                                 "2026-11-30T08:00:00.000Z", "2026-11-27T17:00:00.000Z"}) {
            EXPECT_EQ(audit::outside_business_hours(settings, time), outside_office_utc(time)) << time;
        }
        EXPECT_TRUE(audit::outside_business_hours(settings, "2026-11-26T07:59:00.000Z"));
        EXPECT_FALSE(audit::outside_business_hours(settings, "2026-11-26T08:00:00.000Z"));
        EXPECT_FALSE(audit::outside_business_hours(settings, "2026-11-26T17:59:00.000Z"));
        EXPECT_TRUE(audit::outside_business_hours(settings, "2026-11-26T18:00:00.000Z"));
        EXPECT_TRUE(audit::outside_business_hours(settings, "2026-11-28T12:00:00.000Z"));
        // Other settings: Saturdays worked, a later start.
        auto saturday = settings;
        saturday.business_days |= 1u << 6;
        saturday.business_start_minute = 9 * 60 + 30;
        EXPECT_FALSE(audit::outside_business_hours(saturday, "2026-11-28T12:00:00.000Z"));
        EXPECT_TRUE(audit::outside_business_hours(saturday, "2026-11-29T12:00:00.000Z"));
        EXPECT_TRUE(audit::outside_business_hours(saturday, "2026-11-26T09:29:00.000Z"));
        EXPECT_FALSE(audit::outside_business_hours(saturday, "2026-11-26T09:30:00.000Z"));
    }
    {
        // Local time decides: five hours behind UTC (a POSIX zone: no DST rules, no tzdata needed).
        ScopedTimeZone behind("EST5");
        EXPECT_TRUE(audit::outside_business_hours(settings, "2026-11-26T12:59:00.000Z"));   // 07:59
        EXPECT_FALSE(audit::outside_business_hours(settings, "2026-11-26T13:00:00.000Z"));  // 08:00
        EXPECT_FALSE(audit::outside_business_hours(settings, "2026-11-26T22:59:00.000Z"));  // 17:59
        EXPECT_TRUE(audit::outside_business_hours(settings, "2026-11-26T23:00:00.000Z"));   // 18:00
    }
    {
        // And the local day: fourteen hours ahead, a UTC Sunday evening is a Monday morning, and a
        // UTC Friday noon is a Saturday night.
        ScopedTimeZone ahead("XST-14");
        EXPECT_FALSE(audit::outside_business_hours(settings, "2026-11-29T20:00:00.000Z"));  // Mon 10:00
        EXPECT_TRUE(audit::outside_business_hours(settings, "2026-11-27T12:00:00.000Z"));   // Sat 02:00
    }
}

TEST_F(ReportsTest, SummaryCountsEqualABruteForceCount) {
    ScopedTimeZone utc("UTC");
    write_week();
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    const auto lines = read_log(dir_);
    const auto from = *audit::normalize_time("2026-11-23", false);
    const auto to = *audit::normalize_time("2026-11-29", true);
    audit::ReportSettings settings;
    const auto report = audit::summary_report(index, settings, from, to);
    EXPECT_EQ(report.at("from").as_string(), from);
    EXPECT_EQ(report.at("to").as_string(), to);
    const auto in_range = [&](const LogLine& line) {
        const auto time = text_of(line.record, "time");
        return time >= from && time < to;
    };

    // per_day
    std::map<std::string, std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>> days;
    for (const auto& line : lines) {
        const auto event = text_of(line.record, "event");
        if (!in_range(line) || (event != "key.lookup" && event != "key.reveal" && event != "session.login_failed")) continue;
        auto& [lookups, reveals, failures] = days[text_of(line.record, "time").substr(0, 10)];
        if (counted(line.record) && event == "key.lookup") ++lookups;
        if (counted(line.record) && event == "key.reveal") ++reveals;
        if (event == "session.login_failed") ++failures;
    }
    std::vector<std::tuple<std::string, std::uint64_t, std::uint64_t, std::uint64_t>> expected_days, got_days;
    for (const auto& [day, counts] : days) {
        expected_days.emplace_back(day, std::get<0>(counts), std::get<1>(counts), std::get<2>(counts));
    }
    for (const auto& row : report.at("per_day").as_array()) {
        const auto& object = row.as_object();
        got_days.emplace_back(string_at(object, "day"), number(object.at("lookups")), number(object.at("reveals")),
                              number(object.at("failed_sign_ins")));
    }
    EXPECT_EQ(got_days, expected_days);
    EXPECT_EQ(expected_days.size(), 7u);  // Monday to Sunday, Sunday's only lookup refused

    // per_staff: reveals first, then lookups, then the name.
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> staff;  // lower-case actor
    std::map<std::string, std::string> spelling;
    for (const auto& line : lines) {
        if (!in_range(line) || !counted(line.record)) continue;
        const auto actor = text_of(line.record, "actor");
        spelling.emplace(lower(actor), actor);
        auto& [lookups, reveals] = staff[lower(actor)];
        (text_of(line.record, "event") == "key.lookup" ? lookups : reveals) += 1;
    }
    std::vector<std::tuple<std::string, std::uint64_t, std::uint64_t>> expected_staff, got_staff;
    for (const auto& [actor, counts] : staff) expected_staff.emplace_back(actor, counts.first, counts.second);
    std::sort(expected_staff.begin(), expected_staff.end(), [](const auto& a, const auto& b) {
        return std::make_tuple(std::get<2>(b), std::get<1>(b), std::get<0>(a)) <
               std::make_tuple(std::get<2>(a), std::get<1>(a), std::get<0>(b));
    });
    for (const auto& row : report.at("per_staff").as_array()) {
        const auto& object = row.as_object();
        got_staff.emplace_back(lower(string_at(object, "actor")), number(object.at("lookups")), number(object.at("reveals")));
    }
    EXPECT_EQ(got_staff, expected_staff);

    // top_computers: every computer a counted record names, each record once.
    std::map<std::string, std::pair<std::set<std::uint64_t>, std::set<std::uint64_t>>> computers;
    for (const auto& line : lines) {
        if (!in_range(line) || !counted(line.record)) continue;
        for (const auto& computer : computers_of(line.record)) {
            auto& [lookups, reveals] = computers[computer];
            (text_of(line.record, "event") == "key.lookup" ? lookups : reveals).insert(line.seq);
        }
    }
    std::vector<std::tuple<std::string, std::uint64_t, std::uint64_t>> expected_computers, got_computers;
    for (const auto& [computer, seqs] : computers) {
        expected_computers.emplace_back(computer, seqs.first.size(), seqs.second.size());
    }
    std::sort(expected_computers.begin(), expected_computers.end(), [](const auto& a, const auto& b) {
        return std::make_tuple(std::get<2>(b), std::get<1>(b), std::get<0>(a)) <
               std::make_tuple(std::get<2>(a), std::get<1>(a), std::get<0>(b));
    });
    if (expected_computers.size() > 20) expected_computers.resize(20);
    for (const auto& row : report.at("top_computers").as_array()) {
        const auto& object = row.as_object();
        got_computers.emplace_back(string_at(object, "computer"), number(object.at("lookups")), number(object.at("reveals")));
    }
    EXPECT_EQ(got_computers, expected_computers);
    EXPECT_TRUE(computers.contains("PC-SHARED"));  // a second match counts too

    // failed_sign_ins: most first, with the last time.
    std::map<std::string, std::pair<std::uint64_t, std::string>> failures;
    for (const auto& line : lines) {
        if (!in_range(line) || text_of(line.record, "event") != "session.login_failed") continue;
        auto& [count, last] = failures[lower(text_of(line.record, "actor"))];
        ++count;
        last = std::max(last, text_of(line.record, "time"));
    }
    std::vector<std::tuple<std::string, std::uint64_t, std::string>> expected_failures, got_failures;
    for (const auto& [actor, value] : failures) expected_failures.emplace_back(actor, value.first, value.second);
    std::sort(expected_failures.begin(), expected_failures.end(), [](const auto& a, const auto& b) {
        return std::make_tuple(std::get<1>(b), std::get<0>(a)) < std::make_tuple(std::get<1>(a), std::get<0>(b));
    });
    for (const auto& row : report.at("failed_sign_ins").as_array()) {
        const auto& object = row.as_object();
        got_failures.emplace_back(lower(string_at(object, "actor")), number(object.at("count")), string_at(object, "last"));
    }
    EXPECT_EQ(got_failures, expected_failures);
    EXPECT_EQ(std::get<1>(expected_failures.front()), 3u);  // mallory's fourth and fifth are out of range

    // after_hours_reveals: the reveals outside Mon-Fri 08:00-18:00, oldest first.
    std::vector<std::uint64_t> expected_after, got_after;
    std::map<std::string, std::uint64_t> reveal_at;  // "HH:MM" or "Sat" -> seq
    for (const auto& line : lines) {
        if (!in_range(line) || text_of(line.record, "event") != "key.reveal" || text_of(line.record, "outcome") != "success") {
            continue;
        }
        const auto time = text_of(line.record, "time");
        reveal_at[time.substr(8, 8)] = line.seq;
        if (outside_office_utc(time)) expected_after.push_back(line.seq);
    }
    for (const auto& row : report.at("after_hours_reveals").as_array()) {
        const auto& object = row.as_object();
        got_after.push_back(number(object.at("seq")));
        const auto line = std::find_if(lines.begin(), lines.end(), [&](const LogLine& l) { return l.seq == got_after.back(); });
        ASSERT_NE(line, lines.end());
        EXPECT_EQ(string_at(object, "time"), text_of(line->record, "time"));
        EXPECT_EQ(string_at(object, "actor"), text_of(line->record, "actor"));
        EXPECT_EQ(string_at(object, "computer"), text_of(line->record, "computer"));
        EXPECT_EQ(string_at(object, "key_id"), text_of(line->record, "key_id"));
    }
    EXPECT_EQ(got_after, expected_after);
    const auto flagged = [&](const std::string& at) {
        EXPECT_TRUE(reveal_at.contains(at)) << at;
        return std::find(got_after.begin(), got_after.end(), reveal_at[at]) != got_after.end();
    };
    EXPECT_TRUE(flagged("26T07:59"));
    EXPECT_FALSE(flagged("26T08:00"));
    EXPECT_FALSE(flagged("26T17:59"));
    EXPECT_TRUE(flagged("26T18:00"));
    EXPECT_TRUE(flagged("28T12:00"));  // Saturday
    EXPECT_FALSE(flagged("27T14:00"));

    // unusual_volume: a day above factor x the actor's median over the 30 days before, and at
    // least the minimum.
    std::map<std::string, std::map<std::string, std::uint64_t>> daily;
    const auto history_from = std::chrono::sys_days{std::chrono::year{2026} / 11 / 23} - std::chrono::days(30);
    const auto history_start = audit::utc_timestamp(std::chrono::system_clock::time_point(history_from));
    for (const auto& line : lines) {
        const auto time = text_of(line.record, "time");
        if (time < history_start || time >= to || !counted(line.record)) continue;
        ++daily[lower(text_of(line.record, "actor"))][time.substr(0, 10)];
    }
    std::set<std::tuple<std::string, std::string, std::uint64_t, double>> expected_unusual, got_unusual;
    for (const auto& [actor, counts] : daily) {
        for (const auto& [day, count] : counts) {
            if (day < from.substr(0, 10)) continue;
            int y = 0;
            unsigned m = 0, d = 0;
            EXPECT_EQ(std::sscanf(day.c_str(), "%d-%u-%u", &y, &m, &d), 3) << day;
            const auto window = audit::utc_timestamp(std::chrono::system_clock::time_point(
                                                         std::chrono::sys_days{std::chrono::year{y} / m / d} - std::chrono::days(30)))
                                    .substr(0, 10);
            std::vector<std::uint64_t> history;
            for (const auto& [earlier, earlier_count] : counts) {
                if (earlier >= window && earlier < day) history.push_back(earlier_count);
            }
            const auto typical = median_of(history);
            if (count >= settings.unusual_minimum && static_cast<double>(count) > settings.unusual_factor * typical) {
                expected_unusual.emplace(actor, day, count, typical);
            }
        }
    }
    for (const auto& row : report.at("unusual_volume").as_array()) {
        const auto& object = row.as_object();
        got_unusual.emplace(lower(string_at(object, "actor")), string_at(object, "day"), number(object.at("count")),
                            object.at("median").to_number<double>());
    }
    EXPECT_EQ(got_unusual, expected_unusual);
    const auto unusual_for = [&](const std::string& actor) {
        return std::any_of(got_unusual.begin(), got_unusual.end(), [&](const auto& row) { return std::get<0>(row) == actor; });
    };
    EXPECT_TRUE(unusual_for("vol"));    // 10 against a median of 2
    EXPECT_FALSE(unusual_for("low"));   // 9 against 2: above 3x, below the minimum of 10
    EXPECT_FALSE(unusual_for("edge"));  // 12 against 4: not above 3x
    EXPECT_EQ(got_unusual.size(), 1u);

    // Business hours as configured, for the page to show.
    const auto& hours = report.at("business_hours").as_object();
    EXPECT_EQ(hours.at("start").as_string(), "08:00");
    EXPECT_EQ(hours.at("end").as_string(), "18:00");
    EXPECT_EQ(hours.at("days").as_array().size(), settings.business_day_names.size());
    EXPECT_EQ(hours.at("timezone").as_string(), settings.timezone);
}

TEST_F(ReportsTest, TablesAsCsv) {
    ScopedTimeZone utc("UTC");
    write_week();
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    const auto report = audit::summary_report(index, audit::ReportSettings{}, *audit::normalize_time("2026-11-23", false),
                                              *audit::normalize_time("2026-11-29", true));
    const auto empty = audit::summary_report(index, audit::ReportSettings{}, *audit::normalize_time("2030-01-01", false),
                                             *audit::normalize_time("2030-01-01", true));
    const auto tables = audit::report_tables();
    EXPECT_EQ(std::set<std::string_view>(tables.begin(), tables.end()),
              (std::set<std::string_view>{"per_day", "per_staff", "top_computers", "failed_sign_ins",
                                          "after_hours_reveals", "unusual_volume"}));
    for (const auto table : tables) {
        SCOPED_TRACE(std::string(table));
        const auto rows = parse_csv(audit::report_table_csv(report, table));
        ASSERT_TRUE(rows);
        const auto& objects = report.at(table).as_array();
        ASSERT_FALSE(objects.empty());
        ASSERT_EQ(rows->size(), objects.size() + 1);
        const auto& header = rows->front();
        for (std::size_t r = 0; r < objects.size(); ++r) {
            const auto& object = objects[r].as_object();
            std::set<std::string> keys;
            for (const auto& member : object) keys.insert(std::string(member.key()));
            EXPECT_EQ(std::set<std::string>(header.begin(), header.end()), keys);
            ASSERT_EQ((*rows)[r + 1].size(), header.size());
            for (std::size_t c = 0; c < header.size(); ++c) {
                const auto& value = object.at(header[c]);
                const auto& cell = (*rows)[r + 1][c];
                if (value.is_string()) {
                    EXPECT_EQ(cell, as_exported(std::string(value.as_string())));
                } else {
                    EXPECT_DOUBLE_EQ(std::stod(cell), value.to_number<double>()) << header[c];
                }
            }
        }
        // An empty table is its header alone.
        EXPECT_EQ(audit::report_table_csv(empty, table), csv_line(header));
    }
    EXPECT_EQ(parse_csv(audit::report_table_csv(report, "per_day"))->front(),
              (std::vector<std::string>{"day", "lookups", "reveals", "failed_sign_ins"}));
    EXPECT_THROW(audit::report_table_csv(report, "no_such_table"), std::invalid_argument);
    EXPECT_THROW(audit::report_table_csv(report, "from"), std::invalid_argument);  // a member, not a table
}

TEST_F(ReportsTest, RevealedKeysGroupEveryRevealOfAKey) {
    ScopedTimeZone utc("UTC");
    write_week();
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    struct Expected {
        std::string first, last, computer;
        std::set<std::string> actors;
        std::uint64_t reveals = 0;
    };
    std::map<std::string, Expected> expected;
    for (const auto& line : read_log(dir_)) {
        if (text_of(line.record, "event") != "key.reveal" || text_of(line.record, "outcome") != "success") continue;
        const auto time = text_of(line.record, "time");
        auto& key = expected[text_of(line.record, "key_id")];
        if (key.reveals++ == 0) key.first = time;
        key.last = time;
        key.computer = std::max(key.computer, text_of(line.record, "computer"));
        key.actors.insert(lower(text_of(line.record, "actor")));
    }
    const auto keys = audit::revealed_keys(index);
    ASSERT_EQ(keys.size(), expected.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const auto& key = keys[i];
        SCOPED_TRACE(key.key_id);
        ASSERT_TRUE(expected.contains(key.key_id));
        const auto& want = expected[key.key_id];
        EXPECT_EQ(key.first_revealed, want.first);
        EXPECT_EQ(key.last_revealed, want.last);
        EXPECT_EQ(key.reveals, want.reveals);
        EXPECT_EQ(key.computer, want.computer);
        std::set<std::string> actors;
        for (const auto& actor : key.revealed_by) actors.insert(lower(actor));
        EXPECT_EQ(actors, want.actors);
        EXPECT_EQ(key.revealed_by.size(), want.actors.size());
        if (i > 0) {
            EXPECT_LE(keys[i - 1].first_revealed, key.first_revealed);  // oldest first reveal first
        }
    }
    // Key 1 was revealed three times, by two people; the denied reveal of key 5 is not there.
    ASSERT_TRUE(expected.contains(key_for(1)));
    EXPECT_EQ(expected[key_for(1)].reveals, 3u);
    EXPECT_EQ(expected[key_for(1)].actors.size(), 2u);
    EXPECT_FALSE(expected.contains(key_for(5)));
}
