// Wires keydesk together from its config: audit log, directory, sessions, API, HTTPS server.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

#include "audit/audit_log.hpp"

#include "config/config.hpp"
#include "ldap/directory.hpp"

namespace keydesk::server {

struct ServeOptions {
    std::filesystem::path config_file;
    std::optional<std::filesystem::path> ready_file;  // gets the bound port once serving
};

// Runs `keydesk serve` until SIGINT/SIGTERM. Returns the process exit code; refuses to start
// (with a message on stderr) when the config, the directory, the audit log or TLS is not usable.
int serve(const ServeOptions& options);

// `keydesk doctor`: one line per check, OK or FAIL with the fix; 0 only if every check passes.
int doctor(const std::filesystem::path& config_file);

// The directory settings a config describes; reads the bind password file (throws ConfigError).
ldap::DirectorySettings directory_settings(const config::Config& config);

// `keydesk audit verify`: with --config, the configured directory, HMAC key, public key (of the
// signing key) and checkpoint file; an auditor gives --dir and --public-key (--key-file and
// --checkpoint optional) instead. Prints "OK <n> records" and details (0) or the first bad
// record (1); 2 for bad options or an unreadable config or key.
struct AuditVerifyOptions {
    std::filesystem::path config_file;
    std::filesystem::path directory;
    std::filesystem::path key_file;
    std::filesystem::path public_key_file;
    std::vector<std::filesystem::path> checkpoint_files;
    bool live = false;
    bool json = false;
    std::filesystem::path bundle;  // an evidence bundle (.tar.gz or its folder) instead of a log
};
int verify_audit(const AuditVerifyOptions& options);

// `keydesk audit export`: the records matching the filters (as the API's filter parameters),
// oldest first, as CSV or JSON Lines, to `output` (or stdout). Reads the log through its index
// (brought up to date first); never writes to the log, which only the server does.
struct AuditExportOptions {
    std::filesystem::path config_file;
    std::vector<std::pair<std::string, std::string>> filters;
    std::string format = "csv";
    std::filesystem::path output;
};
int audit_export(const AuditExportOptions& options);
int verify_audit(const std::filesystem::path& config_file);

// `keydesk audit public-key`: prints the public key PEM of [audit] signing_key_file.
int audit_public_key(const std::filesystem::path& config_file);
// `keydesk audit keygen`: creates [audit] signing_key_file (0600, never overwrites) and prints
// its public key.
int audit_keygen(const std::filesystem::path& config_file);

// The audit log's settings from [audit].
audit::AuditSettings audit_settings(const config::AuditConfig& audit);

}  // namespace keydesk::server
