// Loads keydesk.toml into Config: unknown keys and bad values stop start-up with the key's name.
#include "config/config.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <toml++/toml.h>

namespace keydesk::config {
namespace {

using namespace std::string_literals;

// One TOML table with the keys it allows; reading a key marks it known.
class Section {
public:
    Section(const toml::table* table, std::string name) : table_(table), name_(std::move(name)) {}

    std::string key_name(std::string_view key) const { return name_ + "." + std::string(key); }

    const toml::node* find(std::string_view key) {
        allowed_.insert(std::string(key));
        return table_ ? table_->get(key) : nullptr;
    }

    std::string string(std::string_view key, std::string fallback, bool required = false) {
        const auto* node = find(key);
        if (!node) {
            if (required) throw ConfigError(key_name(key) + ": required");
            return fallback;
        }
        const auto* value = node->as_string();
        if (!value) throw ConfigError(key_name(key) + ": must be a string");
        return value->get();
    }

    std::string required_string(std::string_view key) {
        auto value = string(key, {}, true);
        if (value.empty()) throw ConfigError(key_name(key) + ": must not be empty");
        return value;
    }

    bool boolean(std::string_view key, bool fallback) {
        const auto* node = find(key);
        if (!node) return fallback;
        const auto* value = node->as_boolean();
        if (!value) throw ConfigError(key_name(key) + ": must be true or false");
        return value->get();
    }

    std::int64_t integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                         std::int64_t max) {
        const auto* node = find(key);
        if (!node) return fallback;
        const auto* value = node->as_integer();
        if (!value) throw ConfigError(key_name(key) + ": must be an integer");
        if (value->get() < min || value->get() > max) {
            throw ConfigError(key_name(key) + ": must be between " + std::to_string(min) +
                              " and " + std::to_string(max));
        }
        return value->get();
    }

    std::vector<std::string> strings(std::string_view key) {
        const auto* node = find(key);
        if (!node) return {};
        const auto* array = node->as_array();
        if (!array) throw ConfigError(key_name(key) + ": must be an array of strings");
        std::vector<std::string> values;
        for (std::size_t i = 0; i < array->size(); ++i) {
            const auto* value = array->get(i)->as_string();
            if (!value || value->get().empty()) {
                throw ConfigError(key_name(key) + "[" + std::to_string(i) +
                                  "]: must be a non-empty string");
            }
            values.push_back(value->get());
        }
        return values;
    }

    // Call after reading every key: anything left over is a typo or an unsupported setting.
    void reject_unknown_keys() const {
        if (!table_) return;
        for (const auto& [key, node] : *table_) {
            if (!allowed_.contains(std::string(key.str()))) {
                throw ConfigError(key_name(key.str()) + ": unknown key");
            }
        }
    }

private:
    const toml::table* table_;
    std::string name_;
    std::set<std::string> allowed_;
};

std::filesystem::path resolve(const std::filesystem::path& base, const std::string& value) {
    if (value.empty()) return {};
    std::filesystem::path path(value);
    return path.is_absolute() ? path : base / path;
}

const toml::table* sub_table(const toml::table& root, std::string_view name, bool required) {
    const auto* node = root.get(name);
    if (!node) {
        if (required) throw ConfigError("["s + std::string(name) + "]: section required");
        return nullptr;
    }
    const auto* table = node->as_table();
    if (!table) throw ConfigError(std::string(name) + ": must be a [section]");
    return table;
}

void parse_listen(const std::string& listen, ServerConfig& server) {
    // host:port, with IPv6 hosts in brackets: [::1]:8443
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
        throw ConfigError("server.listen: must be host:port, e.g. 127.0.0.1:8443");
    }
    std::string host = listen.substr(0, colon);
    if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const std::string port_text = listen.substr(colon + 1);
    if (port_text.find_first_not_of("0123456789") != std::string::npos || port_text.size() > 5) {
        throw ConfigError("server.listen: port must be a number");
    }
    const int port = std::stoi(port_text);
    // Port 0 takes any free port (tests); `keydesk serve --ready-file` reports the one bound.
    if (port > 65535) throw ConfigError("server.listen: port must be 0-65535");
    server.listen_host = host;
    server.listen_port = static_cast<std::uint16_t>(port);
}

void check_dn_list(const std::vector<std::string>& dns, const std::string& key) {
    for (const auto& dn : dns) {
        if (dn.find('=') == std::string::npos) {
            throw ConfigError(key + ": \"" + dn + "\" is not a distinguished name");
        }
    }
}

// The forms AuditLog accepts (audit/shipper.hpp); checked here so a typo stops start-up early.
void check_syslog_target(const std::string& target) {
    // libstdc++'s regex_match recurses once per character: a long value overflowed the stack (a
    // crash at start-up, found by the config fuzzer) instead of being refused.
    if (target.size() > 512) {
        throw ConfigError("audit.checkpoint_syslog: too long (at most 512 characters)");
    }
    static const std::regex form(
        R"(^(|auto|none|unix:/.+|(udp|tcp)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):[0-9]{1,5})$)");
    bool good = std::regex_match(target, form);
    if (good && (target.starts_with("udp://") || target.starts_with("tcp://"))) {
        const int port = std::stoi(target.substr(target.rfind(':') + 1));
        good = port >= 1 && port <= 65535;
    }
    if (!good) {
        throw ConfigError("audit.checkpoint_syslog: must be \"\", \"auto\", unix:/path, "
                          "udp://host:port or tcp://host:port");
    }
}

}  // namespace

Config parse_config(std::string_view toml_text, const std::filesystem::path& base_dir) {
    toml::table root;
    try {
        root = toml::parse(toml_text);
    } catch (const toml::parse_error& error) {
        std::ostringstream message;
        message << "syntax error at line " << error.source().begin.line << ": "
                << error.description();
        throw ConfigError(message.str());
    }

    static const std::set<std::string> sections{"server", "directory", "roles", "audit",
                                                "lookup", "limits", "reports"};
    for (const auto& [key, node] : root) {
        if (!sections.contains(std::string(key.str()))) {
            throw ConfigError(std::string(key.str()) + ": unknown section");
        }
    }

    Config config;

    Section server(sub_table(root, "server", true), "server");
    parse_listen(server.string("listen", "127.0.0.1:8443"), config.server);
    config.server.tls_certificate = resolve(base_dir, server.required_string("tls_certificate"));
    config.server.tls_private_key = resolve(base_dir, server.required_string("tls_private_key"));
    config.server.session_idle =
        std::chrono::minutes(server.integer("session_idle_minutes", 15, 1, 24 * 60));
    config.server.session_max = std::chrono::hours(server.integer("session_max_hours", 8, 1, 24));
    config.server.worker_threads =
        static_cast<unsigned>(server.integer("worker_threads", 8, 1, 256));
    server.reject_unknown_keys();

    Section directory(sub_table(root, "directory", true), "directory");
    auto& dir = config.directory;
    dir.uris = directory.strings("uris");
    if (dir.uris.empty()) throw ConfigError("directory.uris: at least one URI required");
    dir.start_tls = directory.boolean("start_tls", false);
    for (std::size_t i = 0; i < dir.uris.size(); ++i) {
        const auto& uri = dir.uris[i];
        const std::string key = "directory.uris[" + std::to_string(i) + "]";
        const bool ldaps = uri.starts_with("ldaps://");
        const bool ldap = uri.starts_with("ldap://");
        if (!ldaps && !ldap) throw ConfigError(key + ": must start with ldaps:// or ldap://");
        // A simple bind carries the password: never over an unencrypted connection.
        if (ldap && !dir.start_tls) {
            throw ConfigError(key + ": ldap:// needs directory.start_tls = true (or use ldaps://)");
        }
        if (ldaps && dir.start_tls) {
            throw ConfigError(key + ": ldaps:// is TLS already; start_tls = true needs ldap:// URIs");
        }
    }
    dir.base_dn = directory.required_string("base_dn");
    dir.bind_dn = directory.required_string("bind_dn");
    dir.bind_password_file = resolve(base_dir, directory.required_string("bind_password_file"));
    dir.tls_ca_file = resolve(base_dir, directory.string("tls_ca_file", ""));
    dir.tls_verify = directory.boolean("tls_verify", true);
    dir.timeout = std::chrono::seconds(directory.integer("timeout_seconds", 5, 1, 120));
    dir.domain = directory.string("domain", "");
    const auto resolution = directory.string("group_resolution", "auto");
    if (resolution == "auto") {
        dir.group_resolution = GroupResolution::automatic;
    } else if (resolution == "in_chain") {
        dir.group_resolution = GroupResolution::in_chain;
    } else if (resolution == "recursive") {
        dir.group_resolution = GroupResolution::recursive;
    } else {
        throw ConfigError("directory.group_resolution: must be auto, in_chain or recursive");
    }
    dir.index_poll = std::chrono::seconds(directory.integer("index_poll_seconds", 5, 1, 3600));
    dir.index_full_resync =
        std::chrono::minutes(directory.integer("index_resync_minutes", 15, 1, 24 * 60));
    directory.reject_unknown_keys();
    check_dn_list({dir.base_dn}, "directory.base_dn");
    check_dn_list({dir.bind_dn}, "directory.bind_dn");

    Section roles(sub_table(root, "roles", true), "roles");
    config.roles.helpdesk = roles.strings("helpdesk");
    config.roles.auditor = roles.strings("auditor");
    config.roles.security = roles.strings("security");
    config.roles.admin = roles.strings("admin");
    roles.reject_unknown_keys();
    check_dn_list(config.roles.helpdesk, "roles.helpdesk");
    check_dn_list(config.roles.auditor, "roles.auditor");
    check_dn_list(config.roles.security, "roles.security");
    check_dn_list(config.roles.admin, "roles.admin");
    if (config.roles.helpdesk.empty() && config.roles.admin.empty()) {
        throw ConfigError("roles.helpdesk: at least one group must grant helpdesk or admin");
    }

    Section audit(sub_table(root, "audit", true), "audit");
    config.audit.directory = resolve(base_dir, audit.required_string("directory"));
    config.audit.key_file = resolve(base_dir, audit.required_string("key_file"));
    config.audit.signing_key_file = resolve(base_dir, audit.string("signing_key_file", ""));
    config.audit.checkpoint_records =
        static_cast<unsigned>(audit.integer("checkpoint_records", 1000, 1, 1000000));
    config.audit.checkpoint_interval =
        std::chrono::seconds(audit.integer("checkpoint_seconds", 60, 1, 86400));
    config.audit.checkpoint_syslog = audit.string("checkpoint_syslog", "auto");
    check_syslog_target(config.audit.checkpoint_syslog);
    config.audit.checkpoint_file = resolve(base_dir, audit.string("checkpoint_file", ""));
    config.audit.rotate_bytes =
        static_cast<std::uint64_t>(audit.integer("rotate_size_mib", 64, 1, 65536)) * 1024 * 1024;
    config.audit.rotate_daily = audit.boolean("rotate_daily", true);
    config.audit.index_file = resolve(base_dir, audit.string("index_file", ""));
    if (config.audit.index_file.empty()) config.audit.index_file = config.audit.directory / "index" / "audit-index.sqlite";
    config.audit.verify_interval = std::chrono::minutes(audit.integer("verify_minutes", 60, 1, 10080));
    audit.reject_unknown_keys();
    if (!config.audit.checkpoint_file.empty() &&
        config.audit.checkpoint_file.parent_path().lexically_normal() ==
            config.audit.directory.lexically_normal()) {
        // A copy beside the log vanishes with it; and audit-*.jsonl names there are log files.
        throw ConfigError("audit.checkpoint_file: must not be in audit.directory (use another mount)");
    }

    Section lookup(sub_table(root, "lookup", false), "lookup");
    config.lookup.min_key_id_chars =
        static_cast<unsigned>(lookup.integer("min_key_id_chars", 8, 8, 32));
    config.lookup.max_results = static_cast<unsigned>(lookup.integer("max_results", 50, 1, 1000));
    config.lookup.require_ticket = lookup.boolean("require_ticket", false);
    config.lookup.ticket_pattern = lookup.string("ticket_pattern", "");
    config.lookup.reveal_display_seconds =
        static_cast<unsigned>(lookup.integer("reveal_display_seconds", 60, 10, 600));
    lookup.reject_unknown_keys();
    if (!config.lookup.ticket_pattern.empty()) {
        try {
            std::regex check(config.lookup.ticket_pattern, std::regex::ECMAScript);
        } catch (const std::regex_error& error) {
            throw ConfigError("lookup.ticket_pattern: not a valid regular expression: "s +
                              error.what());
        }
    }

    Section limits(sub_table(root, "limits", false), "limits");
    auto& limit = config.limits;
    auto count = [&](std::string_view key, unsigned fallback, unsigned max) {
        return static_cast<unsigned>(limits.integer(key, fallback, 1, max));
    };
    limit.sign_in_failures_per_account = count("sign_in_failures_per_account", 4, 100);
    limit.sign_in_failures_per_client = count("sign_in_failures_per_client", 20, 10'000);
    limit.lookups_per_minute = count("lookups_per_minute", 60, 1'000'000);
    limit.lookups_per_hour = count("lookups_per_hour", 600, 100'000'000);
    limit.reveals_per_10_minutes = count("reveals_per_10_minutes", 10, 1'000'000);
    limit.reveals_per_hour = count("reveals_per_hour", 40, 100'000'000);
    limit.session_recheck = std::chrono::seconds(limits.integer("session_recheck_seconds", 60, 0, 3600));
    limit.max_connections = count("max_connections", 1024, 100'000);
    limit.max_connections_per_client = count("max_connections_per_client", 64, 100'000);
    limit.max_pending_requests = count("max_pending_requests", 256, 100'000);
    limit.audited_refusals_per_minute = count("audited_refusals_per_minute", 30, 100'000);
    limits.reject_unknown_keys();

    Section reports(sub_table(root, "reports", false), "reports");
    auto& report = config.reports;
    const auto hours = reports.string("business_hours", "08:00-18:00");
    static const std::regex hours_form(R"(^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$)");
    std::smatch hours_match;
    if (!std::regex_match(hours, hours_match, hours_form)) {
        throw ConfigError("reports.business_hours: expected HH:MM-HH:MM, e.g. \"08:00-18:00\"");
    }
    report.business_start_minute =
        static_cast<unsigned>(std::stoi(hours_match[1]) * 60 + std::stoi(hours_match[2]));
    report.business_end_minute =
        static_cast<unsigned>(std::stoi(hours_match[3]) * 60 + std::stoi(hours_match[4]));
    if (report.business_end_minute <= report.business_start_minute || report.business_end_minute > 24 * 60) {
        throw ConfigError("reports.business_hours: the end must come after the start, within the day");
    }
    if (reports.find("business_days")) {
        static const std::array<std::string_view, 7> day_names{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        report.business_days = 0;
        report.business_day_names = reports.strings("business_days");
        for (const auto& name : report.business_day_names) {
            const auto found = std::find(day_names.begin(), day_names.end(), name);
            if (found == day_names.end()) {
                throw ConfigError("reports.business_days: unknown day \"" + name.substr(0, 16) +
                                  "\" (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)");
            }
            report.business_days |= 1u << (found - day_names.begin());
        }
    }
    report.timezone = reports.string("timezone", "");
    if (!report.timezone.empty() && report.timezone != "UTC") {
        static const std::regex zone_form(R"(^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$)");
        if (report.timezone.size() > 64 || !std::regex_match(report.timezone, zone_form) ||
            !std::filesystem::is_regular_file("/usr/share/zoneinfo/" + report.timezone)) {
            throw ConfigError("reports.timezone: not a time zone of this host's tz database: " +
                              report.timezone.substr(0, 64));
        }
    }
    report.unusual_factor = static_cast<unsigned>(reports.integer("unusual_factor", 3, 2, 100));
    report.unusual_minimum = static_cast<unsigned>(reports.integer("unusual_minimum", 10, 1, 100000));
    reports.reject_unknown_keys();
    return config;
}

Config load_config(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw ConfigError(file.string() + ": cannot read the config file");
    std::ostringstream text;
    text << in.rdbuf();
    const auto base_dir = std::filesystem::absolute(file).parent_path();
    try {
        return parse_config(text.str(), base_dir);
    } catch (const ConfigError& error) {
        throw ConfigError(file.string() + ": " + error.what());
    }
}

}  // namespace keydesk::config
