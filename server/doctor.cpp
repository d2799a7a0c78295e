// `keydesk doctor`: what an AD admin runs after installing, one line per check with the fix.
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "ldap/checks.hpp"
#include "server/app.hpp"
#include "server/http/tls.hpp"

namespace keydesk::server {
namespace {

class Report {
public:
    void line(bool ok, const std::string& what, const std::string& detail) {
        std::cout << (ok ? "OK   " : "FAIL ") << what << ": " << detail << "\n";
        all_ok_ = all_ok_ && ok;
    }
    bool all_ok() const { return all_ok_; }

private:
    bool all_ok_ = true;
};

void check_certificate(Report& report, const config::ServerConfig& server) {
    try {
        make_server_tls_context(server.tls_certificate, server.tls_private_key);
    } catch (const std::exception& error) {
        report.line(false, "TLS certificate", error.what());
        return;
    }
    FILE* file = std::fopen(server.tls_certificate.c_str(), "r");
    X509* certificate = file ? PEM_read_X509(file, nullptr, nullptr, nullptr) : nullptr;
    if (file) std::fclose(file);
    if (!certificate) {
        report.line(false, "TLS certificate", "cannot read " + server.tls_certificate.string());
        return;
    }
    const bool started = X509_cmp_current_time(X509_get0_notBefore(certificate)) < 0;
    const bool expired = X509_cmp_current_time(X509_get0_notAfter(certificate)) <= 0;
    int days = 0, seconds = 0;
    ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(certificate));
    X509_free(certificate);
    if (!started || expired) {
        report.line(false, "TLS certificate",
                    server.tls_certificate.string() + (expired ? " has expired" : " is not valid yet") +
                        " — renew it");
        return;
    }
    report.line(true, "TLS certificate",
                server.tls_certificate.string() + " matches its key, valid for " +
                    std::to_string(days) + " more days");
}

void check_audit_directory(Report& report, const config::AuditConfig& audit) {
    try {
        const auto key = config::read_secret_file(audit.key_file, "audit key");
        if (key.size() < 32) {
            report.line(false, "audit key", audit.key_file.string() + " is shorter than 32 bytes");
        } else {
            report.line(true, "audit key", audit.key_file.string());
        }
    } catch (const std::exception& error) {
        report.line(false, "audit key", error.what());
    }
    std::error_code error;
    std::filesystem::create_directories(audit.directory, error);
    const auto probe = audit.directory / (".doctor-probe-" + std::to_string(::getpid()));
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && ::write(fd, "probe\n", 6) == 6 && ::fdatasync(fd) == 0;
    const int saved_errno = errno;
    if (fd >= 0) ::close(fd);
    std::filesystem::remove(probe, error);
    if (ok) {
        report.line(true, "audit directory", audit.directory.string() + " is writable and fsync works");
    } else {
        report.line(false, "audit directory",
                    audit.directory.string() + ": " + std::strerror(saved_errno) +
                        " — it must be a directory the keydesk user can write (mode 0700)");
    }
}

}  // namespace

int doctor(const std::filesystem::path& config_file) {
    Report report;
    config::Config config;
    try {
        config = config::load_config(config_file);
        report.line(true, "config", config_file.string());
    } catch (const config::ConfigError& error) {
        report.line(false, "config", error.what());
        return 1;
    }
    check_certificate(report, config.server);
    check_audit_directory(report, config.audit);

    ldap::DirectorySettings settings;
    try {
        settings = directory_settings(config);
    } catch (const config::ConfigError& error) {
        report.line(false, "bind password", error.what());
        return 1;
    }
    if (!settings.tls_verify) {
        report.line(false, "directory TLS", "tls_verify = false: the DC's certificate is not checked");
    }
    for (const auto& uri : settings.uris) {
        const auto result = ldap::check_tls_connection(settings, uri);
        report.line(result.ok, "directory " + uri, result.detail);
    }
    const auto bind = ldap::check_service_bind(settings);
    report.line(bind.ok, "service account", bind.detail);
    if (bind.ok) {
        const auto access = ldap::check_recovery_password_access(settings);
        report.line(access.ok, "recovery password access", access.detail);
        auto check_groups = [&](const std::vector<std::string>& groups, const std::string& role) {
            for (const auto& group : groups) {
                const auto result = ldap::check_group_exists(settings, group);
                report.line(result.ok, "role " + role, result.detail);
            }
        };
        check_groups(config.roles.helpdesk, "helpdesk");
        check_groups(config.roles.auditor, "auditor");
        check_groups(config.roles.security, "security");
        check_groups(config.roles.admin, "admin");
    }
    std::cout << (report.all_ok() ? "all checks passed\n" : "some checks failed\n");
    return report.all_ok() ? 0 : 1;
}

}  // namespace keydesk::server
