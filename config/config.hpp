// keydesk's typed configuration: every setting the server reads, with its default.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace keydesk::config {

// Thrown for anything that must stop start-up; the message names the offending key.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class GroupResolution {
    automatic,  // in_chain when the server says it is Active Directory, else recursive
    in_chain,   // LDAP_MATCHING_RULE_IN_CHAIN (AD, Samba AD)
    recursive,  // walk `member` links level by level (any LDAP server)
};

struct ServerConfig {
    std::string listen_host = "127.0.0.1";
    std::uint16_t listen_port = 8443;
    std::filesystem::path tls_certificate;
    std::filesystem::path tls_private_key;
    std::chrono::minutes session_idle{15};
    std::chrono::hours session_max{8};
    unsigned worker_threads = 8;
};

struct DirectoryConfig {
    std::vector<std::string> uris;  // tried in order
    std::string base_dn;
    std::string bind_dn;
    std::filesystem::path bind_password_file;
    std::filesystem::path tls_ca_file;
    bool start_tls = false;
    bool tls_verify = true;  // false only for demos; logged and audited
    std::chrono::seconds timeout{5};
    std::string domain;  // NetBIOS name accepted as DOMAIN\user; empty = any
    GroupResolution group_resolution = GroupResolution::automatic;
    std::chrono::seconds index_poll{5};         // the Key ID index polls for changes this often
    std::chrono::minutes index_full_resync{15}; // and reloads everything (drops deleted keys)
};

struct RolesConfig {
    std::vector<std::string> helpdesk;
    std::vector<std::string> auditor;
    std::vector<std::string> security;
    std::vector<std::string> admin;
};

struct AuditConfig {
    std::filesystem::path directory;
    std::filesystem::path key_file;
    // Ed25519 private key (PEM) that signs checkpoints; empty: no checkpoints. Set but missing
    // stops start-up: `keydesk audit keygen` creates it, keydesk never does so on its own.
    std::filesystem::path signing_key_file;
    unsigned checkpoint_records = 1000;       // a checkpoint every N records
    std::chrono::seconds checkpoint_interval{60};  // and every T seconds with activity
    // Off-host copy of each checkpoint: "auto" (the local /dev/log if it exists), "" (none),
    // "unix:/path", "udp://host:port" or "tcp://host:port".
    std::string checkpoint_syslog = "auto";
    std::filesystem::path checkpoint_file;  // a second copy, ideally on another mount; empty: none
    std::uint64_t rotate_bytes = 64ull * 1024 * 1024;
    bool rotate_daily = true;  // a new file each UTC day
    // The derived SQLite index behind the Audit page; rebuilt from the files when missing.
    // Default <directory>/index/audit-index.sqlite: a subfolder, so that `chattr +a` on the audit
    // directory does not stop SQLite from removing its journal files.
    std::filesystem::path index_file;
    std::chrono::minutes verify_interval{60};  // the integrity banner's background verification
};

// The Reports page: what counts as business hours, and as unusual volume.
struct ReportsConfig {
    unsigned business_start_minute = 8 * 60;  // minutes after midnight, local time
    unsigned business_end_minute = 18 * 60;
    unsigned business_days = 0b0111110;      // bit 0 = Sunday ... bit 6 = Saturday
    std::vector<std::string> business_day_names{"Mon", "Tue", "Wed", "Thu", "Fri"};
    std::string timezone;                     // IANA name, e.g. "Europe/Berlin"; empty: the host's
    unsigned unusual_factor = 3;              // a day above factor x the staff member's median
    unsigned unusual_minimum = 10;            // and at least this many lookups and reveals
};

struct LookupConfig {
    unsigned min_key_id_chars = 8;
    unsigned max_results = 50;
    bool require_ticket = false;
    std::string ticket_pattern;  // ECMAScript regex a ticket must match in full; empty = any
    unsigned reveal_display_seconds = 60;  // the browser hides a revealed password after this
};

// Abuse limits. Sign-in failures stay below AD's usual lockout threshold (5 to 10) so that
// keydesk cannot be used to lock staff out.
struct LimitsConfig {
    unsigned sign_in_failures_per_account = 4;   // per 15 minutes
    unsigned sign_in_failures_per_client = 20;   // per 15 minutes, per IP address
    unsigned lookups_per_minute = 60;            // per staff member
    unsigned lookups_per_hour = 600;
    unsigned reveals_per_10_minutes = 10;
    unsigned reveals_per_hour = 40;
    std::chrono::seconds session_recheck{60};    // re-check the account against AD this often
    unsigned max_connections = 1024;
    unsigned max_connections_per_client = 64;
    unsigned max_pending_requests = 256;  // beyond: 503 overloaded with Retry-After
    // Audit records of refused unauthenticated requests, per client address per minute; the
    // rest are counted into the next record (an address cannot flood the log).
    unsigned audited_refusals_per_minute = 30;
};

struct Config {
    ServerConfig server;
    DirectoryConfig directory;
    RolesConfig roles;
    AuditConfig audit;
    LookupConfig lookup;
    LimitsConfig limits;
    ReportsConfig reports;
};

// Parses TOML text. Relative paths are resolved against `base_dir` (the config file's folder).
// Throws ConfigError on a syntax error, an unknown key, a missing required key or a bad value.
Config parse_config(std::string_view toml_text, const std::filesystem::path& base_dir);

// Reads and parses a config file. Throws ConfigError (also when the file cannot be read).
Config load_config(const std::filesystem::path& file);

// Reads a secret (bind password, audit key) from a file, without a trailing newline.
// Throws ConfigError when the file is missing, empty, or readable by group or others.
std::string read_secret_file(const std::filesystem::path& file, std::string_view what);

}  // namespace keydesk::config
