// The config loader: parse_config(text, "/etc/keydesk") on arbitrary TOML.
//
// Properties: only ConfigError escapes (a toml++ error, std::out_of_range from a conversion or a
// regex_error would stop start-up with an unhelpful message, or crash it); an accepted config has
// at least one ldaps:// or ldap:// URI, a non-empty base_dn and bind_dn, min_key_id_chars in
// 8..32, someone who can reveal (helpdesk or admin), absolute paths, and a ticket pattern that
// compiles (the API compiles it again at start-up).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <regex>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

void check_accepted(const keydesk::config::Config& config) {
    const auto& directory = config.directory;
    FUZZ_CHECK(!directory.uris.empty(), "");
    for (const auto& uri : directory.uris) {
        FUZZ_CHECK(
            uri.starts_with("ldaps://") || (uri.starts_with("ldap://") && directory.start_tls),
            uri);
    }
    FUZZ_CHECK(!directory.base_dn.empty() && !directory.bind_dn.empty(), "");
    FUZZ_CHECK(directory.base_dn.find('=') != std::string::npos, directory.base_dn);
    FUZZ_CHECK(directory.timeout.count() >= 1, "");
    FUZZ_CHECK(config.lookup.min_key_id_chars >= 8 && config.lookup.min_key_id_chars <= 32,
               std::to_string(config.lookup.min_key_id_chars));
    FUZZ_CHECK(config.lookup.max_results >= 1, "");
    FUZZ_CHECK(!config.roles.helpdesk.empty() || !config.roles.admin.empty(), "");
    FUZZ_CHECK(config.server.tls_certificate.is_absolute(), config.server.tls_certificate.string());
    FUZZ_CHECK(config.server.tls_private_key.is_absolute(), config.server.tls_private_key.string());
    FUZZ_CHECK(directory.bind_password_file.is_absolute(), directory.bind_password_file.string());
    FUZZ_CHECK(config.audit.directory.is_absolute(), config.audit.directory.string());
    FUZZ_CHECK(config.audit.key_file.is_absolute(), config.audit.key_file.string());
    FUZZ_CHECK(config.server.worker_threads >= 1, "");
    FUZZ_CHECK(config.audit.rotate_bytes >= 1024 * 1024, "");
    if (!config.lookup.ticket_pattern.empty()) {
        std::regex pattern(config.lookup.ticket_pattern, std::regex::ECMAScript);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    static const bool verbose = std::getenv("KEYDESK_FUZZ_VERBOSE") != nullptr;
    try {
        check_accepted(keydesk::config::parse_config(text, "/etc/keydesk"));
        if (verbose) std::fprintf(stderr, "fuzz_config: accepted\n");
    } catch (const keydesk::config::ConfigError& error) {
        // The expected way to refuse a config: the message names the key.
        if (verbose) std::fprintf(stderr, "fuzz_config: %s\n", error.what());
    } catch (const std::exception& error) {
        FUZZ_CHECK(false, std::string("escaped parse_config: ") + error.what());
    }
    return 0;
}
