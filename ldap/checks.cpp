// The doctor's directory checks: plain libldap calls with explanations attached.
#include "ldap/checks.hpp"

#include <ldap.h>

#include <map>

#include "ldap/connection.hpp"

namespace keydesk::ldap {
namespace {

ConnectionOptions options_for(const DirectorySettings& settings, std::vector<std::string> uris) {
    return ConnectionOptions{std::move(uris), settings.tls_ca_file, settings.start_tls,
                             settings.tls_verify, settings.timeout};
}

std::unique_ptr<Connection> bound_connection(const DirectorySettings& settings) {
    auto connection = Connection::open(options_for(settings, settings.uris));
    const auto bound = connection->simple_bind(settings.bind_dn, settings.bind_password);
    if (bound.code != LDAP_SUCCESS) {
        throw DirectoryError(std::string(ldap_err2string(bound.code)) + " " + bound.diagnostic);
    }
    return connection;
}

}  // namespace

CheckResult check_tls_connection(const DirectorySettings& settings, const std::string& uri) {
    try {
        auto connection = Connection::open(options_for(settings, {uri}));
        return {true, settings.tls_verify ? "TLS verified" : "TLS NOT verified (tls_verify = false)"};
    } catch (const std::exception& error) {
        return {false, std::string(error.what()) +
                           " — check the host name matches the DC's certificate, that "
                           "directory.tls_ca_file holds the CA that issued it, and the port"};
    }
}

CheckResult check_service_bind(const DirectorySettings& settings) {
    try {
        bound_connection(settings);
        return {true, "bound as " + settings.bind_dn};
    } catch (const DirectoryUnavailable& error) {
        return {false, error.what()};
    } catch (const std::exception& error) {
        return {false, std::string(error.what()) + " — check directory.bind_dn and the password in "
                                                   "directory.bind_password_file"};
    }
}

CheckResult check_recovery_password_access(const DirectorySettings& settings, int sample) {
    try {
        auto connection = bound_connection(settings);
        const auto found = connection->search(settings.base_dn, Scope::subtree,
                                              "(objectClass=msFVE-RecoveryInformation)",
                                              {"cn", "msFVE-RecoveryPassword"}, sample);
        if (found.entries.empty()) {
            return {false,
                    "the service account sees no msFVE-RecoveryInformation object under " +
                        settings.base_dn +
                        " — grant it Read Property on descendant msFVE-RecoveryInformation "
                        "objects on each OU that holds computers (deploy/ad/)"};
        }
        // Per OU (the computer's parent): how many objects, how many with a readable password.
        std::map<std::string, std::pair<int, int>> by_ou;
        for (const auto& entry : found.entries) {
            const auto ou = parent_dn(parent_dn(entry.dn));
            auto& [seen, readable] = by_ou[ou];
            ++seen;
            if (entry.first("msFVE-RecoveryPassword")) ++readable;
        }
        std::string missing;
        int readable_total = 0;
        for (const auto& [ou, counts] : by_ou) {
            readable_total += counts.second;
            if (counts.second < counts.first) {
                if (!missing.empty()) missing += "; ";
                missing += ou + " (" + std::to_string(counts.first - counts.second) + " of " +
                           std::to_string(counts.first) + " unreadable)";
            }
        }
        const std::string sampled = std::to_string(found.entries.size()) + " recovery objects" +
                                    (found.size_limit_exceeded ? " (a sample)" : "");
        if (missing.empty()) return {true, "passwords readable on all " + sampled};
        return {false, "msFVE-RecoveryPassword not readable in " + missing +
                           " — grant Control Access on msFVE-RecoveryPassword (and Read Property "
                           "on msFVE-RecoveryInformation) on these OUs, not the domain root "
                           "(deploy/ad/); " + std::to_string(readable_total) + " of " + sampled +
                           " readable"};
    } catch (const std::exception& error) {
        return {false, error.what()};
    }
}

CheckResult check_group_exists(const DirectorySettings& settings, const std::string& group_dn) {
    try {
        auto connection = bound_connection(settings);
        const auto found = connection->search(group_dn, Scope::base, "(objectClass=group)", {"1.1"});
        if (found.entries.empty()) {
            return {false, "no group " + group_dn + " — fix the DN in [roles] or create the group"};
        }
        return {true, group_dn};
    } catch (const std::exception& error) {
        return {false, error.what()};
    }
}

}  // namespace keydesk::ldap
