// Directory checks for `keydesk doctor`: each says OK or what is wrong and how to fix it.
#pragma once

#include <string>
#include <vector>

#include "ldap/directory.hpp"

namespace keydesk::ldap {

struct CheckResult {
    bool ok = false;
    std::string detail;  // what was found; on failure, the fix
};

// Connects to one URI with TLS verified (and StartTLS if configured), without binding.
CheckResult check_tls_connection(const DirectorySettings& settings, const std::string& uri);

// Binds as the service account.
CheckResult check_service_bind(const DirectorySettings& settings);

// Looks at up to `sample` recovery objects and reads their passwords as the service account;
// names each OU where objects are visible but their password is not.
CheckResult check_recovery_password_access(const DirectorySettings& settings, int sample = 1000);

// The group exists (a base search on its DN finds a group).
CheckResult check_group_exists(const DirectorySettings& settings, const std::string& group_dn);

}  // namespace keydesk::ldap
