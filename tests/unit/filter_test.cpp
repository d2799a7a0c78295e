// RFC 4515 escaping and the filters built from typed input.
#include <gtest/gtest.h>

#include "ldap/directory.hpp"
#include "ldap/filter.hpp"

using namespace keydesk::ldap;

TEST(FilterEscaping, EscapesTheSpecialCharacters) {
    EXPECT_EQ(escape_filter_value("plain-name_1.2"), "plain-name_1.2");
    EXPECT_EQ(escape_filter_value("*"), "\\2A");
    EXPECT_EQ(escape_filter_value("("), "\\28");
    EXPECT_EQ(escape_filter_value(")"), "\\29");
    EXPECT_EQ(escape_filter_value("\\"), "\\5C");
    EXPECT_EQ(escape_filter_value(std::string("a\0b", 3)), "a\\00b");
    EXPECT_EQ(escape_filter_value("*)(uid=*))(|(uid=*"), "\\2A\\29\\28uid=\\2A\\29\\29\\28|\\28uid=\\2A");
}

TEST(FilterEscaping, BinaryValuesLeaveNoRawSpecialBytes) {
    std::string all_bytes;
    for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
    const auto escaped = escape_filter_value(all_bytes);
    for (char c : escaped) {
        EXPECT_NE(c, '\0');
        EXPECT_NE(c, '*');
        EXPECT_NE(c, '(');
        EXPECT_NE(c, ')');
    }
    // Every backslash starts a two-digit hex escape.
    for (std::size_t i = 0; i < escaped.size(); ++i) {
        if (escaped[i] == '\\') {
            ASSERT_LT(i + 2, escaped.size() + 1);
            EXPECT_TRUE(std::isxdigit(static_cast<unsigned char>(escaped[i + 1])));
            EXPECT_TRUE(std::isxdigit(static_cast<unsigned char>(escaped[i + 2])));
        }
    }
}

TEST(Filters, CompleteKeyIdUsesTheIndexedGuid) {
    const auto key = KeyIdPrefix::parse("063EA4E1-220C-4293-BA01-4754620A96E7", 32);
    const auto filter = recovery_key_filter(*key);
    EXPECT_NE(filter.find("(msFVE-RecoveryGuid="), std::string::npos) << filter;
    EXPECT_EQ(filter.find("cn="), std::string::npos) << filter;
    EXPECT_NE(filter.find("(objectClass=msFVE-RecoveryInformation)"), std::string::npos);
}

TEST(Filters, PrefixMatchesTheBracedCn) {
    const auto prefix = KeyIdPrefix::parse("063ea4e1220c", 8);
    EXPECT_EQ(recovery_key_filter(*prefix),
              "(&(objectClass=msFVE-RecoveryInformation)(cn=*{063EA4E1-220C*))");
}

TEST(Filters, EqualityFilterEscapesTheValue) {
    EXPECT_EQ(equality_filter("sAMAccountName", "bob*)(|(x=1"), "(sAMAccountName=bob\\2A\\29\\28|\\28x=1)");
}

TEST(ComputerNames, AcceptsHostNamesOnly) {
    std::string name;
    EXPECT_TRUE(parse_computer_name("LAPTOP-0042", name));
    EXPECT_EQ(name, "LAPTOP-0042");
    EXPECT_TRUE(parse_computer_name("LAPTOP-0042$", name));
    EXPECT_EQ(name, "LAPTOP-0042");
    EXPECT_TRUE(parse_computer_name("laptop-0042.corp.example.com", name));
    EXPECT_FALSE(parse_computer_name("", name));
    EXPECT_FALSE(parse_computer_name("$", name));
    EXPECT_FALSE(parse_computer_name("LAPTOP*", name));
    EXPECT_FALSE(parse_computer_name("a b", name));
    EXPECT_FALSE(parse_computer_name("x)(cn=*", name));
    EXPECT_FALSE(parse_computer_name(std::string(65, 'a'), name));
}

TEST(DistinguishedNames, NormalizeForComparison) {
    EXPECT_EQ(normalize_dn("CN=KD-Helpdesk,OU=Groups,DC=corp,DC=example,DC=com"),
              normalize_dn("cn=kd-helpdesk, ou=groups, dc=CORP, dc=example, dc=com"));
    EXPECT_NE(normalize_dn("CN=KD-Helpdesk,OU=Groups,DC=corp"), normalize_dn("CN=KD-Helpdesk-Tier1,OU=Groups,DC=corp"));
    // Found by fuzzing: a NUL must not cut a DN short into another one.
    EXPECT_NE(normalize_dn(std::string("CN=PC-0042,OU=Laptops,DC=corp\0junk", 35)),
              normalize_dn("CN=PC-0042,OU=Laptops,DC=corp"));
}
