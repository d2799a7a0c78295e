// The Key ID index: prefix ranges (odd and even lengths), updates, limits, bytes per key.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "ldap/key_index.hpp"

using namespace keydesk::ldap;

namespace {

KeyRecord record(const std::string& key_id, const std::string& computer = "CN=PC1,OU=X,DC=corp") {
    return KeyRecord{display_bytes(*KeyIdPrefix::parse(key_id, 32)), {}, 1700000000, computer};
}

std::vector<std::string> ids(const std::vector<KeyRecord>& records) {
    std::vector<std::string> out;
    for (const auto& r : records) out.push_back(display_text(r.key_id));
    return out;
}

KeyIdPrefix prefix(const std::string& text) { return *KeyIdPrefix::parse(text, 1); }

}  // namespace

TEST(KeyIndex, FindsEveryKeyWithThePrefixAndNoOther) {
    KeyIndex index;
    EXPECT_FALSE(index.loaded());
    index.replace_all({record("063EA4E1-220C-4293-BA01-4754620A96E7"),
                       record("063EA4E1-9A7B-4C1D-8E2F-0123456789AB"),
                       record("063EA4E2-0000-0000-0000-000000000000"),
                       record("063EA4E0-FFFF-FFFF-FFFF-FFFFFFFFFFFF"),
                       record("1F5A63B3-0000-4000-8000-000000000001")});
    EXPECT_TRUE(index.loaded());
    EXPECT_EQ(index.size(), 5u);
    EXPECT_EQ(ids(index.find_prefix(prefix("063EA4E1"), 10)),
              (std::vector<std::string>{"063EA4E1-220C-4293-BA01-4754620A96E7",
                                        "063EA4E1-9A7B-4C1D-8E2F-0123456789AB"}));
    // Odd lengths: a half byte.
    EXPECT_EQ(index.find_prefix(prefix("063EA4E"), 10).size(), 4u);
    EXPECT_EQ(ids(index.find_prefix(prefix("063EA4E12"), 10)),
              (std::vector<std::string>{"063EA4E1-220C-4293-BA01-4754620A96E7"}));
    EXPECT_EQ(index.find_prefix(prefix("063EA4E19"), 10).size(), 1u);
    EXPECT_TRUE(index.find_prefix(prefix("063EA4E13"), 10).empty());
    EXPECT_EQ(index.find_prefix(prefix("063EA4E1-220C-4293-BA01-4754620A96E7"), 10).size(), 1u);
    EXPECT_TRUE(index.find_prefix(prefix("FFFFFFFF"), 10).empty());
    EXPECT_EQ(index.find_prefix(prefix("0"), 10).size(), 4u);
    EXPECT_EQ(index.find_prefix(prefix("063EA4E"), 2).size(), 2u);  // limit
}

TEST(KeyIndex, UpsertAddsAndUpdatesInOrder) {
    KeyIndex index;
    index.replace_all({record("20000000-0000-0000-0000-000000000000")});
    index.upsert({record("10000000-0000-0000-0000-000000000000"),
                  record("20000000-0000-0000-0000-000000000000", "CN=PC2,OU=Moved,DC=corp")});
    EXPECT_EQ(index.size(), 2u);
    const auto found = index.find_prefix(prefix("2"), 10);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].computer_dn, "CN=PC2,OU=Moved,DC=corp");
    EXPECT_EQ(ids(index.find_prefix(prefix("1"), 10)),
              std::vector<std::string>{"10000000-0000-0000-0000-000000000000"});
}

TEST(KeyIndex, DisplayBytesSortLikeTheText) {
    const auto a = display_bytes(*KeyIdPrefix::parse("063EA4E1-220C-4293-BA01-4754620A96E7", 32));
    EXPECT_EQ(a[0], 0x06);
    EXPECT_EQ(a[3], 0xE1);
    EXPECT_EQ(display_text(a), "063EA4E1-220C-4293-BA01-4754620A96E7");
}

TEST(KeyIndex, BytesPerKeyAtScale) {
    // 100,000 keys on 50,000 computers: the figure the performance issue asks for (printed), and
    // a bound that fails if the layout regresses badly.
    std::mt19937_64 random(42);
    KeyIndex::Builder builder;
    for (int i = 0; i < 100'000; ++i) {
        GuidBytes key{}, volume{};
        for (auto& b : key) b = static_cast<std::uint8_t>(random());
        for (auto& b : volume) b = static_cast<std::uint8_t>(random());
        const auto computer = "CN=WS-" + std::to_string(100000 + i / 2) + ",OU=Workstations,DC=corp,DC=example,DC=com";
        builder.add(key, volume, 1700000000u + static_cast<std::uint32_t>(i), computer);
    }
    KeyIndex index;
    const auto started = std::chrono::steady_clock::now();
    index.install(std::move(builder));
    const auto install_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    const double per_key = static_cast<double>(index.memory_bytes()) / static_cast<double>(index.size());
    std::printf("key index: %zu keys, %zu bytes, %.1f bytes/key, sorted in %.1f ms\n", index.size(),
                index.memory_bytes(), per_key, install_ms);
    EXPECT_EQ(index.size(), 100'000u);
    EXPECT_LT(per_key, 150.0);
}
