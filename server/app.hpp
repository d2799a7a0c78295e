// Wires keydesk together from its config: audit log, directory, sessions, API, HTTPS server.
#pragma once

#include <filesystem>
#include <optional>

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

// `keydesk audit verify`: prints "OK <n> records" (0) or the first bad record (1).
int verify_audit(const std::filesystem::path& config_file);

}  // namespace keydesk::server
