// The Audit page (auditors) and the exports and Reports page (security team). Reading the audit
// log is itself audited, before the data leaves, like a reveal.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "audit/export.hpp"
#include "server/api/call.hpp"

namespace keydesk::server {
namespace {

namespace json = boost::json;

constexpr std::size_t max_parameters = 20;
constexpr unsigned default_page = 50;
constexpr unsigned max_page = 200;

using Parameters = std::vector<std::pair<std::string, std::string>>;

std::optional<Parameters> query_parameters(const boost::urls::url_view& url) {
    Parameters parameters;
    for (const auto& parameter : url.params()) {
        if (parameters.size() == max_parameters) return std::nullopt;
        parameters.emplace_back(parameter.key, parameter.has_value ? parameter.value : "");
    }
    return parameters;
}

std::string parameter(const Parameters& parameters, std::string_view name) {
    for (const auto& [key, value] : parameters) {
        if (key == name) return value;
    }
    return {};
}

std::optional<std::uint64_t> parse_number(std::string_view text) {
    std::uint64_t value = 0;
    if (text.empty() || text.size() > 19) return std::nullopt;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

json::object summary_json(const audit::IndexedRecord& record) {
    json::object out{{"seq", record.seq}, {"time", record.time}, {"event", record.event},
                     {"actor", record.actor}, {"outcome", record.outcome}};
    const std::pair<std::string_view, const std::string*> optional[] = {
        {"client", &record.client}, {"computer", &record.computer}, {"key_id", &record.key_id},
        {"reason", &record.reason}, {"ticket", &record.ticket}};
    for (const auto& [name, value] : optional) {
        if (!value->empty()) out[name] = *value;
    }
    return out;
}

std::string compact_now() {
    const auto now = audit::utc_timestamp(std::chrono::system_clock::now());  // 2026-11-26T10:00:00.000Z
    std::string compact;
    for (const char c : now.substr(0, 19)) {
        if (c != '-' && c != ':') compact += c;
    }
    return compact + "Z";
}

Response attachment(const Request& request, std::string_view content_type, const std::string& filename) {
    Response response{http::status::ok, request.version()};
    response.set(http::field::content_type, content_type);
    response.set(http::field::content_disposition, "attachment; filename=\"" + filename + "\"");
    response.set(http::field::cache_control, "no-store");
    response.keep_alive(request.keep_alive());
    return response;
}

Response unavailable(const Request& request) {
    return error_response(request, http::status::service_unavailable, "audit_review_unavailable");
}

}  // namespace

Response Api::audit_records(Call& call) {
    if (!services_.review) return unavailable(call.request);
    auto& review = *services_.review;
    const auto parameters = query_parameters(call.url);
    std::string problem;
    const auto filter = parameters ? audit::parse_filter(*parameters, {"cursor", "limit"}, problem)
                                   : std::nullopt;
    if (!parameters) problem = "too many parameters";
    std::uint64_t cursor = 0;
    unsigned limit = default_page;
    if (filter) {
        if (const auto text = parameter(*parameters, "cursor"); !text.empty()) {
            const auto value = parse_number(text);
            if (!value) problem = "cursor: expected the next_cursor of the previous page";
            cursor = value.value_or(0);
        }
        if (const auto text = parameter(*parameters, "limit"); !text.empty()) {
            const auto value = parse_number(text);
            if (!value || *value < 1 || *value > max_page) problem = "limit: expected 1 to 200";
            limit = static_cast<unsigned>(value.value_or(default_page));
        }
    }
    if (!filter || !problem.empty()) {
        return error_response(call.request, http::status::bad_request, "invalid_filter", problem);
    }

    review.index.refresh();
    auto records = review.index.newest(*filter, cursor, limit + 1);
    const bool more = records.size() > limit;
    if (more) records.resize(limit);

    auto record = audit_record(call, "audit.query", "success");
    record["filters"] = filter->to_json();
    if (cursor) record["cursor"] = cursor;
    record["results"] = records.size();
    services_.audit.append(std::move(record));  // durable before the page leaves

    json::array rows;
    for (const auto& found : records) rows.push_back(summary_json(found));
    return json_response(call.request, http::status::ok,
                         {{"records", rows},
                          {"next_cursor", more ? json::value(std::to_string(records.back().seq)) : nullptr},
                          {"indexed_seq", review.index.indexed_seq()}});
}

Response Api::audit_record(Call& call) {
    if (!services_.review) return unavailable(call.request);
    auto& review = *services_.review;
    const auto seq = parse_number(call.path.substr(call.path.rfind('/') + 1));
    if (!seq || *seq == 0) {
        return error_response(call.request, http::status::bad_request, "invalid_seq",
                              "expected a record number");
    }
    review.index.refresh();
    auto line = review.index.read_line(*seq);
    if (!line && review.index.find(*seq)) {
        review.index.refresh_and_wait();  // the files changed under the index: rebuilt now
        line = review.index.read_line(*seq);
    }
    auto record = audit_record(call, "audit.query", line ? "success" : "not_found");
    record["record_seq"] = *seq;  // ("seq" is the audit record's own number)
    services_.audit.append(std::move(record));
    if (!line) return error_response(call.request, http::status::not_found, "not_found");

    const auto found = review.index.find(*seq);
    boost::system::error_code error;
    auto value = json::parse(*line, error);
    if (error || !value.is_object() || !found) {
        return error_response(call.request, http::status::not_found, "not_found");
    }
    json::value checkpoint = nullptr;
    if (const auto covering = review.index.covering_checkpoint(*seq)) {
        const auto last = review.integrity.last();
        const bool verified = last && *covering <= last->report.covered_seq + 1 &&
                              (last->report.ok || *covering < last->report.seq);
        const auto checkpoint_record = review.index.find(*covering);
        checkpoint = json::object{{"seq", *covering},
                                  {"time", checkpoint_record ? checkpoint_record->time : ""},
                                  {"verified", verified}};
    }
    audit::LineHasher hasher;
    hasher.add_line(*line);
    return json_response(call.request, http::status::ok,
                         {{"record", std::move(value)},
                          {"position", {{"file", found->file}, {"line", found->line}}},
                          {"checkpoint", checkpoint},
                          {"line_sha256", hasher.hex()}});
}

namespace {

json::object integrity_json(const std::optional<audit::IntegrityResult>& last,
                            const audit::CheckpointStatus& status, bool running) {
    json::value verification = nullptr;
    if (last) {
        const auto& report = last->report;
        verification = json::object{{"ok", report.ok},
                                    {"time", last->time},
                                    {"records", report.records},
                                    {"files", report.files},
                                    {"checkpoints", report.checkpoints},
                                    {"covered_seq", report.covered_seq},
                                    {"damage", audit::damage_name(report.damage)},
                                    {"problem", report.problem},
                                    {"file", std::filesystem::path(report.file).filename().string()},
                                    {"seq", report.seq},
                                    {"duration_ms", last->duration.count()},
                                    {"signatures_checked", report.signatures_checked},
                                    {"macs_checked", report.macs_checked}};
    }
    return {{"verification", verification},
            {"checkpoint", {{"signing", status.signing},
                            {"key_id", status.key_id},
                            {"seq", status.seq},
                            {"covers_seq", status.covers_seq},
                            {"time", status.time}}},
            {"running", running}};
}

}  // namespace

Response Api::audit_integrity(Call& call) {
    if (!services_.review) return unavailable(call.request);
    auto& integrity = services_.review->integrity;
    return json_response(call.request, http::status::ok,
                         integrity_json(integrity.last(), services_.audit.current()->checkpoint_status(),
                                        integrity.running()));
}

Response Api::audit_verify(Call& call) {
    if (!services_.review) return unavailable(call.request);
    auto& integrity = services_.review->integrity;
    const auto result = integrity.verify_now();
    auto record = audit_record(call, "audit.verify", "success");
    record["result"] = result.report.ok ? "ok" : std::string(audit::damage_name(result.report.damage));
    record["records"] = result.report.records;
    services_.audit.append(std::move(record));
    if (!result.report.ok) {
        spdlog::error("ALERT rid={} audit log verification failed: {}", call.client.request_id,
                      result.report.problem);
    }
    return json_response(call.request, http::status::ok,
                         integrity_json(result, services_.audit.current()->checkpoint_status(), false));
}

Response Api::audit_export(Call& call, bool bundle) {
    if (!services_.review) return unavailable(call.request);
    auto& review = *services_.review;
    const auto parameters = query_parameters(call.url);
    std::string problem;
    const auto filter = parameters ? audit::parse_filter(*parameters, {"format"}, problem) : std::nullopt;
    if (!parameters) problem = "too many parameters";
    const auto format = parameters ? parameter(*parameters, "format") : "";
    if (filter && !bundle && format != "csv" && format != "json") problem = "format: expected csv or json";
    if (filter && bundle && !format.empty() && format != "tar.gz") problem = "format: a bundle is a tar.gz";
    if (!filter || !problem.empty()) {
        return error_response(call.request, http::status::bad_request, "invalid_filter", problem);
    }
    const auto log = services_.audit.current();
    if (bundle && !log->checkpoint_status().signing) {
        return error_response(call.request, http::status::conflict, "checkpoints_not_signed",
                              "evidence bundles need signed checkpoints: set [audit] signing_key_file");
    }

    // A snapshot: what is indexed now is what is exported, and the record says how many.
    const auto up_to = review.index.refresh_and_wait();
    const auto rows = review.index.count(*filter, up_to);
    auto record = audit_record(call, "audit.export", "success");
    record["format"] = bundle ? "bundle" : format;
    record["filters"] = filter->to_json();
    record["rows"] = rows;
    record["up_to_seq"] = up_to;
    services_.audit.append(std::move(record));  // durable before the first byte leaves
    spdlog::info("rid={} {} exports {} audit records ({})", call.client.request_id,
                 call.session->username, rows, bundle ? "bundle" : format);

    const auto stamp = compact_now();
    if (bundle) {
        log->checkpoint();  // so that every selected record is covered by a signed checkpoint
        review.index.refresh_and_wait();
        audit::BundleInfo info;
        info.name = "keydesk-evidence-" + stamp;
        info.generated_at = audit::utc_timestamp(std::chrono::system_clock::now());
        info.generated_by = call.session->username;
        info.public_key_pem = log->public_key_pem();
        info.verification_report = audit::describe(review.integrity.verify_now().report);
        auto source = std::make_shared<audit::BundleStream>(review.index, review.log_directory, *filter,
                                                            up_to, std::move(info));
        call.stream = [source](std::string& out) { return source->next(out); };
        return attachment(call.request, "application/gzip", "keydesk-evidence-" + stamp + ".tar.gz");
    }
    auto source = std::make_shared<audit::ExportStream>(
        review.index, review.log_directory, *filter, up_to,
        format == "csv" ? audit::ExportFormat::csv : audit::ExportFormat::json);
    call.stream = [source](std::string& out) { return source->next(out); };
    return attachment(call.request, format == "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson",
                      "keydesk-audit-" + stamp + (format == "csv" ? ".csv" : ".jsonl"));
}

namespace {

// A report's period: from/to as the filters take them, by default the last 30 days to today.
// `last_day` is the period's last day, inclusive, for display.
bool report_period(const Parameters& parameters, std::string& from, std::string& to, std::string& last_day,
                   std::string& problem) {
    const auto today = audit::utc_timestamp(std::chrono::system_clock::now()).substr(0, 10);
    const auto from_text = parameter(parameters, "from");
    const auto to_text = parameter(parameters, "to");
    const auto to_time = audit::normalize_time(to_text.empty() ? today : to_text, true);
    if (!to_time) {
        problem = "to: expected YYYY-MM-DD";
        return false;
    }
    std::optional<std::string> from_time;
    if (from_text.empty()) {
        const auto days = std::chrono::sys_days(std::chrono::floor<std::chrono::days>(
                              std::chrono::system_clock::now())) - std::chrono::days(29);
        from_time = audit::utc_timestamp(days).substr(0, 10) + "T00:00:00.000Z";
    } else {
        from_time = audit::normalize_time(from_text, false);
    }
    if (!from_time || *from_time >= *to_time) {
        problem = "from: expected YYYY-MM-DD, before to";
        return false;
    }
    from = *from_time;
    to = *to_time;
    last_day = to_text.empty() ? today : to_text.substr(0, 10);
    return true;
}

}  // namespace

Response Api::report_summary(Call& call) {
    if (!services_.review) return unavailable(call.request);
    auto& review = *services_.review;
    const auto parameters = query_parameters(call.url);
    std::string problem = parameters ? "" : "too many parameters";
    for (const auto& [name, value] : parameters.value_or(Parameters{})) {
        if (name != "from" && name != "to" && name != "format" && name != "table") {
            problem = "unknown parameter: " + name.substr(0, 64);
        }
    }
    std::string from, to, last_day;
    if (problem.empty()) report_period(*parameters, from, to, last_day, problem);
    const auto format = parameters ? parameter(*parameters, "format") : "";
    const auto table = parameters ? parameter(*parameters, "table") : "";
    const auto tables = audit::report_tables();
    if (problem.empty() && !format.empty() && format != "csv" && format != "json") {
        problem = "format: expected csv or json";
    }
    if (problem.empty() && format == "csv" && std::find(tables.begin(), tables.end(), table) == tables.end()) {
        problem = "table: expected per_day, per_staff, top_computers, failed_sign_ins, "
                  "after_hours_reveals or unusual_volume";
    }
    if (!problem.empty()) return error_response(call.request, http::status::bad_request, "invalid_filter", problem);

    review.index.refresh_and_wait();
    auto report = audit::summary_report(review.index, review.reports, from, to);
    auto record = audit_record(call, "report.view", "success");
    record["report"] = "summary";
    record["from"] = from;
    record["to"] = to;
    if (format == "csv") record["table"] = table;
    services_.audit.append(std::move(record));
    if (format == "csv") {
        auto response = attachment(call.request, "text/csv; charset=utf-8",
                                   "keydesk-" + table + "-" + from.substr(0, 10) + ".csv");
        response.body() = audit::report_table_csv(report, table);
        return response;
    }
    report["from"] = from.substr(0, 10);
    report["to"] = last_day;
    return json_response(call.request, http::status::ok, report);
}

Response Api::report_unrotated(Call& call) {
    if (!services_.review) return unavailable(call.request);
    auto& review = *services_.review;
    const auto parameters = query_parameters(call.url);
    std::string problem = parameters ? "" : "too many parameters";
    for (const auto& [name, value] : parameters.value_or(Parameters{})) {
        if (name != "format") problem = "unknown parameter: " + name.substr(0, 64);
        else if (value != "csv" && value != "json") problem = "format: expected csv or json";
    }
    if (!problem.empty()) return error_response(call.request, http::status::bad_request, "invalid_filter", problem);
    const bool csv = parameter(*parameters, "format") == "csv";

    review.index.refresh_and_wait();
    const auto revealed = audit::revealed_keys(review.index);
    // One directory search per computer: its keys now, with their volumes and creation times.
    std::map<std::string, std::vector<ldap::RecoveryKey>> keys_of;
    const auto now = std::chrono::system_clock::now();
    std::uint64_t rotated = 0, gone = 0, unknown = 0;
    json::array in_force;
    std::string table = audit::csv_line({"key_id", "computer", "volume_id", "first_revealed", "last_revealed",
                                         "revealed_by", "reveals", "key_created", "days_in_force"});
    for (const auto& key : revealed) {
        if (key.computer.empty()) {
            ++unknown;
            continue;
        }
        auto found_computer = keys_of.find(key.computer);
        if (found_computer == keys_of.end()) {
            found_computer = keys_of.emplace(key.computer, services_.directory.find_keys_for_computer(key.computer).keys)
                                 .first;
        }
        const auto& keys = found_computer->second;
        const auto same_key = [&](const ldap::RecoveryKey& candidate) {
            return std::equal(candidate.key_id.begin(), candidate.key_id.end(), key.key_id.begin(), key.key_id.end(),
                              [](char a, char b) { return std::toupper(static_cast<unsigned char>(a)) ==
                                                          std::toupper(static_cast<unsigned char>(b)); });
        };
        const auto current = std::find_if(keys.begin(), keys.end(), same_key);
        if (current == keys.end()) {
            ++gone;
            continue;
        }
        if (current->volume_id.empty()) {
            ++unknown;
            continue;
        }
        // Re-keyed: the volume got a recovery object after the key was last revealed.
        const bool newer = std::any_of(keys.begin(), keys.end(), [&](const ldap::RecoveryKey& other) {
            return other.volume_id == current->volume_id && !same_key(other) &&
                   other.created.substr(0, 19) > key.last_revealed.substr(0, 19);
        });
        if (newer) {
            ++rotated;
            continue;
        }
        const auto first = audit::normalize_time(key.first_revealed.substr(0, 19), false);
        std::int64_t days = 0;
        if (first) {
            std::tm tm{};
            tm.tm_year = std::stoi(first->substr(0, 4)) - 1900;
            tm.tm_mon = std::stoi(first->substr(5, 2)) - 1;
            tm.tm_mday = std::stoi(first->substr(8, 2));
            tm.tm_hour = std::stoi(first->substr(11, 2));
            tm.tm_min = std::stoi(first->substr(14, 2));
            days = std::chrono::duration_cast<std::chrono::days>(
                       now - std::chrono::system_clock::from_time_t(::timegm(&tm)))
                       .count();
        }
        json::array by;
        std::string by_text;
        for (const auto& actor : key.revealed_by) {
            by.emplace_back(actor);
            by_text += (by_text.empty() ? "" : " ") + actor;
        }
        in_force.push_back({{"key_id", key.key_id},
                            {"computer", key.computer},
                            {"volume_id", current->volume_id},
                            {"first_revealed", key.first_revealed},
                            {"last_revealed", key.last_revealed},
                            {"revealed_by", by},
                            {"reveals", key.reveals},
                            {"key_created", current->created},
                            {"days_in_force", days}});
        table += audit::csv_line({key.key_id, key.computer, current->volume_id, key.first_revealed,
                                  key.last_revealed, by_text, std::to_string(key.reveals), current->created,
                                  std::to_string(days)});
    }

    auto record = audit_record(call, "report.view", "success");
    record["report"] = "unrotated";
    record["rows"] = in_force.size();
    if (csv) record["format"] = "csv";
    services_.audit.append(std::move(record));
    if (csv) {
        auto response = attachment(call.request, "text/csv; charset=utf-8",
                                   "keydesk-unrotated-" + compact_now() + ".csv");
        response.body() = std::move(table);
        return response;
    }
    return json_response(call.request, http::status::ok,
                         {{"keys", in_force},
                          {"revealed", revealed.size()},
                          {"rotated", rotated},
                          {"gone", gone},
                          {"unknown", unknown}});
}

}  // namespace keydesk::server
