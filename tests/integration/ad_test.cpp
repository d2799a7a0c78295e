// What only Active Directory has, against Samba's AD DC: AD's bind error codes, the in-chain
// matching rule, confidential attributes with per-OU delegation. Skipped on other directories.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "ldap/directory.hpp"
#include "tests/support/test_directory.hpp"

using namespace keydesk::ldap;
using keydesk::test::TestDirectory;
namespace fx = keydesk::test::fixtures;

namespace {

class ActiveDirectory : public ::testing::Test {
protected:
    void SetUp() override {
        if (!TestDirectory::get().has("KD_DIRECTORY_KIND") ||
            TestDirectory::get()["KD_DIRECTORY_KIND"] != "samba") {
            GTEST_SKIP() << "needs Active Directory (Samba's AD DC)";
        }
    }

    static DirectorySettings settings() {
        const auto& directory = TestDirectory::get();
        DirectorySettings settings;
        settings.uris = {directory["KD_LDAPS_URI"]};
        settings.base_dn = directory["KD_BASE_DN"];
        settings.bind_dn = directory["KD_BIND_DN"];
        std::ifstream in(directory["KD_BIND_PASSWORD_FILE"]);
        std::getline(in, settings.bind_password);
        settings.tls_ca_file = directory["KD_CA_FILE"];
        settings.domain = "CORP";
        settings.pool_size = 2;
        return settings;
    }
};

bool has_group(const StaffMember& staff, const std::string& dn) {
    return std::find(staff.group_dns.begin(), staff.group_dns.end(), normalize_dn(dn)) !=
           staff.group_dns.end();
}

}  // namespace

TEST_F(ActiveDirectory, BindErrorsNameTheReason) {
    Directory directory(settings());
    const std::vector<std::tuple<std::string, std::string, SignInFailure>> cases{
        {"helpdesk1", "wrong-password", SignInFailure::invalid_credentials},  // 52e
        {"disabled1", "Disabled1-Pass!", SignInFailure::account_disabled},    // 533
        {"mustchange1", "Change1-Pass!", SignInFailure::must_change_password},  // 773
        {"expired1", "Expired1-Pass!", SignInFailure::password_expired},      // 532
        {"accexpired1", "AccExp1-Pass!", SignInFailure::account_expired},     // 701
        {"locked1", "Locked1-Pass!", SignInFailure::account_locked_out},      // 775
    };
    for (const auto& [user, password, expected] : cases) {
        const auto result = directory.sign_in(user, password);
        EXPECT_FALSE(result.staff) << user;
        EXPECT_EQ(to_string(result.failure), to_string(expected)) << user << ": " << result.detail;
    }
}

TEST_F(ActiveDirectory, UpnAndDownLevelNamesBindByDn) {
    Directory directory(settings());
    for (const char* user : {"helpdesk1", "CORP\\helpdesk1", "helpdesk1@corp.example.com"}) {
        const auto result = directory.sign_in(user, "Helpdesk1-Pass!");
        ASSERT_TRUE(result.staff) << user << ": " << result.detail;
        EXPECT_EQ(result.staff->display_name, "Hana Helpdesk");
    }
}

TEST_F(ActiveDirectory, NestedGroupsByTheInChainRuleAndRecursivelyAgree) {
    auto in_chain = settings();
    in_chain.group_resolution = GroupResolution::in_chain;
    auto recursive = settings();
    recursive.group_resolution = GroupResolution::recursive;
    const auto by_rule = Directory(in_chain).sign_in("helpdesk1", "Helpdesk1-Pass!");
    const auto by_walk = Directory(recursive).sign_in("helpdesk1", "Helpdesk1-Pass!");
    const auto automatic = Directory(settings()).sign_in("helpdesk1", "Helpdesk1-Pass!");
    ASSERT_TRUE(by_rule.staff && by_walk.staff && automatic.staff);
    EXPECT_TRUE(has_group(*by_rule.staff, fx::helpdesk_group));
    EXPECT_TRUE(has_group(*by_rule.staff, fx::tier1_group));
    auto sorted = [](std::vector<std::string> groups) {
        std::sort(groups.begin(), groups.end());
        return groups;
    };
    EXPECT_EQ(sorted(by_rule.staff->group_dns), sorted(by_walk.staff->group_dns));
    EXPECT_EQ(sorted(automatic.staff->group_dns), sorted(by_rule.staff->group_dns));
}

TEST_F(ActiveDirectory, DelegationDecidesWhatTheServiceAccountMayRead) {
    Directory directory(settings());
    // Delegated on OU=Laptops: readable.
    auto readable = directory.read_recovery_password(*KeyIdPrefix::parse(fx::k1, 32));
    EXPECT_EQ(readable.outcome, PasswordReadResult::Outcome::found);
    EXPECT_EQ(readable.password.reveal(), fx::k1_password);
    // OU=Restricted: the object is visible (Read Property) but the confidential password is not
    // (no Control Access): "not permitted", which is not "not found".
    const auto restricted_key = TestDirectory::get()["KD_RESTRICTED_KEY"];
    const auto found = directory.find_keys(*KeyIdPrefix::parse(restricted_key, 8));
    ASSERT_EQ(found.keys.size(), 1u);
    const auto refused = directory.read_recovery_password(*KeyIdPrefix::parse(restricted_key, 32));
    EXPECT_EQ(refused.outcome, PasswordReadResult::Outcome::not_permitted);
    EXPECT_TRUE(refused.password.reveal().empty());
    EXPECT_NE(normalize_dn(refused.key.dn).find("ou=restricted"), std::string::npos) << refused.key.dn;
}

TEST_F(ActiveDirectory, AnAccountWithoutDelegationSeesNoRecoveryObjects) {
    auto settings = ActiveDirectory::settings();
    settings.bind_dn = TestDirectory::get()["KD_NODELEGATION_DN"];
    std::ifstream in(TestDirectory::get()["KD_NODELEGATION_PASSWORD_FILE"]);
    std::getline(in, settings.bind_password);
    Directory directory(settings);
    EXPECT_TRUE(directory.find_keys(*KeyIdPrefix::parse("063ea4e1", 8)).keys.empty());
    EXPECT_EQ(directory.read_recovery_password(*KeyIdPrefix::parse(fx::k1, 32)).outcome,
              PasswordReadResult::Outcome::not_found);
}

TEST_F(ActiveDirectory, PlainLdapWithoutTlsIsRefusedForBinds) {
    // keydesk never sends a password unencrypted; the DC would refuse it anyway.
    auto settings = ActiveDirectory::settings();
    settings.uris = {TestDirectory::get()["KD_LDAP_URI"]};
    settings.start_tls = true;
    EXPECT_NO_THROW(Directory(settings).check_connection());
}
