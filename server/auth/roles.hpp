// keydesk's roles and how AD groups (nested ones included) grant them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace keydesk::server {

enum class Role : unsigned { helpdesk = 1, auditor = 2, security = 4, admin = 8 };

class RoleSet {
public:
    RoleSet() = default;
    RoleSet(std::initializer_list<Role> roles) {
        for (auto role : roles) add(role);
    }
    void add(Role role) { bits_ |= static_cast<unsigned>(role); }
    bool has(Role role) const { return (bits_ & static_cast<unsigned>(role)) != 0; }
    bool empty() const { return bits_ == 0; }
    std::vector<std::string> names() const;
    bool operator==(const RoleSet&) const = default;

private:
    unsigned bits_ = 0;
};

// Maps normalized group DNs to roles, from the [roles] section.
class RoleMap {
public:
    explicit RoleMap(const config::RolesConfig& roles);
    RoleSet roles_for(const std::vector<std::string>& normalized_group_dns) const;

private:
    std::vector<std::pair<std::string, Role>> grants_;  // normalized group DN -> role
};

}  // namespace keydesk::server
