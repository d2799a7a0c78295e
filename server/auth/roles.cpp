// Role names and the group-to-role mapping.
#include "server/auth/roles.hpp"

#include <algorithm>

#include "ldap/directory.hpp"

namespace keydesk::server {

std::vector<std::string> RoleSet::names() const {
    std::vector<std::string> names;
    if (has(Role::helpdesk)) names.emplace_back("helpdesk");
    if (has(Role::auditor)) names.emplace_back("auditor");
    if (has(Role::security)) names.emplace_back("security");
    if (has(Role::admin)) names.emplace_back("admin");
    return names;
}

RoleMap::RoleMap(const config::RolesConfig& roles) {
    auto add = [this](const std::vector<std::string>& dns, Role role) {
        for (const auto& dn : dns) grants_.emplace_back(ldap::normalize_dn(dn), role);
    };
    add(roles.helpdesk, Role::helpdesk);
    add(roles.auditor, Role::auditor);
    add(roles.security, Role::security);
    add(roles.admin, Role::admin);
}

RoleSet RoleMap::roles_for(const std::vector<std::string>& normalized_group_dns) const {
    RoleSet roles;
    for (const auto& [group, role] : grants_) {
        if (std::find(normalized_group_dns.begin(), normalized_group_dns.end(), group) !=
            normalized_group_dns.end()) {
            roles.add(role);
        }
    }
    return roles;
}

}  // namespace keydesk::server
