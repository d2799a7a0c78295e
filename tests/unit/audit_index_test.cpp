// The audit index: time and filter parsing, and an index that always says what the files say
// (checked record by record against a brute-force scan of the JSONL files).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "audit/audit_index.hpp"
#include "audit/audit_log.hpp"
#include "audit/signing.hpp"
#include "audit_log_fixture.hpp"

namespace audit = keydesk::audit;
namespace json = boost::json;
namespace fs = std::filesystem;

using audit::AuditFilter;
using audit::AuditIndex;
using audit::AuditLog;
using audit::AuditSettings;
using audit::normalize_time;
using audit::parse_filter;
using Params = std::vector<std::pair<std::string, std::string>>;
using namespace keydesk::test;

namespace {

const std::string hmac_key = "0123456789abcdef0123456789abcdef-index-test";

// ---------------------------------------------------------------------------------------------
// Helpers that know nothing of the index: filtering the files by brute force (read_log, from
// audit_log_fixture.hpp, reads them).

std::string hex_only(const std::string& text) {
    std::string hex;
    for (const char c : text) {
        if (std::isxdigit(static_cast<unsigned char>(c))) hex += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return hex;
}

// What a filter can match in one record, read straight from the parsed line.
struct Facts {
    std::string time, event, actor, outcome, reason, reason_code, ticket;
    std::set<std::string> computers;  // upper case
    std::set<std::string> key_ids;    // hex digits only, upper case
};

Facts facts_of(const json::object& record) {
    Facts facts;
    facts.time = text_of(record, "time");
    facts.event = text_of(record, "event");
    facts.actor = text_of(record, "actor");
    facts.outcome = text_of(record, "outcome");
    facts.reason = text_of(record, "reason");
    facts.reason_code = text_of(record, "reason_code");
    facts.ticket = text_of(record, "ticket");
    const auto note = [&](const json::object& object) {
        if (const auto computer = text_of(object, "computer"); !computer.empty()) facts.computers.insert(upper(computer));
        if (const auto key = hex_only(text_of(object, "key_id")); !key.empty()) facts.key_ids.insert(key);
    };
    note(record);
    if (const auto* query = record.if_contains("query"); query && query->is_object()) note(query->get_object());
    if (const auto* matches = record.if_contains("matches"); matches && matches->is_array()) {
        for (const auto& match : matches->get_array()) {
            if (match.is_object()) note(match.get_object());
        }
    }
    return facts;
}

bool brute_match(const AuditFilter& filter, const Facts& facts) {
    if (!filter.from.empty() && facts.time < filter.from) return false;
    if (!filter.to.empty() && !(facts.time < filter.to)) return false;
    if (!filter.actor.empty() && lower(filter.actor) != lower(facts.actor)) return false;
    if (!filter.computer.empty() && !facts.computers.contains(filter.computer)) return false;
    if (!filter.key_id.empty() &&
        std::none_of(facts.key_ids.begin(), facts.key_ids.end(),
                     [&](const std::string& key) { return key.starts_with(filter.key_id); })) {
        return false;
    }
    if (!filter.event.empty() && filter.event != facts.event) return false;
    if (!filter.outcome.empty() && filter.outcome != facts.outcome) return false;
    if (!filter.reason.empty() && filter.reason != facts.reason && filter.reason != facts.reason_code) return false;
    if (!filter.ticket.empty() && filter.ticket != facts.ticket) return false;
    return true;
}

// Oldest first, the seqs of the lines a filter selects, with after < seq <= up_to.
std::vector<std::uint64_t> brute_seqs(const std::vector<LogLine>& lines, const AuditFilter& filter,
                                      std::uint64_t after = 0, std::uint64_t up_to = UINT64_MAX) {
    std::vector<std::uint64_t> seqs;
    for (const auto& line : lines) {
        if (line.seq > after && line.seq <= up_to && brute_match(filter, facts_of(line.record))) {
            seqs.push_back(line.seq);
        }
    }
    std::sort(seqs.begin(), seqs.end());
    return seqs;
}

std::vector<std::uint64_t> seqs_of(const std::vector<audit::IndexedRecord>& records) {
    std::vector<std::uint64_t> seqs;
    for (const auto& record : records) seqs.push_back(record.seq);
    return seqs;
}

AuditFilter filter_of(const Params& params) {
    std::string problem;
    auto filter = parse_filter(params, {}, problem);
    EXPECT_TRUE(filter) << problem;
    return filter.value_or(AuditFilter{});
}

std::string describe(const Params& params) {
    std::string text;
    for (const auto& [name, value] : params) text += name + "=" + value + " ";
    return text;
}

// A Key ID in the dashed form the log records; even and odd `n` have different first groups, so
// a short prefix selects about half.
std::string key_for(int n) {
    char text[48];
    std::snprintf(text, sizeof text, "%08X-%04X-%04X-%04X-%012llX",
                  (n % 2 ? 0xC3D40000u : 0xA1B20000u) + static_cast<unsigned>(n), static_cast<unsigned>(n),
                  0xBEEFu, 0x1000u + static_cast<unsigned>(n), static_cast<unsigned long long>(n) * 7919ull);
    return text;
}

std::string computer_for(int n) { return "PC-" + std::to_string(n); }

// Record `i` of the mix every index test writes: seven kinds, four actors (two of them the same
// name in different case).
json::object mix_record(int i) {
    static const char* const actors[] = {"Alice", "bob", "Carol", "ALICE"};
    const std::string actor = actors[i % 4];
    json::object record{{"actor", actor}, {"client", "10.0.0." + std::to_string(i % 5)},
                        {"request_id", "rid-" + std::to_string(i)}};
    switch (i % 7) {
        case 0:
            record["event"] = "session.login";
            record["outcome"] = "success";
            break;
        case 1:  // a lookup by a typed prefix that matched two keys
            record["event"] = "key.lookup";
            record["outcome"] = "success";
            record["query"] = json::object{{"key_id", key_for(i).substr(0, 11)}};
            record["matches"] = json::array{json::object{{"key_id", key_for(i)}, {"computer", computer_for(i)}},
                                            json::object{{"key_id", key_for(i + 1)}, {"computer", computer_for(i + 1)}}};
            if (i % 2) record["ticket"] = "INC-" + std::to_string(i % 3);
            break;
        case 2:  // the reveal of the lookup's first match
            record["event"] = "key.reveal";
            record["outcome"] = "success";
            record["key_id"] = key_for(i - 1);
            record["computer"] = computer_for(i - 1);
            record["reason"] = i % 2 ? "hardware_change" : "forgotten_pin";
            record["ticket"] = "INC-" + std::to_string(i % 3);
            break;
        case 3:
            record["event"] = "access.denied";
            record["outcome"] = "denied";
            record["reason"] = "not_auditor";
            record["method"] = "GET";
            record["path"] = "/api/v1/audit/records";
            break;
        case 4:
            record["event"] = "session.login_failed";
            record["outcome"] = "denied";
            record["reason"] = "bad_password";
            break;
        case 5:  // a refused reveal: the reason code says why
            record["event"] = "key.reveal";
            record["outcome"] = "invalid";
            record["key_id"] = "1234";
            record["reason"] = "";
            record["reason_code"] = "invalid_key_id";
            break;
        default:  // a lookup by computer name, as typed
            record["event"] = "key.lookup";
            record["outcome"] = i % 2 ? "success" : "not_found";
            record["query"] = json::object{{"computer", lower(computer_for(i))}};
            record["matches"] = i % 2 ? json::array{json::object{{"key_id", key_for(i)}, {"computer", computer_for(i)}}}
                                      : json::array{};
            break;
    }
    return record;
}

class AuditIndexTest : public AuditLogFixture {
protected:
    AuditIndexTest() : AuditLogFixture("kd-index-") {}

    // Appends mix records [first, last), the clock moving `step` after each.
    void write_mix(AuditLog& log, int first, int last, std::chrono::milliseconds step = std::chrono::seconds(61)) {
        append_records(log, first, last, mix_record, step);
    }

    void write_closed_log(int records) {
        AuditLog log(dir_, hmac_key, settings());
        write_mix(log, 0, records);
    }

    // The index says exactly what the files say: every record where it is, with its line.
    void expect_index_matches_files(AuditIndex& index, const fs::path& directory) {
        const auto lines = read_log(directory);
        ASSERT_FALSE(lines.empty());
        std::uint64_t newest = 0;
        for (const auto& line : lines) {
            newest = std::max(newest, line.seq);
            const auto found = index.find(line.seq);
            ASSERT_TRUE(found) << "seq " << line.seq;
            EXPECT_EQ(found->file, line.file) << "seq " << line.seq;
            EXPECT_EQ(found->line, line.line) << "seq " << line.seq;
            EXPECT_EQ(found->offset, line.offset) << "seq " << line.seq;
            EXPECT_EQ(found->length, line.text.size()) << "seq " << line.seq;
            const auto summary = audit::summarize_record(line.record);
            EXPECT_EQ(found->time, summary.time);
            EXPECT_EQ(found->event, summary.event);
            EXPECT_EQ(found->actor, summary.actor);
            EXPECT_EQ(found->outcome, summary.outcome);
            EXPECT_EQ(found->client, summary.client);
            EXPECT_EQ(found->computer, summary.computer);
            EXPECT_EQ(found->key_id, summary.key_id);
            EXPECT_EQ(found->reason, summary.reason);
            EXPECT_EQ(found->ticket, summary.ticket);
            EXPECT_EQ(found->request_id, summary.request_id);
            EXPECT_EQ(found->digest.size(), 32u);  // 128 bits of the line's SHA-256, in hex
            EXPECT_EQ(index.read_line(line.seq), std::optional<std::string>(line.text)) << "seq " << line.seq;
        }
        EXPECT_EQ(index.count(AuditFilter{}, newest), lines.size());
        EXPECT_EQ(index.count(AuditFilter{}, UINT64_MAX), lines.size());
        EXPECT_EQ(index.indexed_seq(), newest);
        EXPECT_FALSE(index.find(newest + 1));
        EXPECT_FALSE(index.read_line(newest + 1));
    }
};

// Rewrites the line holding `seq` in its file with `edit` applied (the other lines unchanged).
void edit_line(const fs::path& directory, std::uint64_t seq, const std::function<void(std::string&)>& edit) {
    for (const auto& path : audit::log_files(directory)) {
        auto text = read_text(path);
        const auto marker = "{\"seq\":" + std::to_string(seq) + ",";
        const auto at = text.rfind(marker);
        if (at == std::string::npos || (at != 0 && text[at - 1] != '\n')) continue;
        const auto end = text.find('\n', at);
        auto line = text.substr(at, end - at);
        edit(line);
        text.replace(at, end - at, line);
        write_text(path, text);
        return;
    }
    ADD_FAILURE() << "no line with seq " << seq;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// normalize_time

TEST(AuditIndexTime, ADateIsItsFirstInstantOrTheNextDaysWithEndOfDay) {
    EXPECT_EQ(normalize_time("2026-11-26", false), "2026-11-26T00:00:00.000Z");
    EXPECT_EQ(normalize_time("2026-11-26", true), "2026-11-27T00:00:00.000Z");
    // Month, year and leap-day rollovers, each checked against std::chrono's calendar.
    for (const auto* date : {"2026-11-30", "2026-12-31", "2028-02-28", "2028-02-29", "2027-02-28", "2026-01-31"}) {
        int y = 0;
        unsigned m = 0, d = 0;
        ASSERT_EQ(std::sscanf(date, "%d-%u-%u", &y, &m, &d), 3);
        const std::chrono::year_month_day next{std::chrono::sys_days{std::chrono::year{y} / m / d} + std::chrono::days(1)};
        char expected[40];
        std::snprintf(expected, sizeof expected, "%04d-%02u-%02uT00:00:00.000Z", static_cast<int>(next.year()),
                      static_cast<unsigned>(next.month()), static_cast<unsigned>(next.day()));
        EXPECT_EQ(normalize_time(date, true), std::string(expected)) << date;
        EXPECT_EQ(normalize_time(date, false), std::string(date) + "T00:00:00.000Z") << date;
    }
    EXPECT_EQ(normalize_time("2028-02-28", true), "2028-02-29T00:00:00.000Z");  // leap year
    EXPECT_EQ(normalize_time("2027-02-28", true), "2027-03-01T00:00:00.000Z");  // not one
    EXPECT_EQ(normalize_time("2026-12-31", true), "2027-01-01T00:00:00.000Z");
}

TEST(AuditIndexTime, TimesArePaddedToMillisecondsAndEndOfDayLeavesThemAlone) {
    const std::pair<const char*, const char*> cases[] = {
        {"2026-11-26T10:05", "2026-11-26T10:05:00.000Z"},
        {"2026-11-26T10:05Z", "2026-11-26T10:05:00.000Z"},
        {"2026-11-26T10:05:07", "2026-11-26T10:05:07.000Z"},
        {"2026-11-26T10:05:07Z", "2026-11-26T10:05:07.000Z"},
        {"2026-11-26T10:05:07.5", "2026-11-26T10:05:07.500Z"},
        {"2026-11-26T10:05:07.05", "2026-11-26T10:05:07.050Z"},
        {"2026-11-26T10:05:07.123", "2026-11-26T10:05:07.123Z"},
        {"2026-11-26T10:05:07.123Z", "2026-11-26T10:05:07.123Z"},
        {"2026-11-26T23:59:59.999Z", "2026-11-26T23:59:59.999Z"},
        {"2026-11-26T00:00", "2026-11-26T00:00:00.000Z"},
    };
    for (const auto& [text, expected] : cases) {
        EXPECT_EQ(normalize_time(text, false), std::string(expected)) << text;
        EXPECT_EQ(normalize_time(text, true), std::string(expected)) << text << " (end of day)";
        // What it gives is in its own form: normalizing again changes nothing.
        EXPECT_EQ(normalize_time(expected, false), std::string(expected));
    }
}

TEST(AuditIndexTime, RefusesImpossibleAndMalformedTimes) {
    for (const auto* text : {"2026-13-01", "2026-00-10", "2026-02-30", "2027-02-29", "2026-04-31", "2026-11-00",
                             "2026-11-26T24:00", "2026-11-26T10:60", "2026-11-26T10:00:60", "garbage", "",
                             "2026-11-26Z", "2026-11-26T10", "2026-11-26T1:00", "2026-1-26", "26-11-2026",
                             "2026-11-26 10:00", "2026-11-26t10:00", " 2026-11-26", "2026-11-26T10:00:00.1234",
                             "2026-11-26T10:00:00.", "2026-11-26T10:00:00.000ZZ", "2026-11-26T10:00:00+01:00",
                             "2026-11-26T10:00:00.000Z                        "}) {
        EXPECT_FALSE(normalize_time(text, false)) << '"' << text << '"';
        EXPECT_FALSE(normalize_time(text, true)) << '"' << text << '"';
    }
    EXPECT_FALSE(normalize_time(std::string(41, '1'), false));
    EXPECT_FALSE(normalize_time("2026-11-26" + std::string(100, '0'), false));
}

// ---------------------------------------------------------------------------------------------
// parse_filter

TEST(AuditIndexFilter, AcceptsAndNormalizesEveryParameter) {
    std::string problem;
    const auto filter = parse_filter({{"from", "2026-11-20"},
                                      {"to", "2026-11-26"},
                                      {"actor", "Alice.Smith"},
                                      {"computer", "pc-0042.corp"},
                                      {"key_id", "{a1b2c3d4-e5f6-"},
                                      {"event", "key.reveal"},
                                      {"outcome", "success"},
                                      {"reason", "hardware_change"},
                                      {"ticket", "INC-12 34"}},
                                     {}, problem);
    ASSERT_TRUE(filter) << problem;
    EXPECT_EQ(filter->from, normalize_time("2026-11-20", false));
    EXPECT_EQ(filter->to, normalize_time("2026-11-26", true));  // a bare `to` date includes its day
    EXPECT_EQ(filter->actor, "Alice.Smith");                    // kept: matched case-insensitively
    EXPECT_EQ(filter->computer, upper("pc-0042.corp"));
    EXPECT_EQ(filter->key_id, hex_only("{a1b2c3d4-e5f6-"));
    EXPECT_EQ(filter->key_id, "A1B2C3D4E5F6");
    EXPECT_EQ(filter->event, "key.reveal");
    EXPECT_EQ(filter->outcome, "success");
    EXPECT_EQ(filter->reason, "hardware_change");
    EXPECT_EQ(filter->ticket, "INC-12 34");

    // The filter's record names each member set, with its normalized value.
    const auto json = filter->to_json();
    EXPECT_EQ(json.size(), 9u);
    EXPECT_EQ(json.at("computer").as_string(), filter->computer);
    EXPECT_EQ(json.at("key_id").as_string(), filter->key_id);
    EXPECT_EQ(json.at("to").as_string(), filter->to);

    // Every outcome the log writes is accepted; a full 32-digit Key ID with braces is too.
    for (const auto* outcome : {"success", "denied", "not_found", "invalid", "error"}) {
        const auto one = parse_filter({{"outcome", outcome}}, {}, problem);
        ASSERT_TRUE(one) << outcome << ": " << problem;
        EXPECT_EQ(one->outcome, outcome);
    }
    const auto full = parse_filter({{"key_id", "{" + lower(key_for(7)) + "}"}}, {}, problem);
    ASSERT_TRUE(full) << problem;
    EXPECT_EQ(full->key_id, hex_only(key_for(7)));
    EXPECT_EQ(full->key_id.size(), 32u);

    // No parameters, or empty values: no filtering at all.
    const auto none = parse_filter({{"actor", ""}, {"key_id", ""}, {"from", ""}}, {}, problem);
    ASSERT_TRUE(none) << problem;
    EXPECT_TRUE(none->to_json().empty());
    ASSERT_TRUE(parse_filter({}, {}, problem));
}

TEST(AuditIndexFilter, RefusesWhatItDoesNotKnowAndNamesTheParameter) {
    const auto refused = [](const Params& params, const std::vector<std::string_view>& also = {}) {
        std::string problem;
        const auto filter = parse_filter(params, also, problem);
        EXPECT_FALSE(filter) << describe(params);
        EXPECT_FALSE(problem.empty()) << describe(params);
        return problem;
    };
    EXPECT_NE(refused({{"colour", "red"}}).find("colour"), std::string::npos);
    EXPECT_NE(refused({{"actor", "a"}, {"Actor", "b"}}).find("Actor"), std::string::npos);  // names are exact
    EXPECT_NE(refused({{"actor", "a"}, {"actor", "a"}}).find("actor"), std::string::npos);
    EXPECT_NE(refused({{"ticket", "1"}, {"event", "key.reveal"}, {"ticket", "2"}}).find("ticket"), std::string::npos);
    // A repeated empty value is still a repeat.
    EXPECT_NE(refused({{"reason", ""}, {"reason", ""}}).find("reason"), std::string::npos);

    // Length: 256 characters are fine, 257 are not, whatever the parameter.
    std::string problem;
    EXPECT_TRUE(parse_filter({{"ticket", std::string(256, 't')}}, {}, problem)) << problem;
    for (const auto* name : {"ticket", "actor", "reason", "computer", "from"}) {
        EXPECT_NE(refused({{name, std::string(257, 'a')}}).find(name), std::string::npos) << name;
    }
    // Control characters, including DEL, anywhere.
    for (const auto& value : {std::string("a\tb"), std::string("a\nb"), std::string("ab\r"), std::string("\x7f"),
                              std::string("a\0b", 3), std::string("\x1b[31m")}) {
        EXPECT_NE(refused({{"actor", value}}).find("actor"), std::string::npos);
    }
    // Values each parameter cannot hold.
    for (const auto* event : {"Key.Reveal", "key reveal", "key-reveal", "key.reveal;", "*"}) {
        EXPECT_NE(refused({{"event", event}}).find("event"), std::string::npos) << event;
    }
    for (const auto* outcome : {"maybe", "Success", "success "}) {
        EXPECT_NE(refused({{"outcome", outcome}}).find("outcome"), std::string::npos) << outcome;
    }
    for (const auto& key : {std::string("xyz"), std::string("---"), std::string("{}"), std::string("12 34"),
                            std::string(33, 'A'), hex_only(key_for(1)) + "0"}) {
        EXPECT_NE(refused({{"key_id", key}}).find("key_id"), std::string::npos) << key;
    }
    for (const auto* name : {"from", "to"}) {
        EXPECT_NE(refused({{name, "2026-02-30"}}).find(name), std::string::npos);
        EXPECT_NE(refused({{name, "yesterday"}}).find(name), std::string::npos);
    }
    // from must come before to, after both are normalized.
    EXPECT_NE(refused({{"from", "2026-11-27"}, {"to", "2026-11-26"}}).find("from"), std::string::npos);
    EXPECT_NE(refused({{"from", "2026-11-26T10:00"}, {"to", "2026-11-26T10:00:00.000Z"}}).find("from"), std::string::npos);
    const auto same_day = parse_filter({{"from", "2026-11-26"}, {"to", "2026-11-26"}}, {}, problem);
    ASSERT_TRUE(same_day) << problem;  // the whole day
    EXPECT_LT(same_day->from, same_day->to);
    EXPECT_TRUE(parse_filter({{"from", "2026-11-26T23:59:59.999"}, {"to", "2026-11-26"}}, {}, problem)) << problem;
}

TEST(AuditIndexFilter, SkipsTheNamesTheCallerAllows) {
    std::string problem;
    const auto filter = parse_filter({{"cursor", "123"}, {"limit", "x"}, {"actor", "bob"}, {"cursor", "456"},
                                      {"format", std::string(300, 'f')}},
                                     {"cursor", "limit", "format"}, problem);
    ASSERT_TRUE(filter) << problem;
    EXPECT_EQ(filter->actor, "bob");
    EXPECT_EQ(filter->to_json().size(), 1u);
    // Only those names: another one is still unknown.
    EXPECT_FALSE(parse_filter({{"cursor", "1"}, {"page", "2"}}, {"cursor"}, problem));
    EXPECT_NE(problem.find("page"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// summarize_record

TEST(AuditIndexSummary, ALookupShowsWhatWasTypedElseItsFirstMatch) {
    const auto lookup = json::parse(R"({"seq":12,"time":"2026-11-26T10:00:00.000Z","event":"key.lookup",
        "actor":"bob","client":"10.1.2.3","request_id":"r-1","outcome":"success","ticket":"INC-7",
        "query":{"key_id":"A1B2C3D4-E5"},
        "matches":[{"key_id":"A1B2C3D4-E5F6-0000-0000-000000000001","computer":"pc-one"},
                   {"key_id":"A1B2C3D4-E5F6-0000-0000-000000000002","computer":"pc-two"}],
        "prev":"00","mac":"ab12"})")
                            .as_object();
    const auto summary = audit::summarize_record(lookup);
    EXPECT_EQ(summary.seq, 12u);
    EXPECT_EQ(summary.time, "2026-11-26T10:00:00.000Z");
    EXPECT_EQ(summary.event, "key.lookup");
    EXPECT_EQ(summary.actor, "bob");
    EXPECT_EQ(summary.client, "10.1.2.3");
    EXPECT_EQ(summary.request_id, "r-1");
    EXPECT_EQ(summary.outcome, "success");
    EXPECT_EQ(summary.ticket, "INC-7");
    EXPECT_EQ(summary.key_id, "A1B2C3D4-E5");  // the typed prefix, not a match
    EXPECT_EQ(summary.computer, "pc-one");     // nothing typed: the first match
    EXPECT_TRUE(summary.reason.empty());

    auto by_name = lookup;
    by_name["query"] = json::object{{"computer", "PC-TYPED"}};
    EXPECT_EQ(audit::summarize_record(by_name).computer, "PC-TYPED");  // typed wins over matches

    auto nothing_found = lookup;
    nothing_found["matches"] = json::array{};
    nothing_found["query"] = json::object{{"computer", "pc-x"}};
    EXPECT_EQ(audit::summarize_record(nothing_found).computer, "pc-x");
    EXPECT_TRUE(audit::summarize_record(nothing_found).key_id.empty());
}

TEST(AuditIndexSummary, ALookupByComputerShowsItsFirstMatchsKeyId) {
    const auto lookup = json::parse(R"({"seq":3,"event":"key.lookup","actor":"bob","outcome":"success",
        "query":{"computer":"pc-one"},
        "matches":[{"key_id":"A1B2C3D4-E5F6-0000-0000-000000000001","computer":"PC-ONE"},
                   {"key_id":"A1B2C3D4-E5F6-0000-0000-000000000002","computer":"PC-ONE"}],"mac":"ab"})")
                            .as_object();
    const auto first = std::string(lookup.at("matches").as_array()[0].as_object().at("key_id").as_string());
    EXPECT_EQ(audit::summarize_record(lookup).key_id, first);
}

TEST(AuditIndexSummary, ARevealAndARefusal) {
    const auto reveal = json::parse(R"({"seq":40,"time":"2026-11-26T11:00:00.000Z","event":"key.reveal",
        "actor":"alice","outcome":"success","key_id":"A1B2C3D4-E5F6-0000-0000-000000000001",
        "computer":"PC-ONE","computer_dn":"CN=PC-ONE,OU=x","reason":"hardware_change",
        "reason_text":"new board","ticket":"INC-9","mac":"cd"})")
                            .as_object();
    const auto summary = audit::summarize_record(reveal);
    EXPECT_EQ(summary.seq, 40u);
    EXPECT_EQ(summary.key_id, "A1B2C3D4-E5F6-0000-0000-000000000001");
    EXPECT_EQ(summary.computer, "PC-ONE");
    EXPECT_EQ(summary.reason, "hardware_change");
    EXPECT_EQ(summary.ticket, "INC-9");

    // Refused before a reason was accepted: the reason code says why.
    auto refused = reveal;
    refused["outcome"] = "invalid";
    refused["reason"] = "";
    refused["reason_code"] = "ticket_required";
    EXPECT_EQ(audit::summarize_record(refused).reason, "ticket_required");
    refused.erase("reason");
    EXPECT_EQ(audit::summarize_record(refused).reason, "ticket_required");
    // Both: the reason given wins.
    refused["reason"] = "forgotten_pin";
    EXPECT_EQ(audit::summarize_record(refused).reason, "forgotten_pin");

    // Members of the wrong type are not shown; an absent seq is 0.
    const auto odd = json::parse(R"({"event":7,"actor":["x"],"key_id":null,"reason_code":"denied_x"})").as_object();
    const auto empty = audit::summarize_record(odd);
    EXPECT_EQ(empty.seq, 0u);
    EXPECT_TRUE(empty.event.empty());
    EXPECT_TRUE(empty.actor.empty());
    EXPECT_TRUE(empty.key_id.empty());
    EXPECT_EQ(empty.reason, "denied_x");
}

// ---------------------------------------------------------------------------------------------
// The index against real logs

TEST_F(AuditIndexTest, EqualsTheFilesRecordByRecord) {
    write_closed_log(75);
    AuditIndex index(dir_, index_file_);
    EXPECT_EQ(index.indexed_seq(), 0u);  // nothing read before a refresh
    const auto lines = read_log(dir_);
    ASSERT_GT(lines.size(), 75u);  // the records and their checkpoints
    const auto newest = index.refresh_and_wait();
    EXPECT_EQ(newest, lines.back().seq);
    EXPECT_EQ(index.rebuilds(), 0u);
    expect_index_matches_files(index, dir_);

    // There are checkpoints, indexed like any record.
    AuditFilter checkpoints;
    checkpoints.event = "audit.checkpoint";
    EXPECT_GE(index.count(checkpoints, newest), 7u);
    EXPECT_EQ(index.count(checkpoints, newest), brute_seqs(lines, checkpoints).size());

    // select() runs the caller's SQL against the same records.
    std::uint64_t reveals = 0;
    index.select("SELECT count(*) FROM records WHERE event = ? AND outcome = ?", {"key.reveal", "success"},
                 [&](const std::vector<std::string>& row) { reveals = std::stoull(row.at(0)); });
    AuditFilter reveal_filter;
    reveal_filter.event = "key.reveal";
    reveal_filter.outcome = "success";
    EXPECT_EQ(reveals, brute_seqs(lines, reveal_filter).size());
    EXPECT_GT(reveals, 0u);

    // A refresh with nothing new changes nothing.
    EXPECT_EQ(index.refresh(), newest);
    EXPECT_EQ(index.rebuilds(), 0u);
}

TEST_F(AuditIndexTest, EachFilterSelectsWhatABruteForceScanSelects) {
    write_closed_log(90);
    AuditIndex index(dir_, index_file_);
    const auto newest = index.refresh_and_wait();
    const auto lines = read_log(dir_);

    // Values taken from the records themselves.
    const LogLine* lookup = nullptr;  // a lookup by a typed prefix with two matches
    const LogLine* reveal = nullptr;
    for (const auto& line : lines) {
        if (!lookup && line.record.contains("matches") && line.record.at("matches").as_array().size() == 2) lookup = &line;
        if (!reveal && text_of(line.record, "event") == "key.reveal" && text_of(line.record, "outcome") == "success") {
            reveal = &line;
        }
    }
    ASSERT_TRUE(lookup && reveal);
    const auto& second_match = lookup->record.at("matches").as_array()[1].as_object();
    const auto second_computer = lower(text_of(second_match, "computer"));
    const auto typed_prefix = text_of(lookup->record.at("query").as_object(), "key_id");
    const auto revealed_key = text_of(reveal->record, "key_id");

    struct Case {
        Params params;
        std::vector<std::uint64_t> must_include;
        bool may_be_empty = false;
    };
    const std::vector<Case> cases = {
        {{{"actor", "alice"}}, {}},  // "Alice" and "ALICE"
        {{{"actor", "BOB"}}, {}},
        {{{"actor", "nobody"}}, {}, true},
        {{{"computer", second_computer}}, {lookup->seq}},
        {{{"key_id", revealed_key}}, {reveal->seq}},
        {{{"key_id", "{" + lower(revealed_key) + "}"}}, {reveal->seq}},
        {{{"key_id", typed_prefix}}, {lookup->seq}},
        {{{"key_id", text_of(second_match, "key_id")}}, {lookup->seq}},
        {{{"key_id", "a1b2"}}, {}},
        {{{"key_id", "C"}}, {}},
        {{{"key_id", "1234"}}, {}},  // the refused reveals' typed id
        {{{"event", "key.reveal"}}, {reveal->seq}},
        {{{"event", "audit.checkpoint"}}, {}},
        {{{"outcome", "denied"}}, {}},
        {{{"outcome", "not_found"}}, {}},
        {{{"reason", "hardware_change"}}, {}},
        {{{"reason", "invalid_key_id"}}, {}},  // a reason_code
        {{{"reason", "not_auditor"}}, {}},
        {{{"ticket", "INC-1"}}, {}},
        {{{"actor", "alice"}, {"event", "key.reveal"}}, {}},
        {{{"actor", "Carol"}, {"event", "key.lookup"}, {"outcome", "success"}}, {}},
        {{{"computer", second_computer}, {"event", "key.lookup"}}, {lookup->seq}},
        {{{"computer", second_computer}, {"event", "key.reveal"}}, {}, true},
        {{{"key_id", "A1B2"}, {"outcome", "success"}, {"event", "key.lookup"}}, {}},
        {{{"reason", "hardware_change"}, {"ticket", "INC-1"}}, {}},
        {{{"event", "key.reveal"}, {"reason", "invalid_key_id"}, {"actor", "bob"}}, {}},
    };
    for (const auto& [params, must_include, may_be_empty] : cases) {
        SCOPED_TRACE(describe(params));
        const auto filter = filter_of(params);
        const auto expected = brute_seqs(lines, filter);
        if (!may_be_empty) {
            EXPECT_FALSE(expected.empty()) << "the case selects nothing: it proves little";
        }
        EXPECT_LT(expected.size(), lines.size());
        for (const auto seq : must_include) EXPECT_TRUE(std::binary_search(expected.begin(), expected.end(), seq)) << seq;

        EXPECT_EQ(seqs_of(index.oldest(filter, 0, newest, 100000)), expected);
        auto newest_first = expected;
        std::reverse(newest_first.begin(), newest_first.end());
        EXPECT_EQ(seqs_of(index.newest(filter, 0, 100000)), newest_first);
        EXPECT_EQ(index.count(filter, newest), expected.size());
        // Every record returned is one of the files' records, field for field.
        for (const auto& record : index.oldest(filter, 0, newest, 5)) {
            const auto line = std::find_if(lines.begin(), lines.end(), [&](const LogLine& l) { return l.seq == record.seq; });
            ASSERT_NE(line, lines.end());
            EXPECT_EQ(index.read_line(record.seq), std::optional<std::string>(line->text));
            EXPECT_EQ(record.actor, text_of(line->record, "actor"));
            EXPECT_EQ(record.event, text_of(line->record, "event"));
        }
    }
    // "Alice" and "ALICE" are one actor to the filter.
    const auto alices = brute_seqs(lines, filter_of({{"actor", "aLiCe"}}));
    std::set<std::string> spellings;
    for (const auto& line : lines) {
        if (std::binary_search(alices.begin(), alices.end(), line.seq)) spellings.insert(text_of(line.record, "actor"));
    }
    EXPECT_EQ(spellings, (std::set<std::string>{"Alice", "ALICE"}));
}

TEST_F(AuditIndexTest, TimeRangesFollowMonotonicTimesEvenWhenTheClockStepsBack) {
    {
        AuditLog log(dir_, hmac_key, settings());
        write_mix(log, 0, 25, std::chrono::seconds(60));
        clock_->fetch_sub(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::minutes(6)).count());
        write_mix(log, 25, 50, std::chrono::seconds(60));
    }
    const auto lines = read_log(dir_);
    // Record times never go backwards.
    for (std::size_t i = 1; i < lines.size(); ++i) {
        EXPECT_LE(text_of(lines[i - 1].record, "time"), text_of(lines[i].record, "time")) << "seq " << lines[i].seq;
    }
    // The clock stepped back 6 minutes before rid-25: it and the five after it, written while the
    // clock was behind rid-24's time (or equal to it), carry rid-24's time; rid-31 is later again.
    const auto time_of_request = [&](int i) {
        for (const auto& line : lines) {
            if (text_of(line.record, "request_id") == "rid-" + std::to_string(i)) return text_of(line.record, "time");
        }
        ADD_FAILURE() << "no rid-" << i;
        return std::string();
    };
    const auto clamped = time_of_request(24);
    for (int i = 25; i <= 30; ++i) EXPECT_EQ(time_of_request(i), clamped) << "rid-" << i;
    EXPECT_GT(time_of_request(31), clamped);
    EXPECT_GT(clamped, audit::utc_timestamp(std::chrono::system_clock::time_point(
                           std::chrono::milliseconds(millis_at(2026, 11, 26, 9, 19)))));

    AuditIndex index(dir_, index_file_);
    const auto newest = index.refresh_and_wait();
    const auto first = text_of(lines.front().record, "time");
    const auto last = text_of(lines.back().record, "time");
    const auto early = text_of(lines[10].record, "time");
    const auto late = text_of(lines[lines.size() - 8].record, "time");
    const auto half_past = [](std::string time) { return time.replace(17, 2, "30"); };  // between two records

    const std::vector<Params> cases = {
        {{"from", clamped}},
        {{"to", clamped}},
        {{"from", clamped}, {"to", late}},
        {{"from", early}, {"to", clamped}},
        {{"from", half_past(early)}, {"to", half_past(late)}},
        {{"from", half_past(clamped)}},
        {{"from", first}, {"to", last}},
        {{"from", first.substr(0, 10)}, {"to", first.substr(0, 10)}},  // the whole day
        {{"from", "2026-11-25"}, {"to", first}},                        // nothing before the first
        {{"from", last}},
        {{"from", "2026-11-27"}},                                       // after the last
        {{"to", "2026-11-26"}},                                         // all of that day and before
        {{"from", early}, {"to", late}, {"actor", "bob"}},
        {{"from", clamped}, {"event", "key.lookup"}, {"computer", lower(computer_for(36))}},
        {{"from", early}, {"to", clamped}, {"key_id", "A1B2"}},
    };
    for (const auto& params : cases) {
        SCOPED_TRACE(describe(params));
        const auto filter = filter_of(params);
        const auto expected = brute_seqs(lines, filter);
        EXPECT_EQ(seqs_of(index.oldest(filter, 0, newest, 100000)), expected);
        auto newest_first = expected;
        std::reverse(newest_first.begin(), newest_first.end());
        EXPECT_EQ(seqs_of(index.newest(filter, 0, 100000)), newest_first);
        EXPECT_EQ(index.count(filter, newest), expected.size());
        // And combined with seq bounds.
        const auto middle = newest / 2;
        EXPECT_EQ(seqs_of(index.oldest(filter, middle / 2, middle, 100000)), brute_seqs(lines, filter, middle / 2, middle));
        EXPECT_EQ(index.count(filter, middle), brute_seqs(lines, filter, 0, middle).size());
    }
    // The boundaries are exact: `from` includes the whole clamped run, `to` excludes all of it.
    const auto from_clamped = brute_seqs(lines, filter_of({{"from", clamped}}));
    const auto to_clamped = brute_seqs(lines, filter_of({{"to", clamped}}));
    EXPECT_EQ(from_clamped.size() + to_clamped.size(), lines.size());
    EXPECT_EQ(index.count(filter_of({{"from", clamped}}), newest) + index.count(filter_of({{"to", clamped}}), newest),
              lines.size());
    EXPECT_TRUE(brute_seqs(lines, filter_of({{"from", "2026-11-27"}})).empty());
}

TEST_F(AuditIndexTest, NewestPagesCoverEveryMatchOnceAndOldestHonoursItsBounds) {
    write_closed_log(80);
    AuditIndex index(dir_, index_file_);
    const auto newest = index.refresh_and_wait();
    const auto lines = read_log(dir_);
    for (const auto& params : std::vector<Params>{{}, {{"actor", "alice"}}, {{"event", "key.lookup"}}, {{"key_id", "A1B2"}}}) {
        SCOPED_TRACE(describe(params));
        const auto filter = filter_of(params);
        auto expected = brute_seqs(lines, filter);
        std::reverse(expected.begin(), expected.end());
        for (const unsigned page_size : {1u, 7u, 50u}) {
            std::vector<std::uint64_t> walked;
            std::uint64_t cursor = 0;
            for (int pages = 0; pages < 1000; ++pages) {
                const auto page = index.newest(filter, cursor, page_size);
                EXPECT_LE(page.size(), page_size);
                if (page.empty()) break;
                for (const auto& record : page) {
                    if (cursor != 0) {
                        EXPECT_LT(record.seq, cursor);
                    }
                    walked.push_back(record.seq);
                }
                cursor = page.back().seq;
            }
            EXPECT_EQ(walked, expected) << "page size " << page_size;
        }
        // The first page of newest() is the newest records.
        const auto first_page = index.newest(filter, 0, 3);
        EXPECT_EQ(seqs_of(first_page),
                  std::vector<std::uint64_t>(expected.begin(), expected.begin() + std::min<std::ptrdiff_t>(3, std::ssize(expected))));
    }
    // oldest(): after < seq <= up_to, in order, at most `limit`.
    const auto all = filter_of({});
    const auto alice = filter_of({{"actor", "alice"}});
    for (const auto& [after, up_to] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
             {0, newest}, {0, 1}, {1, 1}, {10, 20}, {20, 10}, {newest - 5, newest}, {newest, newest + 10}, {30, 31}}) {
        SCOPED_TRACE(std::to_string(after) + ".." + std::to_string(up_to));
        EXPECT_EQ(seqs_of(index.oldest(all, after, up_to, 100000)), brute_seqs(lines, all, after, up_to));
        EXPECT_EQ(seqs_of(index.oldest(alice, after, up_to, 100000)), brute_seqs(lines, alice, after, up_to));
        const auto limited = brute_seqs(lines, alice, after, up_to);
        EXPECT_EQ(seqs_of(index.oldest(alice, after, up_to, 2)),
                  std::vector<std::uint64_t>(limited.begin(), limited.begin() + std::min<std::ptrdiff_t>(2, std::ssize(limited))));
    }
    EXPECT_TRUE(index.oldest(all, 0, newest, 0).empty());
    EXPECT_TRUE(index.newest(all, 1, 10).empty());  // nothing before the first record
}

TEST_F(AuditIndexTest, RefreshReadsOnlyWhatWasAppendedAndFollowsRotation) {
    AuditLog log(dir_, hmac_key, settings());
    write_mix(log, 0, 30);
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    expect_index_matches_files(index, dir_);
    const auto rebuilds = index.rebuilds();
    const auto before = index.indexed_seq();

    write_mix(log, 30, 55);
    AuditFilter alice;
    alice.actor = "alice";
    const auto alice_before = index.count(alice, UINT64_MAX);
    EXPECT_FALSE(index.find(before + 1));  // not until a refresh
    const auto after = index.refresh_and_wait();
    EXPECT_GT(after, before);
    EXPECT_EQ(index.rebuilds(), rebuilds);
    EXPECT_GT(index.count(alice, UINT64_MAX), alice_before);
    expect_index_matches_files(index, dir_);

    // A rotation: the new file's records are indexed under its name, line numbers from 1.
    const auto old_file = log.current_file().filename().string();
    log.rotate();
    write_mix(log, 55, 70);
    const auto new_file = log.current_file().filename().string();
    ASSERT_NE(new_file, old_file);
    index.refresh_and_wait();
    EXPECT_EQ(index.rebuilds(), rebuilds);
    expect_index_matches_files(index, dir_);
    const auto lines = read_log(dir_);
    std::uint64_t in_new_file = 0;
    for (const auto& line : lines) {
        if (line.file != new_file) continue;
        ++in_new_file;
        const auto found = index.find(line.seq);
        ASSERT_TRUE(found);
        EXPECT_EQ(found->file, new_file);
        EXPECT_EQ(found->line, in_new_file);
    }
    EXPECT_GE(in_new_file, 16u);  // audit.rotate and the 15 records
    EXPECT_EQ(index.find(lines.front().seq)->file, old_file);

    // Appends to the rotated file after a refresh that saw it: still incremental.
    write_mix(log, 70, 75);
    index.refresh();
    EXPECT_EQ(index.rebuilds(), rebuilds);
    expect_index_matches_files(index, dir_);
}

TEST_F(AuditIndexTest, AChangedMacMakesTheLineUnreadableAndTheNextRefreshRebuilds) {
    write_closed_log(40);
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    const auto rebuilds = index.rebuilds();
    // A record in the middle of the file: its mac changes, the line keeps its length.
    const std::uint64_t seq = 17;
    edit_line(dir_, seq, [](std::string& line) {
        auto& c = line[line.size() - 3];
        c = c == 'a' ? 'b' : 'a';
    });
    EXPECT_FALSE(index.read_line(seq));
    EXPECT_TRUE(index.read_line(seq + 1));  // its neighbours are where they were
    index.refresh_and_wait();
    EXPECT_EQ(index.rebuilds(), rebuilds + 1);
    expect_index_matches_files(index, dir_);  // including the edited line, as it now is
    EXPECT_EQ(index.rebuilds(), rebuilds + 1);
}

TEST_F(AuditIndexTest, AnEditedRecordIsNoLongerReadAsTheIndexedOne) {
    write_closed_log(40);
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    const auto rebuilds = index.rebuilds();
    const std::uint64_t seq = 17;
    std::string old_actor;
    edit_line(dir_, seq, [&](std::string& line) {
        const auto at = line.find("\"actor\":\"") + 9;
        old_actor = line.substr(at, line.find('"', at) - at);
        line[at] = line[at] == 'x' ? 'y' : 'x';
    });
    EXPECT_FALSE(index.read_line(seq));
    index.refresh_and_wait();
    EXPECT_EQ(index.rebuilds(), rebuilds + 1);
    expect_index_matches_files(index, dir_);
}

TEST_F(AuditIndexTest, ATruncatedOrReplacedNewestFileIsRebuilt) {
    write_closed_log(40);
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    auto rebuilds = index.rebuilds();
    const auto file = audit::log_files(dir_).back();

    // Truncated: the last three lines cut away.
    auto text = read_text(file);
    for (int i = 0; i < 3; ++i) text.erase(text.rfind('\n', text.size() - 2) + 1);
    write_text(file, text);
    index.refresh_and_wait();
    EXPECT_EQ(index.rebuilds(), ++rebuilds);
    expect_index_matches_files(index, dir_);

    // Replaced by a longer file of another log with the same name.
    const auto other = base_ / "other";
    {
        AuditLog log(other, hmac_key + "-other", settings());
        write_mix(log, 100, 160);
    }
    ASSERT_EQ(audit::log_files(other).back().filename(), file.filename());
    fs::copy_file(audit::log_files(other).back(), file, fs::copy_options::overwrite_existing);
    ASSERT_GT(fs::file_size(file), text.size());
    index.refresh_and_wait();
    EXPECT_EQ(index.rebuilds(), ++rebuilds);
    expect_index_matches_files(index, dir_);
}

TEST_F(AuditIndexTest, AMissingOrCutOlderFileIsRebuilt) {
    {
        AuditLog log(dir_, hmac_key, settings());
        write_mix(log, 0, 30);
        log.rotate();
        write_mix(log, 30, 50);
    }
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    auto rebuilds = index.rebuilds();
    const auto files = audit::log_files(dir_);
    ASSERT_EQ(files.size(), 2u);

    // Moved away: the file list changed.
    const auto moved = base_ / "moved.jsonl";
    fs::rename(files.front(), moved);
    index.refresh_and_wait();
    EXPECT_EQ(index.rebuilds(), ++rebuilds);
    expect_index_matches_files(index, dir_);
    // And back.
    fs::rename(moved, files.front());
    index.refresh_and_wait();
    EXPECT_EQ(index.rebuilds(), ++rebuilds);
    expect_index_matches_files(index, dir_);

    // Cut short: reading one of the lost records fails, and the next refresh rebuilds.
    auto text = read_text(files.front());
    const auto cut_at = text.rfind('\n', text.size() - 2) + 1;
    const auto lost = json::parse(text.substr(cut_at)).at("seq").to_number<std::uint64_t>();
    text.erase(cut_at);
    write_text(files.front(), text);
    EXPECT_FALSE(index.read_line(lost));
    index.refresh_and_wait();
    EXPECT_EQ(index.rebuilds(), ++rebuilds);
    expect_index_matches_files(index, dir_);
    EXPECT_FALSE(index.find(lost));
}

TEST_F(AuditIndexTest, ATruncatedOlderFileIsRebuiltWithoutWaitingForARead) {
    {
        AuditLog log(dir_, hmac_key, settings());
        write_mix(log, 0, 30);
        log.rotate();
        write_mix(log, 30, 50);
    }
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    const auto rebuilds = index.rebuilds();
    const auto files = audit::log_files(dir_);
    ASSERT_EQ(files.size(), 2u);
    auto text = read_text(files.front());
    text.erase(text.rfind('\n', text.size() - 2) + 1);
    write_text(files.front(), text);
    index.refresh_and_wait();
    EXPECT_EQ(index.rebuilds(), rebuilds + 1);
    EXPECT_EQ(index.count(AuditFilter{}, UINT64_MAX), read_log(dir_).size());
}

TEST_F(AuditIndexTest, AnIndexSurvivesRestartsAndIsRebuiltWhenDeleted) {
    write_closed_log(30);
    {
        AuditIndex index(dir_, index_file_);
        index.refresh_and_wait();
        expect_index_matches_files(index, dir_);
    }
    {
        // Reopened: what was indexed is there before any refresh, and a refresh does not rebuild.
        AuditIndex index(dir_, index_file_);
        const auto lines = read_log(dir_);
        EXPECT_EQ(index.indexed_seq(), lines.back().seq);
        EXPECT_EQ(index.read_line(lines[3].seq), lines[3].text);
        index.refresh_and_wait();
        EXPECT_EQ(index.rebuilds(), 0u);
    }
    for (const auto* suffix : {"", "-wal", "-shm"}) fs::remove(index_file_.string() + suffix);
    AuditIndex index(dir_, index_file_);
    EXPECT_EQ(index.indexed_seq(), 0u);
    EXPECT_FALSE(index.find(1));
    index.refresh_and_wait();
    expect_index_matches_files(index, dir_);
    struct stat info {};
    ASSERT_EQ(::stat(index_file_.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);  // the index holds what the log holds
}

TEST_F(AuditIndexTest, AFileThatIsNoIndexIsReplaced) {
    write_closed_log(30);
    std::string garbage;
    for (int i = 0; i < 300; ++i) garbage += "this is not an SQLite database, line " + std::to_string(i) + "\n";
    write_text(index_file_, garbage);
    AuditIndex index(dir_, index_file_);
    index.refresh_and_wait();
    expect_index_matches_files(index, dir_);
    EXPECT_TRUE(read_text(index_file_).starts_with(std::string("SQLite format 3\0", 16)));
}

TEST_F(AuditIndexTest, AnIndexOfAnotherLogIsRebuiltForThisOne) {
    write_closed_log(30);
    const auto shorter = base_ / "shorter";
    const auto longer = base_ / "longer";
    {
        AuditLog log(shorter, hmac_key, settings());
        write_mix(log, 200, 210);
    }
    {
        AuditLog log(longer, hmac_key + "-longer", settings());
        write_mix(log, 300, 360);
    }
    // Same file names, different records.
    ASSERT_EQ(audit::log_files(shorter).front().filename(), audit::log_files(dir_).front().filename());
    ASSERT_EQ(audit::log_files(longer).front().filename(), audit::log_files(dir_).front().filename());
    {
        AuditIndex index(dir_, index_file_);
        index.refresh_and_wait();
    }
    for (const auto& other : {shorter, longer, dir_}) {
        SCOPED_TRACE(other.string());
        AuditIndex index(other, index_file_);
        index.refresh_and_wait();
        EXPECT_EQ(index.rebuilds(), 1u);
        expect_index_matches_files(index, other);
    }
}

TEST_F(AuditIndexTest, CoveringCheckpointIsTheFirstCheckpointAfterASeq) {
    AuditLog log(dir_, hmac_key, settings());
    write_mix(log, 0, 45);  // checkpoints by count; the last records not yet covered
    AuditIndex index(dir_, index_file_);
    const auto newest = index.refresh_and_wait();
    std::vector<std::uint64_t> checkpoints;
    for (const auto& line : read_log(dir_)) {
        if (text_of(line.record, "event") == "audit.checkpoint") checkpoints.push_back(line.seq);
    }
    ASSERT_GE(checkpoints.size(), 3u);
    ASSERT_LT(checkpoints.back(), newest);
    for (std::uint64_t seq = 0; seq <= newest + 1; ++seq) {
        const auto next = std::upper_bound(checkpoints.begin(), checkpoints.end(), seq);
        const auto expected = next == checkpoints.end() ? std::nullopt : std::optional<std::uint64_t>(*next);
        EXPECT_EQ(index.covering_checkpoint(seq), expected) << "seq " << seq;
    }
    // Once a checkpoint is written, the newest records are covered by it.
    const auto checkpoint = log.checkpoint();
    index.refresh_and_wait();
    EXPECT_EQ(index.covering_checkpoint(newest), checkpoint);
    EXPECT_FALSE(index.covering_checkpoint(checkpoint));
}

TEST_F(AuditIndexTest, ALineBeingWrittenIsIndexedOnceComplete) {
    write_closed_log(20);
    const auto file = audit::log_files(dir_).back();
    const auto full = read_text(file);
    const auto last_start = full.rfind('\n', full.size() - 2) + 1;
    const auto last_line = full.substr(last_start);  // with its "\n"
    write_text(file, full.substr(0, last_start));
    AuditIndex index(dir_, index_file_);
    const auto before = index.refresh_and_wait();
    // Half of the line: a write in progress, not a record yet.
    write_text(file, full.substr(0, last_start) + last_line.substr(0, last_line.size() / 2));
    EXPECT_EQ(index.refresh_and_wait(), before);
    EXPECT_FALSE(index.find(before + 1));
    // All of it, without its newline: still in progress.
    write_text(file, full.substr(0, full.size() - 1));
    EXPECT_EQ(index.refresh_and_wait(), before);
    write_text(file, full);
    EXPECT_EQ(index.refresh_and_wait(), before + 1);
    EXPECT_EQ(index.rebuilds(), 0u);
    expect_index_matches_files(index, dir_);
}

TEST_F(AuditIndexTest, LinesThatAreNoRecordsAreSkippedButCounted) {
    write_closed_log(20);
    const auto file = audit::log_files(dir_).back();
    const auto full = read_text(file);
    const auto last_start = full.rfind('\n', full.size() - 2) + 1;
    const auto last_line = full.substr(last_start, full.size() - last_start - 1);
    const auto lines_before = static_cast<std::uint64_t>(std::count(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(last_start), '\n'));
    const std::string junk = "not a record\n{\"seq\":\"x\"}\n{\"no\":\"mac\"}\n";
    write_text(file, full.substr(0, last_start) + junk + last_line + "\n");
    AuditIndex index(dir_, index_file_);
    const auto newest = index.refresh_and_wait();
    const auto seq = json::parse(last_line).at("seq").to_number<std::uint64_t>();
    EXPECT_EQ(newest, seq);
    const auto found = index.find(seq);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->line, lines_before + 4);  // the three junk lines count as lines
    EXPECT_EQ(found->offset, last_start + junk.size());
    EXPECT_EQ(index.read_line(seq), last_line);
    EXPECT_EQ(index.count(AuditFilter{}, newest), seq);  // seqs 1..seq, no junk
}
