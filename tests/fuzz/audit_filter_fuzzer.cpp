// The Audit page's and the exports' query strings, as the server reads them (Boost.URL's
// decoded parameters into audit::parse_filter), and CSV cells as exports write them.
//
// Properties: nothing crashes; an accepted filter holds only normalized values — times as
// "YYYY-MM-DDTHH:MM:SS.mmmZ" with from < to, a Key ID prefix of 1-32 upper-case hex digits, a
// computer name without lower case, no value over 256 bytes or with a control character — and
// to_json() names exactly the members that are set; a CSV line parses back (RFC 4180) into the
// cells it was given, each formula cell (= + - @ tab CR first) behind a leading '.
#include <cstddef>
#include <cstdint>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/url/parse.hpp>

#include "audit/audit_index.hpp"
#include "audit/export.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using keydesk::audit::AuditFilter;

bool well_formed_time(const std::string& time) {
    static const std::regex form(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$)");
    return std::regex_match(time, form);
}

void check_filter(std::string_view query) {
    const auto url = boost::urls::parse_origin_form("/api/v1/audit/records?" + std::string(query));
    if (!url) return;
    std::vector<std::pair<std::string, std::string>> params;
    for (const auto& param : url->params()) params.emplace_back(param.key, param.has_value ? param.value : "");
    std::string problem;
    const auto filter = keydesk::audit::parse_filter(params, {"cursor", "limit", "format"}, problem);
    if (!filter) {
        FUZZ_CHECK(!problem.empty(), query);
        return;
    }
    const std::string* members[] = {&filter->from,  &filter->to,    &filter->actor,
                                    &filter->computer, &filter->key_id, &filter->event,
                                    &filter->outcome, &filter->reason, &filter->ticket};
    std::size_t set = 0;
    for (const auto* member : members) {
        if (member->empty()) continue;
        ++set;
        FUZZ_CHECK(member->size() <= 256, *member);
        for (const char c : *member) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f, *member);
    }
    FUZZ_CHECK(filter->to_json().size() == set, query);
    if (!filter->from.empty()) FUZZ_CHECK(well_formed_time(filter->from), filter->from);
    if (!filter->to.empty()) FUZZ_CHECK(well_formed_time(filter->to), filter->to);
    if (!filter->from.empty() && !filter->to.empty()) FUZZ_CHECK(filter->from < filter->to, query);
    if (!filter->key_id.empty()) {
        FUZZ_CHECK(filter->key_id.size() <= 32, filter->key_id);
        for (const char c : filter->key_id) FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'), filter->key_id);
    }
    for (const char c : filter->computer) FUZZ_CHECK(!(c >= 'a' && c <= 'z'), filter->computer);
}

// RFC 4180: the cells of one CSV line (ending in CRLF).
std::vector<std::string> parse_csv_line(std::string_view line) {
    FUZZ_CHECK(line.ends_with("\r\n"), line);
    line.remove_suffix(2);
    std::vector<std::string> cells(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                cells.back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                cells.back() += c;
            }
        } else if (c == '"') {
            FUZZ_CHECK(cells.back().empty(), line);  // quotes only around a whole cell
            quoted = true;
        } else if (c == ',') {
            cells.emplace_back();
        } else {
            FUZZ_CHECK(c != '\r' && c != '\n', line);  // line breaks only inside quotes
            cells.back() += c;
        }
    }
    FUZZ_CHECK(!quoted, line);
    return cells;
}

void check_csv(std::string_view input) {
    std::vector<std::string> cells(1);
    for (const char c : input) {
        if (c == '\x1f') {
            cells.emplace_back();
        } else {
            cells.back() += c;
        }
    }
    const auto parsed = parse_csv_line(keydesk::audit::csv_line(cells));
    FUZZ_CHECK(parsed.size() == cells.size(), input);
    for (std::size_t i = 0; i < cells.size(); ++i) {
        const bool formula = !cells[i].empty() && std::string_view("=+-@\t\r").find(cells[i][0]) != std::string_view::npos;
        FUZZ_CHECK(parsed[i] == (formula ? "'" : "") + cells[i], cells[i]);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_filter(input);
    check_csv(input);
    return 0;
}
