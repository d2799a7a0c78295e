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

    static DirectorySettings settings() { return keydesk::test::service_settings(); }
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

TEST_F(ActiveDirectory, TheSambaDelegationRecipeGrantsExactlyWhatKeydeskNeeds) {
    // A throw-away OU with one computer and one key; svc-nodelegation has no rights there.
    const auto& directory = TestDirectory::get();
    const std::string ou = "OU=RecipeTest," + directory["KD_BASE_DN"];
    const std::string computer = "CN=RECIPE-01," + ou;
    const std::string key_id = "0EC1BE00-0000-4000-8000-0000000000C1";
    const std::string key_dn = "CN=2025-05-05T05:05:05\\+00:00{" + key_id + "}," + computer;
    const auto guid = KeyIdPrefix::parse(key_id, 32)->guid_bytes();
    std::string guid_escaped;  // LDIF base64 without OpenSSL: build it by hand
    {
        static constexpr char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (std::size_t i = 0; i < guid.size(); i += 3) {
            const unsigned n = (guid[i] << 16) | ((i + 1 < guid.size() ? guid[i + 1] : 0) << 8) |
                               (i + 2 < guid.size() ? guid[i + 2] : 0);
            guid_escaped += alphabet[(n >> 18) & 63];
            guid_escaped += alphabet[(n >> 12) & 63];
            guid_escaped += i + 1 < guid.size() ? alphabet[(n >> 6) & 63] : '=';
            guid_escaped += i + 2 < guid.size() ? alphabet[n & 63] : '=';
        }
    }
    auto cleanup = [&] {
        directory.modify("dn: " + key_dn + "\nchangetype: delete\n");
        directory.modify("dn: " + computer + "\nchangetype: delete\n");
        directory.modify("dn: " + ou + "\nchangetype: delete\n");
    };
    cleanup();
    ASSERT_EQ(directory.modify("dn: " + ou + "\nchangetype: add\nobjectClass: organizationalUnit\n\n"
                               "dn: " + computer + "\nchangetype: add\nobjectClass: computer\n"
                               "sAMAccountName: RECIPE-01$\nuserAccountControl: 4096\n\n"
                               "dn: " + key_dn + "\nchangetype: add\n"
                               "objectClass: msFVE-RecoveryInformation\n"
                               "msFVE-RecoveryGuid:: " + guid_escaped + "\n"
                               "msFVE-RecoveryPassword: 111111-222222-333333-444444-555555-666666-"
                               "777777-888888\n"),
              0);

    auto settings = ActiveDirectory::settings();
    settings.bind_dn = directory["KD_NODELEGATION_DN"];
    std::ifstream in(directory["KD_NODELEGATION_PASSWORD_FILE"]);
    std::getline(in, settings.bind_password);
    const auto key = *KeyIdPrefix::parse(key_id, 32);
    EXPECT_EQ(Directory(settings).read_recovery_password(key).outcome,
              PasswordReadResult::Outcome::not_found);

    const std::string recipe = std::string(KEYDESK_SOURCE_DIR) + "/deploy/ad/grant-bitlocker-read-samba.sh";
    const std::string smb_conf = directory["KD_STATE_DIR"] + "/smb.conf";
    ASSERT_EQ(std::system(("'" + recipe + "' --object-only '" + ou + "' svc-nodelegation -s '" +
                           smb_conf + "' >/dev/null").c_str()),
              0);
    EXPECT_EQ(Directory(settings).read_recovery_password(key).outcome,
              PasswordReadResult::Outcome::not_permitted);

    ASSERT_EQ(std::system(("'" + recipe + "' '" + ou + "' svc-nodelegation -s '" + smb_conf +
                           "' >/dev/null").c_str()),
              0);
    const auto read = Directory(settings).read_recovery_password(key);
    EXPECT_EQ(read.outcome, PasswordReadResult::Outcome::found);
    EXPECT_EQ(read.password.reveal(), "111111-222222-333333-444444-555555-666666-777777-888888");
    // Nothing beyond the OU: the laptops' keys stay out of reach.
    EXPECT_EQ(Directory(settings).read_recovery_password(*KeyIdPrefix::parse(fx::k1, 32)).outcome,
              PasswordReadResult::Outcome::not_found);
    cleanup();
}
