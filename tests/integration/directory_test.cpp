// The LDAP layer against a real slapd with AD's schema: sign-in, nested groups, lookups, reveals,
// read rights, TLS verification, failover, and a directory that goes away and comes back.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "ldap/directory.hpp"
#include "tests/support/test_directory.hpp"

using namespace keydesk::ldap;
using keydesk::test::service_settings;
using keydesk::test::TestDirectory;
namespace fx = keydesk::test::fixtures;

namespace {

bool has_group(const StaffMember& staff, const std::string& dn) {
    return std::find(staff.group_dns.begin(), staff.group_dns.end(), normalize_dn(dn)) !=
           staff.group_dns.end();
}

std::vector<std::string> key_ids(const KeySearchResult& result) {
    std::vector<std::string> ids;
    for (const auto& key : result.keys) ids.push_back(key.key_id);
    return ids;
}

KeyIdPrefix prefix(const std::string& typed) { return *KeyIdPrefix::parse(typed, 8); }

}  // namespace

TEST(DirectorySignIn, AcceptsEveryUsernameForm) {
    Directory directory(service_settings());
    for (const char* username : {"helpdesk1", "HELPDESK1", "CORP\\helpdesk1", "corp\\helpdesk1",
                                 "helpdesk1@corp.example.com"}) {
        const auto result = directory.sign_in(username, "Helpdesk1-Pass!");
        ASSERT_TRUE(result.staff) << username << ": " << to_string(result.failure) << " " << result.detail;
        EXPECT_EQ(result.staff->username, "helpdesk1");
        EXPECT_EQ(result.staff->display_name, "Hana Helpdesk");
    }
}

TEST(DirectorySignIn, ResolvesNestedGroups) {
    Directory directory(service_settings());
    const auto result = directory.sign_in("helpdesk1", "Helpdesk1-Pass!");
    ASSERT_TRUE(result.staff);
    EXPECT_TRUE(has_group(*result.staff, fx::tier1_group));     // direct
    EXPECT_TRUE(has_group(*result.staff, fx::helpdesk_group));  // through Tier1
    EXPECT_FALSE(has_group(*result.staff, fx::auditors_group));

    const auto auditor = directory.sign_in("auditor1", "Auditor1-Pass!");
    ASSERT_TRUE(auditor.staff);
    EXPECT_TRUE(has_group(*auditor.staff, fx::auditors_group));
    EXPECT_FALSE(has_group(*auditor.staff, fx::helpdesk_group));
}

TEST(DirectorySignIn, RefusesWrongUnknownAndEmpty) {
    Directory directory(service_settings());
    auto result = directory.sign_in("helpdesk1", "wrong-password");
    EXPECT_FALSE(result.staff);
    EXPECT_EQ(result.failure, SignInFailure::invalid_credentials);

    result = directory.sign_in("nobody-here", "whatever");
    EXPECT_FALSE(result.staff);
    EXPECT_EQ(result.failure, SignInFailure::unknown_user);

    result = directory.sign_in("helpdesk1", "");
    EXPECT_FALSE(result.staff);
    EXPECT_EQ(result.failure, SignInFailure::empty_password);

    result = directory.sign_in("OTHERDOM\\helpdesk1", "Helpdesk1-Pass!");
    EXPECT_FALSE(result.staff);
    EXPECT_EQ(result.failure, SignInFailure::unknown_user);

    // Filter metacharacters in a username are escaped, never interpreted.
    result = directory.sign_in("*", "Helpdesk1-Pass!");
    EXPECT_EQ(result.failure, SignInFailure::unknown_user);
    result = directory.sign_in("helpdesk1)(sAMAccountName=*", "Helpdesk1-Pass!");
    EXPECT_EQ(result.failure, SignInFailure::unknown_user);

    // A computer account is not staff.
    result = directory.sign_in("LAPTOP-0042$", "anything");
    EXPECT_EQ(result.failure, SignInFailure::unknown_user);
}

TEST(DirectorySignIn, GroupChangesTakeEffectAtTheNextSignIn) {
    const auto& test_directory = TestDirectory::get();
    Directory directory(service_settings());
    auto before = directory.sign_in("plainuser", "Plain1-Pass!");
    ASSERT_TRUE(before.staff);
    EXPECT_FALSE(has_group(*before.staff, fx::helpdesk_group));

    const std::string change = std::string("dn: ") + fx::tier1_group + "\nchangetype: modify\n";
    const std::string member = "member: " + before.staff->dn + "\n";
    ASSERT_EQ(test_directory.modify(change + "add: member\n" + member), 0);
    auto after = directory.sign_in("plainuser", "Plain1-Pass!");
    ASSERT_EQ(test_directory.modify(change + "delete: member\n" + member), 0);
    ASSERT_TRUE(after.staff);
    EXPECT_TRUE(has_group(*after.staff, fx::helpdesk_group));

    auto reverted = directory.sign_in("plainuser", "Plain1-Pass!");
    ASSERT_TRUE(reverted.staff);
    EXPECT_FALSE(has_group(*reverted.staff, fx::helpdesk_group));
}

TEST(DirectoryLookup, PrefixWithSeveralMatchesOnOneComputer) {
    Directory directory(service_settings());
    const auto result = directory.find_keys(prefix("063ea4e1"));
    ASSERT_EQ(result.keys.size(), 2u);
    EXPECT_EQ(key_ids(result), (std::vector<std::string>{fx::k2, fx::k1}));  // newest first
    for (const auto& key : result.keys) {
        EXPECT_EQ(key.computer, "LAPTOP-0042");
        EXPECT_EQ(normalize_dn(key.computer_dn), normalize_dn(fx::laptop_dn));
        EXPECT_EQ(key.volume_id, fx::laptop_volume);
    }
    EXPECT_EQ(result.keys[1].created, "2023-01-10T08:00:00Z");  // +01:00 in the cn
    EXPECT_EQ(result.keys[0].created, "2024-06-01T12:30:00Z");  // +02:00 in the cn
}

TEST(DirectoryLookup, PrefixWithMatchesOnTwoComputers) {
    Directory directory(service_settings());
    const auto result = directory.find_keys(prefix("{1f5a63b3"));
    auto ids = key_ids(result);
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, (std::vector<std::string>{fx::k3, fx::k4}));
    EXPECT_EQ(result.keys[0].computer, "WS-0007");   // 2025 before 2022
    EXPECT_EQ(result.keys[1].computer, "SRV-0003");
    EXPECT_EQ(result.keys[1].created, "2022-12-01T04:59:59Z");  // -05:00 in the cn
}

TEST(DirectoryLookup, LongerPrefixNarrowsAndFullIdIsExact) {
    Directory directory(service_settings());
    EXPECT_EQ(key_ids(directory.find_keys(prefix("063EA4E1-220C"))), std::vector<std::string>{fx::k1});
    EXPECT_EQ(key_ids(directory.find_keys(prefix(fx::k1))), std::vector<std::string>{fx::k1});
    EXPECT_EQ(key_ids(directory.find_keys(prefix("a1b2c3d4"))), std::vector<std::string>{fx::k5});
    EXPECT_TRUE(directory.find_keys(prefix("063EA4E1-220C-4293-BA01-000000000000")).keys.empty());
    EXPECT_TRUE(directory.find_keys(prefix("063EA4E1-0")).keys.empty());
}

TEST(DirectoryLookup, ByComputerName) {
    Directory directory(service_settings());
    for (const char* name : {"LAPTOP-0042", "laptop-0042", "LAPTOP-0042$"}) {
        EXPECT_EQ(key_ids(directory.find_keys_for_computer(name)),
                  (std::vector<std::string>{fx::k2, fx::k1}))
            << name;
    }
    EXPECT_EQ(directory.find_keys_for_computer("WS-0007").keys.size(), 2u);
    EXPECT_TRUE(directory.find_keys_for_computer("WS-0099").keys.empty());  // no keys escrowed
    EXPECT_TRUE(directory.find_keys_for_computer("NO-SUCH-PC").keys.empty());
    EXPECT_TRUE(directory.find_keys_for_computer("*").keys.empty());
}

TEST(DirectoryLookup, ManyMatchesAreCappedAndFlagged) {
    auto settings = service_settings();
    settings.max_results = 1;
    Directory directory(settings);
    const auto result = directory.find_keys(prefix("063ea4e1"));
    EXPECT_EQ(result.keys.size(), 1u);
    EXPECT_TRUE(result.truncated);
}

TEST(DirectoryReveal, ServiceAccountReadsThePassword) {
    Directory directory(service_settings());
    auto result = directory.read_recovery_password(prefix(fx::k1));
    ASSERT_EQ(result.outcome, PasswordReadResult::Outcome::found);
    EXPECT_EQ(result.password.reveal(), fx::k1_password);
    EXPECT_EQ(result.key.key_id, fx::k1);
    EXPECT_EQ(result.key.computer, "LAPTOP-0042");

    result = directory.read_recovery_password(prefix(fx::k1), std::string(fx::laptop_dn));
    EXPECT_EQ(result.outcome, PasswordReadResult::Outcome::found);
    result = directory.read_recovery_password(
        prefix(fx::k1), std::string("CN=WS-0007,OU=Workstations,DC=corp,DC=example,DC=com"));
    EXPECT_EQ(result.outcome, PasswordReadResult::Outcome::not_found);
    result = directory.read_recovery_password(prefix("063EA4E1-220C-4293-BA01-000000000000"));
    EXPECT_EQ(result.outcome, PasswordReadResult::Outcome::not_found);
}

TEST(DirectoryReveal, StaffAccountsCannotReadPasswords) {
    // The same search bound as a helpdesk user: the object is visible, the password is not.
    auto settings = service_settings();
    const auto staff = Directory(service_settings()).sign_in("helpdesk1", "Helpdesk1-Pass!");
    ASSERT_TRUE(staff.staff);
    settings.bind_dn = staff.staff->dn;
    settings.bind_password = "Helpdesk1-Pass!";
    Directory directory(settings);
    const auto result = directory.read_recovery_password(prefix(fx::k1));
    EXPECT_TRUE(result.password.reveal().empty());
    EXPECT_NE(result.outcome, PasswordReadResult::Outcome::found);
    if (TestDirectory::get()["KD_DIRECTORY_KIND"] == "samba") {
        // AD: without delegated rights a staff account does not even see recovery objects.
        EXPECT_TRUE(directory.find_keys(prefix("063ea4e1")).keys.empty());
    } else {
        EXPECT_EQ(directory.find_keys(prefix("063ea4e1")).keys.size(), 2u);
        EXPECT_EQ(result.outcome, PasswordReadResult::Outcome::not_permitted);
        EXPECT_EQ(result.key.computer, "LAPTOP-0042");
    }
}

TEST(DirectoryTls, StartTlsWorks) {
    auto settings = service_settings();
    settings.uris = {TestDirectory::get()["KD_LDAP_URI"]};
    settings.start_tls = true;
    Directory directory(settings);
    EXPECT_NO_THROW(directory.check_connection());
    EXPECT_EQ(directory.find_keys(prefix("a1b2c3d4")).keys.size(), 1u);
}

TEST(DirectoryTls, WrongCaIsRefused) {
    for (bool start_tls : {false, true}) {
        auto settings = service_settings();
        settings.tls_ca_file = TestDirectory::get()["KD_WRONG_CA_FILE"];
        settings.start_tls = start_tls;
        if (start_tls) settings.uris = {TestDirectory::get()["KD_LDAP_URI"]};
        Directory directory(settings);
        EXPECT_THROW(directory.check_connection(), DirectoryUnavailable) << start_tls;
    }
}

TEST(DirectoryTls, WrongHostNameIsRefused) {
    // The certificate names localhost and 127.0.0.1; "127.0.0.2" reaches the same server.
    auto settings = service_settings();
    auto uri = TestDirectory::get()["KD_LDAPS_URI"];
    uri.replace(uri.find("localhost"), 9, "127.0.0.2");
    settings.uris = {uri};
    Directory directory(settings);
    EXPECT_THROW(directory.check_connection(), DirectoryUnavailable);
}

TEST(DirectoryFailover, SecondUriTakesOverWhenTheFirstIsDead) {
    auto settings = service_settings();
    settings.uris = {"ldaps://localhost:1", TestDirectory::get()["KD_LDAPS_URI"]};
    Directory directory(settings);
    EXPECT_EQ(directory.find_keys(prefix("a1b2c3d4")).keys.size(), 1u);
}

TEST(DirectoryOutage, StoppedDirectoryIsUnavailableThenRecovers) {
    const auto& test_directory = TestDirectory::get();
    Directory directory(service_settings());
    ASSERT_EQ(directory.find_keys(prefix("a1b2c3d4")).keys.size(), 1u);  // pooled connection

    ASSERT_EQ(test_directory.control("stop"), 0);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_THROW(directory.find_keys(prefix("a1b2c3d4")), DirectoryUnavailable);
    EXPECT_THROW(directory.sign_in("helpdesk1", "Helpdesk1-Pass!"), DirectoryUnavailable);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(7));

    ASSERT_EQ(test_directory.control("start"), 0);
    // The same Directory reconnects by itself.
    EXPECT_EQ(directory.find_keys(prefix("a1b2c3d4")).keys.size(), 1u);
    EXPECT_TRUE(directory.sign_in("helpdesk1", "Helpdesk1-Pass!").staff);
}
