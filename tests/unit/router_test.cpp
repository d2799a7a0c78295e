// Routing and the role matrix: which role may call which endpoint.
#include <gtest/gtest.h>

#include "server/api/router.hpp"
#include "ldap/directory.hpp"
#include "server/auth/roles.hpp"

using namespace keydesk::server;
using keydesk::server::http::verb;

TEST(Router, FindsRoutesAndTellsNotFoundFromWrongMethod) {
    auto match = match_route(verb::post, "/api/v1/lookups");
    ASSERT_EQ(match.kind, RouteMatch::Kind::found);
    EXPECT_EQ(match.route->endpoint, Endpoint::lookups);
    EXPECT_TRUE(match.route->needs_csrf);

    match = match_route(verb::get, "/api/v1/lookups");
    EXPECT_EQ(match.kind, RouteMatch::Kind::method_not_allowed);
    EXPECT_EQ(match.allow, "POST");

    match = match_route(verb::put, "/api/v1/session");
    EXPECT_EQ(match.kind, RouteMatch::Kind::method_not_allowed);
    EXPECT_EQ(match.allow, "GET, POST, DELETE");

    EXPECT_EQ(match_route(verb::get, "/api/v1/nothing").kind, RouteMatch::Kind::not_found);
    EXPECT_EQ(match_route(verb::post, "/api/v1/lookups/").kind, RouteMatch::Kind::not_found);
    EXPECT_EQ(match_route(verb::post, "/API/v1/lookups").kind, RouteMatch::Kind::not_found);
}

TEST(Router, SignInIsTheOnlyPublicStateChange) {
    for (auto [method, path] : {std::pair{verb::post, "/api/v1/session"}, {verb::get, "/healthz"},
                                {verb::get, "/readyz"}}) {
        const auto match = match_route(method, path);
        ASSERT_EQ(match.kind, RouteMatch::Kind::found) << path;
        EXPECT_EQ(match.route->access, Access::anyone) << path;
    }
    for (auto [method, path] : {std::pair{verb::delete_, "/api/v1/session"},
                                {verb::post, "/api/v1/lookups"}, {verb::post, "/api/v1/reveals"}}) {
        const auto match = match_route(method, path);
        ASSERT_EQ(match.kind, RouteMatch::Kind::found) << path;
        EXPECT_NE(match.route->access, Access::anyone) << path;
        EXPECT_TRUE(match.route->needs_csrf) << path;
    }
}

TEST(Router, RoleMatrix) {
    const RoleSet helpdesk{Role::helpdesk}, auditor{Role::auditor}, security{Role::security},
        admin{Role::admin}, none{};
    const auto lookups = match_route(verb::post, "/api/v1/lookups").route->access;
    const auto reveals = match_route(verb::post, "/api/v1/reveals").route->access;
    const auto whoami = match_route(verb::get, "/api/v1/session").route->access;
    for (auto access : {lookups, reveals}) {
        EXPECT_TRUE(permits(access, helpdesk));
        EXPECT_TRUE(permits(access, admin));
        EXPECT_FALSE(permits(access, auditor));
        EXPECT_FALSE(permits(access, security));
        EXPECT_FALSE(permits(access, none));
        EXPECT_TRUE(permits(access, RoleSet{Role::auditor, Role::helpdesk}));
    }
    for (const auto& roles : {helpdesk, auditor, security, admin}) EXPECT_TRUE(permits(whoami, roles));
}

TEST(Roles, NestedGroupDnsMapToRoles) {
    keydesk::config::RolesConfig config;
    config.helpdesk = {"CN=KD-Helpdesk,OU=Groups,DC=corp,DC=example,DC=com"};
    config.auditor = {"CN=KD-Auditors,OU=Groups,DC=corp,DC=example,DC=com"};
    config.admin = {"CN=KD-Admins,OU=Groups,DC=corp,DC=example,DC=com"};
    const RoleMap map(config);
    const auto roles = map.roles_for({keydesk::ldap::normalize_dn("cn=kd-helpdesk,ou=groups,dc=corp,dc=example,dc=com"),
                                      keydesk::ldap::normalize_dn("CN=All-Staff,OU=Groups,DC=corp,DC=example,DC=com")});
    EXPECT_TRUE(roles.has(Role::helpdesk));
    EXPECT_FALSE(roles.has(Role::auditor));
    EXPECT_EQ(roles.names(), std::vector<std::string>{"helpdesk"});
    EXPECT_TRUE(map.roles_for({}).empty());
}

TEST(Router, AuditRecordTakesOneNumberSegment) {
    const auto match = match_route(verb::get, "/api/v1/audit/records/42");
    ASSERT_EQ(match.kind, RouteMatch::Kind::found);
    EXPECT_EQ(match.route->endpoint, Endpoint::audit_record);
    EXPECT_EQ(match_route(verb::get, "/api/v1/audit/records").route->endpoint, Endpoint::audit_records);
    EXPECT_EQ(match_route(verb::get, "/api/v1/audit/records/").kind, RouteMatch::Kind::not_found);
    EXPECT_EQ(match_route(verb::get, "/api/v1/audit/records/1/2").kind, RouteMatch::Kind::not_found);
    EXPECT_EQ(match_route(verb::delete_, "/api/v1/audit/records/1").kind,
              RouteMatch::Kind::method_not_allowed);
    const auto verify = match_route(verb::post, "/api/v1/audit/verify");
    ASSERT_EQ(verify.kind, RouteMatch::Kind::found);
    EXPECT_TRUE(verify.route->needs_csrf);
}

TEST(Router, AuditorsReadTheLogOnlySecurityExportsAndReports) {
    const RoleSet helpdesk{Role::helpdesk}, auditor{Role::auditor}, security{Role::security},
        admin{Role::admin};
    for (const auto* path : {"/api/v1/audit/records", "/api/v1/audit/records/7", "/api/v1/audit/integrity"}) {
        const auto access = match_route(verb::get, path).route->access;
        EXPECT_FALSE(permits(access, helpdesk)) << path;
        EXPECT_TRUE(permits(access, auditor)) << path;
        EXPECT_TRUE(permits(access, security)) << path;
        EXPECT_TRUE(permits(access, admin)) << path;
    }
    for (const auto* path : {"/api/v1/audit/export", "/api/v1/audit/bundle", "/api/v1/reports/summary",
                             "/api/v1/reports/unrotated"}) {
        const auto access = match_route(verb::get, path).route->access;
        EXPECT_FALSE(permits(access, helpdesk)) << path;
        EXPECT_FALSE(permits(access, auditor)) << path;
        EXPECT_TRUE(permits(access, security)) << path;
        EXPECT_TRUE(permits(access, admin)) << path;
    }
}
