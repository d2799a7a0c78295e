// The Key ID index against a real directory: it serves prefix lookups, and the directory stays
// the truth — a new key is found at once and indexed at the next poll, a deleted key disappears,
// a moved computer shows its new OU.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "ldap/directory.hpp"
#include "tests/support/test_directory.hpp"

using namespace keydesk::ldap;
using keydesk::test::TestDirectory;
namespace fx = keydesk::test::fixtures;

namespace {

DirectorySettings settings() { return keydesk::test::service_settings(); }

std::string base64(const GuidBytes& bytes) {
    unsigned char out[32] = {};
    EVP_EncodeBlock(out, bytes.data(), static_cast<int>(bytes.size()));
    return reinterpret_cast<char*>(out);
}

const std::string ws0099 = "CN=WS-0099,OU=Workstations,DC=corp,DC=example,DC=com";

std::string key_dn(const std::string& key_id) {
    return "CN=2026-11-26T10:00:00\\+00:00{" + key_id + "}," + ws0099;
}

// Escrows a recovery key under WS-0099, as a BitLocker client would.
void escrow(const std::string& key_id) {
    const auto guid = KeyIdPrefix::parse(key_id, 32)->guid_bytes();
    const auto volume = KeyIdPrefix::parse("0BADF00D-AAAA-4AAA-8AAA-AAAAAAAAAAAA", 32)->guid_bytes();
    ASSERT_EQ(TestDirectory::get().modify("dn: " + key_dn(key_id) + "\nchangetype: add\n"
                                          "objectClass: msFVE-RecoveryInformation\n"
                                          "msFVE-RecoveryGuid:: " + base64(guid) + "\n"
                                          "msFVE-VolumeGuid:: " + base64(volume) + "\n"
                                          "msFVE-RecoveryPassword: 000011-000022-000033-000044-"
                                          "000055-000066-000077-000088\n"),
              0);
}

void remove(const std::string& key_id) {
    TestDirectory::get().modify("dn: " + key_dn(key_id) + "\nchangetype: delete\n");
}

std::vector<std::string> key_ids(const KeySearchResult& result) {
    std::vector<std::string> ids;
    for (const auto& key : result.keys) ids.push_back(key.key_id);
    return ids;
}

KeyIdPrefix prefix(const std::string& text) { return *KeyIdPrefix::parse(text, 8); }

const std::string new_key = "0BADF00D-0000-4000-8000-000000000001";
const std::string new_key_same_prefix = "0BADF00D-1111-4000-8000-000000000002";

}  // namespace

TEST(KeyIndexLive, ServesPrefixLookups) {
    Directory directory(settings());
    directory.sync_index_now();
    const auto status = directory.index_status();
    ASSERT_TRUE(status.loaded) << status.last_error;
    EXPECT_GT(status.keys, 5u);
    EXPECT_EQ(status.full_loads, 1u);
    EXPECT_EQ(key_ids(directory.find_keys(prefix("063ea4e1"))), (std::vector<std::string>{fx::k2, fx::k1}));
    EXPECT_EQ(key_ids(directory.find_keys(prefix("063ea4e1-9"))), std::vector<std::string>{fx::k2});
    EXPECT_TRUE(directory.find_keys(prefix("063ea4e1-0")).keys.empty());
    const auto both = directory.find_keys(prefix("1f5a63b3"));
    EXPECT_EQ(both.keys.size(), 2u);
    EXPECT_FALSE(both.truncated);
}

TEST(KeyIndexLive, ManyMatchesAreCappedAndFlagged) {
    auto limited = settings();
    limited.max_results = 1;
    Directory directory(limited);
    directory.sync_index_now();
    const auto result = directory.find_keys(prefix("063ea4e1"));
    EXPECT_EQ(key_ids(result), std::vector<std::string>{fx::k1});  // the first in Key ID order
    EXPECT_TRUE(result.truncated);
}

TEST(KeyIndexLive, NewKeyIsFoundAtOnceAndIndexedAtTheNextPoll) {
    Directory directory(settings());
    directory.sync_index_now();
    const auto before = directory.index_status().keys;

    escrow(new_key);
    // Not in the index yet: the live search behind a local miss finds it.
    EXPECT_EQ(key_ids(directory.find_keys(prefix("0badf00d"))), std::vector<std::string>{new_key});
    directory.sync_index_now();  // a poll
    EXPECT_EQ(directory.index_status().keys, before + 1);
    EXPECT_EQ(directory.index_status().polls, 1u);

    escrow(new_key_same_prefix);
    directory.sync_index_now();
    auto found = key_ids(directory.find_keys(prefix("0badf00d")));
    std::sort(found.begin(), found.end());
    EXPECT_EQ(found, (std::vector<std::string>{new_key, new_key_same_prefix}));

    // Deleted: gone from answers at once (every candidate is confirmed live) ...
    remove(new_key);
    remove(new_key_same_prefix);
    EXPECT_TRUE(directory.find_keys(prefix("0badf00d")).keys.empty());
    EXPECT_EQ(directory.index_status().keys, before + 2);
    // ... and from the index at the next full re-sync.
    auto resync = settings();
    resync.index_full_resync = std::chrono::minutes(0);
    Directory resyncing(resync);
    resyncing.sync_index_now();
    EXPECT_EQ(resyncing.index_status().keys, before);
}

TEST(KeyIndexLive, MovedComputerShowsItsNewOu) {
    Directory directory(settings());
    directory.sync_index_now();
    const auto& test_directory = TestDirectory::get();
    const std::string moved = "CN=WS-0007,OU=Servers,DC=corp,DC=example,DC=com";
    ASSERT_EQ(test_directory.modify("dn: CN=WS-0007,OU=Workstations,DC=corp,DC=example,DC=com\n"
                                    "changetype: modrdn\nnewrdn: CN=WS-0007\ndeleteoldrdn: 1\n"
                                    "newsuperior: OU=Servers,DC=corp,DC=example,DC=com\n"),
              0);
    const auto found = directory.find_keys(prefix("1f5a63b3"));
    test_directory.modify("dn: " + moved + "\nchangetype: modrdn\nnewrdn: CN=WS-0007\ndeleteoldrdn: 1\n"
                          "newsuperior: OU=Workstations,DC=corp,DC=example,DC=com\n");
    bool seen = false;
    for (const auto& key : found.keys) {
        if (key.key_id == fx::k3) {
            seen = true;
            EXPECT_EQ(normalize_dn(key.computer_dn), normalize_dn(moved));
        }
    }
    EXPECT_TRUE(seen);
}

TEST(KeyIndexLive, BackgroundThreadLoadsTheIndex) {
    auto fast = settings();
    fast.index_poll = std::chrono::seconds(1);
    Directory directory(fast);
    directory.start_index();
    for (int i = 0; i < 100 && !directory.index_status().loaded; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(directory.index_status().loaded) << directory.index_status().last_error;
    EXPECT_EQ(directory.find_keys(prefix("a1b2c3d4")).keys.size(), 1u);
}
