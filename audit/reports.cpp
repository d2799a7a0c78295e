#include "audit/reports.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <stdexcept>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "audit/export.hpp"

namespace keydesk::audit {
namespace {

namespace json = boost::json;

// The audited actions a report counts: lookups that searched, reveals that revealed.
constexpr std::string_view counted_actions =
    "((event = 'key.lookup' AND outcome IN ('success', 'not_found')) OR "
    "(event = 'key.reveal' AND outcome = 'success'))";

std::uint64_t to_count(const std::string& text) { return text.empty() ? 0 : std::stoull(text); }

std::string day_before(const std::string& time, int days) {
    const auto day = normalize_time(time.substr(0, 10), false);
    std::tm tm{};
    tm.tm_year = std::stoi(day->substr(0, 4)) - 1900;
    tm.tm_mon = std::stoi(day->substr(5, 2)) - 1;
    tm.tm_mday = std::stoi(day->substr(8, 2)) - days;
    const auto when = ::timegm(&tm);
    std::tm normalized{};
    ::gmtime_r(&when, &normalized);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT00:00:00.000Z", &normalized);
    return buffer;
}

double median(std::vector<std::uint64_t> values) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const auto middle = values.size() / 2;
    return values.size() % 2 ? static_cast<double>(values[middle])
                             : (static_cast<double>(values[middle - 1]) + static_cast<double>(values[middle])) / 2;
}

// The columns of each table, in order (also for an empty table's CSV header).
const std::map<std::string_view, std::vector<std::string_view>>& table_columns() {
    static const std::map<std::string_view, std::vector<std::string_view>> columns{
        {"per_day", {"day", "lookups", "reveals", "failed_sign_ins"}},
        {"per_staff", {"actor", "lookups", "reveals"}},
        {"top_computers", {"computer", "lookups", "reveals"}},
        {"failed_sign_ins", {"actor", "count", "last"}},
        {"after_hours_reveals", {"seq", "time", "actor", "computer", "key_id"}},
        {"unusual_volume", {"actor", "day", "count", "median"}},
    };
    return columns;
}

std::string cell_text(const json::value& value) {
    if (value.is_string()) return std::string(value.get_string());
    if (value.is_array()) {
        std::string joined;
        for (const auto& item : value.get_array()) {
            if (!joined.empty()) joined += ' ';
            joined += cell_text(item);
        }
        return joined;
    }
    if (value.is_double()) {
        char buffer[32];
        std::snprintf(buffer, sizeof buffer, "%g", value.get_double());
        return buffer;
    }
    return json::serialize(value);
}

}  // namespace

bool outside_business_hours(const ReportSettings& settings, std::string_view utc_time) {
    if (utc_time.size() < 19) return false;
    std::tm tm{};
    const std::string text(utc_time.substr(0, 19));
    tm.tm_year = std::stoi(text.substr(0, 4)) - 1900;
    tm.tm_mon = std::stoi(text.substr(5, 2)) - 1;
    tm.tm_mday = std::stoi(text.substr(8, 2));
    tm.tm_hour = std::stoi(text.substr(11, 2));
    tm.tm_min = std::stoi(text.substr(14, 2));
    tm.tm_sec = std::stoi(text.substr(17, 2));
    const auto when = ::timegm(&tm);
    std::tm local{};
    ::localtime_r(&when, &local);
    const auto minute = static_cast<unsigned>(local.tm_hour * 60 + local.tm_min);
    const bool working_day = (settings.business_days >> local.tm_wday) & 1u;
    return !working_day || minute < settings.business_start_minute || minute >= settings.business_end_minute;
}

std::vector<std::string_view> report_tables() {
    std::vector<std::string_view> names;
    for (const auto& [name, columns] : table_columns()) names.push_back(name);
    return names;
}

std::string report_table_csv(const boost::json::object& report, std::string_view table) {
    const auto found = table_columns().find(table);
    if (found == table_columns().end()) throw std::invalid_argument("unknown table");
    std::string csv = csv_line({found->second.begin(), found->second.end()});
    if (const auto* rows = report.if_contains(table); rows && rows->is_array()) {
        for (const auto& row : rows->get_array()) {
            std::vector<std::string> cells;
            for (const auto column : found->second) {
                const auto* value = row.get_object().if_contains(column);
                cells.push_back(value ? cell_text(*value) : "");
            }
            csv += csv_line(cells);
        }
    }
    return csv;
}

json::object summary_report(AuditIndex& index, const ReportSettings& settings, const std::string& from,
                            const std::string& to) {
    json::object report;
    report["from"] = from;
    report["to"] = to;
    json::array days;
    for (const auto& name : settings.business_day_names) days.emplace_back(name);
    const auto clock = [](unsigned minute) {
        char buffer[8];
        std::snprintf(buffer, sizeof buffer, "%02u:%02u", minute / 60 % 100, minute % 60);
        return std::string(buffer);
    };
    report["business_hours"] = {{"start", clock(settings.business_start_minute)},
                                {"end", clock(settings.business_end_minute)},
                                {"days", days},
                                {"timezone", settings.timezone}};
    const std::vector<std::string> range{from, to};

    json::array per_day;
    index.select("SELECT substr(time, 1, 10) AS day, "
                 "sum(event = 'key.lookup' AND outcome IN ('success', 'not_found')), "
                 "sum(event = 'key.reveal' AND outcome = 'success'), "
                 "sum(event = 'session.login_failed') "
                 "FROM records WHERE time >= ? AND time < ? "
                 "AND event IN ('key.lookup', 'key.reveal', 'session.login_failed') "
                 "GROUP BY day ORDER BY day",
                 range, [&](const std::vector<std::string>& row) {
                     per_day.push_back({{"day", row[0]}, {"lookups", to_count(row[1])},
                                        {"reveals", to_count(row[2])}, {"failed_sign_ins", to_count(row[3])}});
                 });
    report["per_day"] = std::move(per_day);

    json::array per_staff;
    index.select("SELECT actor, sum(event = 'key.lookup'), sum(event = 'key.reveal') FROM records "
                 "WHERE time >= ? AND time < ? AND " + std::string(counted_actions) +
                     " GROUP BY actor ORDER BY 3 DESC, 2 DESC, actor",
                 range, [&](const std::vector<std::string>& row) {
                     per_staff.push_back({{"actor", row[0]}, {"lookups", to_count(row[1])},
                                          {"reveals", to_count(row[2])}});
                 });
    report["per_staff"] = std::move(per_staff);

    json::array top_computers;
    index.select("SELECT s.computer, count(DISTINCT CASE WHEN r.event = 'key.lookup' THEN r.seq END), "
                 "count(DISTINCT CASE WHEN r.event = 'key.reveal' THEN r.seq END) "
                 "FROM subjects s JOIN records r ON r.seq = s.seq "
                 "WHERE s.computer IS NOT NULL AND r.time >= ? AND r.time < ? AND " +
                     std::string(counted_actions) + " GROUP BY s.computer ORDER BY 3 DESC, 2 DESC, 1 LIMIT 20",
                 range, [&](const std::vector<std::string>& row) {
                     top_computers.push_back({{"computer", row[0]}, {"lookups", to_count(row[1])},
                                              {"reveals", to_count(row[2])}});
                 });
    report["top_computers"] = std::move(top_computers);

    json::array failed;
    index.select("SELECT actor, count(*), max(time) FROM records WHERE event = 'session.login_failed' "
                 "AND time >= ? AND time < ? GROUP BY actor ORDER BY 2 DESC, 1 LIMIT 100",
                 range, [&](const std::vector<std::string>& row) {
                     failed.push_back({{"actor", row[0]}, {"count", to_count(row[1])}, {"last", row[2]}});
                 });
    report["failed_sign_ins"] = std::move(failed);

    json::array after_hours;
    index.select("SELECT seq, time, actor, computer, key_id FROM records WHERE event = 'key.reveal' "
                 "AND outcome = 'success' AND time >= ? AND time < ? ORDER BY seq",
                 range, [&](const std::vector<std::string>& row) {
                     if (!outside_business_hours(settings, row[1])) return;
                     after_hours.push_back({{"seq", to_count(row[0])}, {"time", row[1]}, {"actor", row[2]},
                                            {"computer", row[3]}, {"key_id", row[4]}});
                 });
    report["after_hours_reveals"] = std::move(after_hours);

    // A day stands out against the staff member's median over their active days in the 30
    // days before it (a first busy day stands out against nothing).
    std::map<std::string, std::map<std::string, std::uint64_t>> daily;  // actor -> day -> count
    index.select("SELECT actor, substr(time, 1, 10), count(*) FROM records WHERE time >= ? AND time < ? AND " +
                     std::string(counted_actions) + " GROUP BY 1, 2",
                 {day_before(from, 30), to}, [&](const std::vector<std::string>& row) {
                     daily[row[0]][row[1]] = to_count(row[2]);
                 });
    json::array unusual;
    const auto first_day = from.substr(0, 10);
    for (const auto& [actor, days_counted] : daily) {
        for (const auto& [day, count] : days_counted) {
            if (day < first_day) continue;
            const auto window_start = day_before(day, 30).substr(0, 10);
            std::vector<std::uint64_t> history;
            for (const auto& [earlier, earlier_count] : days_counted) {
                if (earlier >= window_start && earlier < day) history.push_back(earlier_count);
            }
            const auto typical = median(history);
            if (count >= settings.unusual_minimum &&
                static_cast<double>(count) > settings.unusual_factor * typical) {
                // A median of whole days is whole or a half: shown as 4, not 4.0.
                const json::value shown = typical == static_cast<double>(static_cast<std::uint64_t>(typical))
                                              ? json::value(static_cast<std::uint64_t>(typical))
                                              : json::value(typical);
                unusual.push_back({{"actor", actor}, {"day", day}, {"count", count}, {"median", shown}});
            }
        }
    }
    report["unusual_volume"] = std::move(unusual);
    return report;
}

std::vector<RevealedKey> revealed_keys(AuditIndex& index) {
    std::vector<RevealedKey> keys;
    // A key belongs to one computer object (a move keeps its name), so max() picks that name.
    index.select("SELECT key_id, min(time), max(time), count(*), group_concat(DISTINCT actor), "
                 "max(computer) FROM records WHERE event = 'key.reveal' AND outcome = 'success' "
                 "GROUP BY key_id ORDER BY 2",
                 {}, [&](const std::vector<std::string>& row) {
                     RevealedKey key;
                     key.key_id = row[0];
                     key.first_revealed = row[1];
                     key.last_revealed = row[2];
                     key.reveals = to_count(row[3]);
                     for (std::size_t start = 0; start <= row[4].size();) {
                         const auto end = std::min(row[4].find(',', start), row[4].size());
                         if (end > start) key.revealed_by.push_back(row[4].substr(start, end - start));
                         start = end + 1;
                     }
                     key.computer = row[5];
                     keys.push_back(std::move(key));
                 });
    return keys;
}

}  // namespace keydesk::audit
