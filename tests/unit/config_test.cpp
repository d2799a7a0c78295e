// Config parsing: the happy path and every way a config is refused, each naming its key.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "config/config.hpp"

using keydesk::config::ConfigError;
using keydesk::config::parse_config;

namespace {

const std::string valid_config = R"(
[server]
listen = "127.0.0.1:9443"
tls_certificate = "tls/cert.pem"
tls_private_key = "/etc/keydesk/key.pem"
session_idle_minutes = 10
[directory]
uris = ["ldaps://dc1.corp.example.com:636", "ldaps://dc2.corp.example.com"]
base_dn = "DC=corp,DC=example,DC=com"
bind_dn = "CN=svc-keydesk,OU=Service Accounts,DC=corp,DC=example,DC=com"
bind_password_file = "secrets/bind-password"
tls_ca_file = "/etc/keydesk/ca.pem"
timeout_seconds = 3
domain = "CORP"
[roles]
helpdesk = ["CN=KD-Helpdesk,OU=Groups,DC=corp,DC=example,DC=com"]
auditor = ["CN=KD-Auditors,OU=Groups,DC=corp,DC=example,DC=com"]
[audit]
directory = "/var/lib/keydesk/audit"
key_file = "secrets/audit.key"
[lookup]
min_key_id_chars = 10
require_ticket = true
ticket_pattern = "^INC[0-9]{6}$"
)";

// The error message for `text`, or "" if it parsed.
std::string error_for(const std::string& text) {
    try {
        parse_config(text, "/etc/keydesk");
    } catch (const ConfigError& error) {
        return error.what();
    }
    return "";
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
}

}  // namespace

TEST(Config, ParsesAValidFile) {
    const auto config = parse_config(valid_config, "/etc/keydesk");
    EXPECT_EQ(config.server.listen_host, "127.0.0.1");
    EXPECT_EQ(config.server.listen_port, 9443);
    EXPECT_EQ(config.server.tls_certificate, "/etc/keydesk/tls/cert.pem");  // relative: resolved
    EXPECT_EQ(config.server.tls_private_key, "/etc/keydesk/key.pem");
    EXPECT_EQ(config.server.session_idle.count(), 10);
    EXPECT_EQ(config.server.session_max.count(), 8);  // default
    EXPECT_EQ(config.directory.uris.size(), 2u);
    EXPECT_EQ(config.directory.timeout.count(), 3);
    EXPECT_TRUE(config.directory.tls_verify);
    EXPECT_FALSE(config.directory.start_tls);
    EXPECT_EQ(config.directory.bind_password_file, "/etc/keydesk/secrets/bind-password");
    EXPECT_EQ(config.roles.helpdesk.size(), 1u);
    EXPECT_TRUE(config.roles.security.empty());
    EXPECT_EQ(config.lookup.min_key_id_chars, 10u);
    EXPECT_TRUE(config.lookup.require_ticket);
    EXPECT_EQ(config.lookup.max_results, 50u);
}

TEST(Config, RefusesBadInputNamingTheKey) {
    struct Case {
        std::string from, to, expected;
    };
    const std::vector<Case> cases{
        {"[lookup]", "[lookups]", "lookups: unknown section"},
        {"session_idle_minutes = 10", "session_idle = 10", "server.session_idle: unknown key"},
        {"session_idle_minutes = 10", "session_idle_minutes = 0", "server.session_idle_minutes: must be between"},
        {"session_idle_minutes = 10", "session_idle_minutes = \"10\"", "server.session_idle_minutes: must be an integer"},
        {"listen = \"127.0.0.1:9443\"", "listen = \"127.0.0.1\"", "server.listen: must be host:port"},
        {"listen = \"127.0.0.1:9443\"", "listen = \"127.0.0.1:99999\"", "server.listen: port must be 0-65535"},
        {"listen = \"127.0.0.1:9443\"", "listen = \"127.0.0.1:http\"", "server.listen: port must be a number"},
        {"tls_certificate = \"tls/cert.pem\"\n", "", "server.tls_certificate: required"},
        {"uris = [\"ldaps://dc1.corp.example.com:636\", \"ldaps://dc2.corp.example.com\"]", "uris = []", "directory.uris: at least one URI required"},
        {"\"ldaps://dc2.corp.example.com\"", "\"http://dc2\"", "directory.uris[1]: must start with ldaps:// or ldap://"},
        {"\"ldaps://dc2.corp.example.com\"", "\"ldap://dc2\"", "directory.uris[1]: ldap:// needs directory.start_tls = true"},
        {"\"ldaps://dc2.corp.example.com\"", "42", "directory.uris[1]: must be a non-empty string"},
        {"base_dn = \"DC=corp,DC=example,DC=com\"", "base_dn = \"\"", "directory.base_dn: must not be empty"},
        {"base_dn = \"DC=corp,DC=example,DC=com\"", "base_dn = \"corp\"", "directory.base_dn: \"corp\" is not a distinguished name"},
        {"timeout_seconds = 3", "timeout_seconds = 0", "directory.timeout_seconds: must be between 1 and 120"},
        {"domain = \"CORP\"", "domain = \"CORP\"\ngroup_resolution = \"magic\"", "directory.group_resolution: must be auto, in_chain or recursive"},
        {"domain = \"CORP\"", "domain = \"CORP\"\ntls_verify = \"no\"", "directory.tls_verify: must be true or false"},
        {"domain = \"CORP\"", "domain = \"CORP\"\nbind_password = \"hunter2\"", "directory.bind_password: unknown key"},
        {"helpdesk = [\"CN=KD-Helpdesk,OU=Groups,DC=corp,DC=example,DC=com\"]", "helpdesk = []", "roles.helpdesk: at least one group must grant helpdesk or admin"},
        {"auditor = [\"CN=KD-Auditors,OU=Groups,DC=corp,DC=example,DC=com\"]", "auditor = [\"KD-Auditors\"]", "roles.auditor: \"KD-Auditors\" is not a distinguished name"},
        {"auditor = [", "auditors = [", "roles.auditors: unknown key"},
        {"key_file = \"secrets/audit.key\"", "", "audit.key_file: required"},
        {"min_key_id_chars = 10", "min_key_id_chars = 4", "lookup.min_key_id_chars: must be between 8 and 32"},
        {"ticket_pattern = \"^INC[0-9]{6}$\"", "ticket_pattern = \"^INC[0-9\"", "lookup.ticket_pattern: not a valid regular expression"},
        {"[audit]", "[audit", "syntax error at line"},
    };
    for (const auto& test : cases) {
        const auto message = error_for(replaced(valid_config, test.from, test.to));
        EXPECT_NE(message.find(test.expected), std::string::npos)
            << "expected \"" << test.expected << "\", got \"" << message << "\"";
    }
}

TEST(Config, SectionsMustBeTables) {
    auto text = valid_config;
    const auto lookup = text.find("[lookup]");
    text = "lookup = 5\n" + text.substr(0, lookup);
    EXPECT_NE(error_for(text).find("lookup: must be a [section]"), std::string::npos) << error_for(text);
}

TEST(Config, AVeryLongSyslogTargetIsRefusedNotACrash) {
    // Found by fuzzing: the regex check recursed once per character and overflowed the stack.
    auto text = valid_config;
    text.replace(text.find("key_file = \"secrets/audit.key\""), 30,
                 "key_file = \"secrets/audit.key\"\ncheckpoint_syslog = \"udp://" +
                     std::string(100000, 'a') + ":514\"");
    EXPECT_NE(error_for(text).find("audit.checkpoint_syslog: too long"), std::string::npos);
}

TEST(Config, RequiresEverySection) {
    for (const std::string section : {"[server]", "[directory]", "[roles]", "[audit]"}) {
        auto text = valid_config;
        text.replace(text.find(section), section.size(), "[unused]");
        EXPECT_NE(error_for(text), "") << section;
    }
}

TEST(Config, AcceptsStartTlsWithLdapUris) {
    auto text = replaced(valid_config, "\"ldaps://dc2.corp.example.com\"", "\"ldap://dc2\"");
    text = replaced(text, "domain = \"CORP\"", "domain = \"CORP\"\nstart_tls = true");
    EXPECT_NE(error_for(text).find("directory.uris[0]: ldaps:// is TLS already"), std::string::npos)
        << error_for(text);
    text = replaced(text, "\"ldaps://dc1.corp.example.com:636\"", "\"ldap://dc1\"");
    EXPECT_TRUE(parse_config(text, "/").directory.start_tls);
}

TEST(SecretFiles, AreReadWithoutTrailingNewlineAndOnlyIfPrivate) {
    const auto dir = std::filesystem::temp_directory_path() / ("kd-secret-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto file = dir / "secret";
    std::ofstream(file) << "s3cret\n";
    ::chmod(file.c_str(), 0600);
    EXPECT_EQ(keydesk::config::read_secret_file(file, "test"), "s3cret");

    ::chmod(file.c_str(), 0644);
    EXPECT_THROW(keydesk::config::read_secret_file(file, "test"), ConfigError);

    std::ofstream(dir / "empty") << "\n";
    ::chmod((dir / "empty").c_str(), 0600);
    EXPECT_THROW(keydesk::config::read_secret_file(dir / "empty", "test"), ConfigError);
    EXPECT_THROW(keydesk::config::read_secret_file(dir / "missing", "test"), ConfigError);
    std::filesystem::remove_all(dir);
}

TEST(Config, LoadConfigNamesTheFile) {
    try {
        keydesk::config::load_config("/nonexistent/keydesk.toml");
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& error) {
        EXPECT_NE(std::string(error.what()).find("/nonexistent/keydesk.toml"), std::string::npos);
    }
}

TEST(Config, AuditCheckpointAndRotationDefaults) {
    const auto audit = parse_config(valid_config, "/etc/keydesk").audit;
    EXPECT_TRUE(audit.signing_key_file.empty());  // no key: no checkpoints, as before
    EXPECT_EQ(audit.checkpoint_records, 1000u);
    EXPECT_EQ(audit.checkpoint_interval.count(), 60);
    EXPECT_EQ(audit.checkpoint_syslog, "auto");
    EXPECT_TRUE(audit.checkpoint_file.empty());
    EXPECT_EQ(audit.rotate_bytes, 64ull * 1024 * 1024);
    EXPECT_TRUE(audit.rotate_daily);
}

TEST(Config, ReadsAuditCheckpointAndRotationKeys) {
    const auto text = replaced(valid_config, "key_file = \"secrets/audit.key\"",
                               "key_file = \"secrets/audit.key\"\n"
                               "signing_key_file = \"secrets/audit-signing.pem\"\n"
                               "checkpoint_records = 500\n"
                               "checkpoint_seconds = 30\n"
                               "checkpoint_syslog = \"udp://[::1]:514\"\n"
                               "checkpoint_file = \"/mnt/siem/keydesk-checkpoints.jsonl\"\n"
                               "rotate_size_mib = 16\n"
                               "rotate_daily = false\n");
    const auto audit = parse_config(text, "/etc/keydesk").audit;
    EXPECT_EQ(audit.signing_key_file, "/etc/keydesk/secrets/audit-signing.pem");
    EXPECT_EQ(audit.checkpoint_records, 500u);
    EXPECT_EQ(audit.checkpoint_interval.count(), 30);
    EXPECT_EQ(audit.checkpoint_syslog, "udp://[::1]:514");
    EXPECT_EQ(audit.checkpoint_file, "/mnt/siem/keydesk-checkpoints.jsonl");
    EXPECT_EQ(audit.rotate_bytes, 16ull * 1024 * 1024);
    EXPECT_FALSE(audit.rotate_daily);

    for (const std::string target : {"", "auto", "none", "unix:/dev/log", "udp://127.0.0.1:514",
                                     "tcp://siem.corp.example.com:6514"}) {
        const auto with = replaced(valid_config, "key_file = \"secrets/audit.key\"",
                                   "key_file = \"secrets/audit.key\"\ncheckpoint_syslog = \"" + target + "\"");
        EXPECT_EQ(parse_config(with, "/").audit.checkpoint_syslog, target);
    }
}

TEST(Config, RefusesBadAuditCheckpointSettings) {
    const std::string anchor = "key_file = \"secrets/audit.key\"";
    struct Case {
        std::string line, expected;
    };
    const std::vector<Case> cases{
        {"checkpoint_records = 0", "audit.checkpoint_records: must be between 1 and 1000000"},
        {"checkpoint_seconds = 0", "audit.checkpoint_seconds: must be between 1 and 86400"},
        {"checkpoint_seconds = \"60\"", "audit.checkpoint_seconds: must be an integer"},
        {"checkpoint_syslog = \"syslog.corp:514\"", "audit.checkpoint_syslog: must be"},
        {"checkpoint_syslog = \"udp://127.0.0.1\"", "audit.checkpoint_syslog: must be"},
        {"checkpoint_syslog = \"udp://127.0.0.1:70000\"", "audit.checkpoint_syslog: must be"},
        {"checkpoint_syslog = \"unix:dev/log\"", "audit.checkpoint_syslog: must be"},
        {"checkpoint_file = \"/var/lib/keydesk/audit/checkpoints.jsonl\"",
         "audit.checkpoint_file: must not be in audit.directory"},
        {"rotate_size_mib = 0", "audit.rotate_size_mib: must be between 1 and 65536"},
        {"rotate_daily = \"yes\"", "audit.rotate_daily: must be true or false"},
        {"signing_key = \"x.pem\"", "audit.signing_key: unknown key"},
    };
    for (const auto& test : cases) {
        const auto message = error_for(replaced(valid_config, anchor, anchor + "\n" + test.line));
        EXPECT_NE(message.find(test.expected), std::string::npos)
            << "expected \"" << test.expected << "\", got \"" << message << "\"";
    }
}

TEST(Config, AuditIndexAndReportDefaults) {
    const auto config = parse_config(valid_config, "/etc/keydesk");
    EXPECT_EQ(config.audit.index_file, config.audit.directory / "index" / "audit-index.sqlite");
    EXPECT_EQ(config.audit.verify_interval.count(), 60);
    EXPECT_EQ(config.reports.business_start_minute, 8u * 60);
    EXPECT_EQ(config.reports.business_end_minute, 18u * 60);
    EXPECT_EQ(config.reports.business_days, 0b0111110u);
    EXPECT_TRUE(config.reports.timezone.empty());
    EXPECT_EQ(config.reports.unusual_factor, 3u);
}

TEST(Config, ReadsAndChecksTheReportsSection) {
    const auto config = parse_config(valid_config + "\n[reports]\nbusiness_hours = \"07:30-19:15\"\n"
                                                    "business_days = [\"Sat\", \"Sun\"]\n"
                                                    "timezone = \"UTC\"\nunusual_factor = 5\n",
                                     "/etc/keydesk");
    EXPECT_EQ(config.reports.business_start_minute, 7u * 60 + 30);
    EXPECT_EQ(config.reports.business_end_minute, 19u * 60 + 15);
    EXPECT_EQ(config.reports.business_days, 0b1000001u);
    EXPECT_EQ(config.reports.unusual_factor, 5u);
    for (const std::string bad : {"business_hours = \"18:00-08:00\"", "business_hours = \"8-18\"",
                                  "business_days = [\"Monday\"]", "timezone = \"Mars/Olympus\"",
                                  "timezone = \"../../etc/passwd\"", "unusual_factor = 1",
                                  "verbose = true"}) {
        EXPECT_NE(error_for(valid_config + "\n[reports]\n" + bad + "\n").find("reports."), std::string::npos)
            << bad;
    }
    EXPECT_NE(error_for(replaced(valid_config, "key_file = \"secrets/audit.key\"",
                                 "key_file = \"secrets/audit.key\"\nverify_minutes = 0"))
                  .find("audit.verify_minutes"),
              std::string::npos);
}
