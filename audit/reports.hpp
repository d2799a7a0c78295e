// The Reports page's figures, computed from the audit index: activity per day, per staff member
// and per computer, failed sign-ins, reveals outside business hours, unusual volume, and the keys
// revealed so far (for the disclosed-but-not-rotated report, which also asks the directory).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "audit/audit_index.hpp"

namespace keydesk::audit {

struct ReportSettings {
    unsigned business_start_minute = 8 * 60;  // local time
    unsigned business_end_minute = 18 * 60;
    unsigned business_days = 0b0111110;  // bit 0 = Sunday
    std::vector<std::string> business_day_names{"Mon", "Tue", "Wed", "Thu", "Fri"};
    std::string timezone = "UTC";  // for display: the process's TZ decides local time
    unsigned unusual_factor = 3;
    unsigned unusual_minimum = 10;
};

// `from` inclusive, `to` exclusive, both as normalize_time() gives them. The members are those
// of GET /api/v1/reports/summary (server/api/API.md).
boost::json::object summary_report(AuditIndex& index, const ReportSettings& settings,
                                   const std::string& from, const std::string& to);

// The tables a report holds, and one of them as CSV (header row first). Throws
// std::invalid_argument for a table the report does not have.
std::vector<std::string_view> report_tables();
std::string report_table_csv(const boost::json::object& report, std::string_view table);

// Whether a UTC record time ("2026-11-26T19:30:00.000Z") falls outside business hours, in the
// process's local time zone.
bool outside_business_hours(const ReportSettings& settings, std::string_view utc_time);

// Every key revealed (key.reveal, success), oldest first reveal first.
struct RevealedKey {
    std::string key_id;
    std::string computer;
    std::string first_revealed;
    std::string last_revealed;
    std::vector<std::string> revealed_by;
    std::uint64_t reveals = 0;
};
std::vector<RevealedKey> revealed_keys(AuditIndex& index);

}  // namespace keydesk::audit
