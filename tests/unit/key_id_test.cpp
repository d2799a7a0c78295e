// Key ID parsing, normalization and AD's GUID byte order.
#include <gtest/gtest.h>

#include "ldap/key_id.hpp"

using keydesk::ldap::GuidBytes;
using keydesk::ldap::KeyIdError;
using keydesk::ldap::KeyIdPrefix;

TEST(KeyId, AcceptsWhatPeopleType) {
    for (const char* typed : {"063EA4E1", "063ea4e1", " 063EA4E1 ", "{063EA4E1", "063E-A4E1",
                              "063E A4E1", "{063ea4e1-220c}"}) {
        auto parsed = KeyIdPrefix::parse(typed, 8);
        ASSERT_TRUE(parsed) << typed;
        EXPECT_TRUE(parsed->hex().starts_with("063EA4E1")) << typed;
    }
}

TEST(KeyId, RejectsWithAReason) {
    KeyIdError why{};
    EXPECT_FALSE(KeyIdPrefix::parse("063EA4E", 8, &why));
    EXPECT_EQ(why, KeyIdError::too_short);
    EXPECT_FALSE(KeyIdPrefix::parse("063EA4EG", 8, &why));
    EXPECT_EQ(why, KeyIdError::invalid_character);
    EXPECT_FALSE(KeyIdPrefix::parse("", 8, &why));
    EXPECT_EQ(why, KeyIdError::empty);
    EXPECT_FALSE(KeyIdPrefix::parse("{}", 8, &why));
    EXPECT_EQ(why, KeyIdError::empty);
    EXPECT_FALSE(KeyIdPrefix::parse(std::string(33, 'A'), 8, &why));
    EXPECT_EQ(why, KeyIdError::too_long);
    EXPECT_FALSE(KeyIdPrefix::parse(std::string(200, '-') + "063EA4E1", 8, &why));
    EXPECT_EQ(why, KeyIdError::too_long);
    EXPECT_FALSE(KeyIdPrefix::parse("063EA4E1*", 8, &why));
    EXPECT_EQ(why, KeyIdError::invalid_character);
    EXPECT_FALSE(KeyIdPrefix::parse("063EA4E1)(cn=*", 8, &why));
    EXPECT_FALSE(KeyIdPrefix::parse(std::string("063EA4E1\0", 9), 8, &why));
    EXPECT_FALSE(KeyIdPrefix::parse("063EA4E1", 32, &why));
    EXPECT_EQ(why, KeyIdError::too_short);
}

TEST(KeyId, DashedFormFollowsTheGuidLayout) {
    EXPECT_EQ(KeyIdPrefix::parse("063ea4e1", 8)->dashed(), "063EA4E1");
    EXPECT_EQ(KeyIdPrefix::parse("063ea4e1220c", 8)->dashed(), "063EA4E1-220C");
    EXPECT_EQ(KeyIdPrefix::parse("063ea4e1220c4", 8)->dashed(), "063EA4E1-220C-4");
    const auto full = KeyIdPrefix::parse("{063ea4e1-220c-4293-ba01-4754620a96e7}", 32);
    ASSERT_TRUE(full);
    EXPECT_TRUE(full->complete());
    EXPECT_EQ(full->dashed(), "063EA4E1-220C-4293-BA01-4754620A96E7");
}

TEST(KeyId, StoredBytesAreMicrosoftLayout) {
    // The example from MS-DTYP as recorded in the reference: first three fields little-endian.
    const auto key = KeyIdPrefix::parse("063EA4E1-220C-4293-BA01-4754620A96E7", 32);
    const GuidBytes expected{0xE1, 0xA4, 0x3E, 0x06, 0x0C, 0x22, 0x93, 0x42,
                             0xBA, 0x01, 0x47, 0x54, 0x62, 0x0A, 0x96, 0xE7};
    EXPECT_EQ(key->guid_bytes(), expected);
    EXPECT_EQ(keydesk::ldap::guid_to_string(expected), "063EA4E1-220C-4293-BA01-4754620A96E7");
}

TEST(KeyId, BytesRoundTrip) {
    GuidBytes bytes{};
    for (int seed = 0; seed < 256; ++seed) {
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            bytes[i] = static_cast<std::uint8_t>((seed * 31 + static_cast<int>(i) * 17) & 0xFF);
        }
        const auto text = keydesk::ldap::guid_to_string(bytes);
        EXPECT_EQ(text.size(), 36u);
        EXPECT_EQ(keydesk::ldap::guid_from_string(text), bytes);
        EXPECT_EQ(KeyIdPrefix::from_guid_bytes(bytes).guid_bytes(), bytes);
    }
}

TEST(KeyId, PrefixRelation) {
    const auto prefix = KeyIdPrefix::parse("063EA4E1-22", 8);
    EXPECT_TRUE(prefix->is_prefix_of(*KeyIdPrefix::parse("063EA4E1-220C-4293-BA01-4754620A96E7", 32)));
    EXPECT_FALSE(prefix->is_prefix_of(*KeyIdPrefix::parse("063EA4E1-9A7B-4C1D-8E2F-0123456789AB", 32)));
}
