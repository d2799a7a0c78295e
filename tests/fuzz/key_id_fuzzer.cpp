// Key IDs and computer names as staff type them: KeyIdPrefix::parse (the first byte picks the
// minimum number of hex digits, 1 to 32), parse_computer_name and normalize_dn.
//
// Properties: nothing crashes; an accepted Key ID is 1 to 32 upper-case hex digits, exactly the
// hex digits that were typed, at least the minimum; dashed() parses back to the same prefix; a
// complete ID survives guid_bytes() -> guid_to_string() -> guid_from_string(); an accepted
// computer name holds only [A-Za-z0-9._-] and is the input without one trailing `$`; a
// normalized DN normalizes to itself, and a NUL in a DN does not cut it short.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ldap/directory.hpp"
#include "ldap/key_id.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using keydesk::ldap::KeyIdError;
using keydesk::ldap::KeyIdPrefix;

bool is_upper_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

std::string typed_hex_digits(std::string_view input) {
    std::string out;
    for (char c : input) {
        if (std::isxdigit(static_cast<unsigned char>(c))) {
            out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
        }
    }
    return out;
}

void check_key_id(std::string_view input, unsigned min_digits) {
    KeyIdError error = KeyIdError::too_long;  // parse must overwrite it
    const auto parsed = KeyIdPrefix::parse(input, min_digits, &error);
    FUZZ_CHECK(!keydesk::ldap::describe(error).empty(), "");
    if (!parsed) {
        FUZZ_CHECK(error != KeyIdError::none, "rejected without a reason");
        return;
    }
    FUZZ_CHECK(error == KeyIdError::none, "accepted with an error set");

    const auto& hex = parsed->hex();
    FUZZ_CHECK(!hex.empty() && hex.size() <= 32, hex);
    FUZZ_CHECK(hex.size() >= min_digits, hex);
    for (char c : hex) FUZZ_CHECK(is_upper_hex(c), hex);
    FUZZ_CHECK(hex == typed_hex_digits(input), hex);
    FUZZ_CHECK(parsed->complete() == (hex.size() == 32), hex);

    // The dashed form is what keydesk shows and audits: it must read back as the same prefix.
    const auto dashed = parsed->dashed();
    const auto again = KeyIdPrefix::parse(dashed, min_digits);
    FUZZ_CHECK(again && *again == *parsed, dashed);
    const auto braced = KeyIdPrefix::parse("{" + dashed + "}", min_digits);
    FUZZ_CHECK(braced && *braced == *parsed, dashed);
    // 8-4-4-4-12 as far as it goes.
    for (std::size_t i = 0, digits = 0; i < dashed.size(); ++i) {
        if (dashed[i] == '-') {
            FUZZ_CHECK(digits == 8 || digits == 12 || digits == 16 || digits == 20, dashed);
            FUZZ_CHECK(i + 1 < dashed.size() && dashed[i + 1] != '-', dashed);
        } else {
            ++digits;
        }
    }

    FUZZ_CHECK(parsed->is_prefix_of(*parsed), hex);
    const auto shorter = KeyIdPrefix::parse(hex.substr(0, 1 + hex.size() / 2), 1);
    FUZZ_CHECK(shorter && shorter->is_prefix_of(*parsed), hex);

    if (parsed->complete()) {
        const auto bytes = parsed->guid_bytes();
        FUZZ_CHECK(keydesk::ldap::guid_to_string(bytes) == dashed, dashed);
        FUZZ_CHECK(KeyIdPrefix::from_guid_bytes(bytes) == *parsed, dashed);
        const auto from_text = keydesk::ldap::guid_from_string(dashed);
        FUZZ_CHECK(from_text && *from_text == bytes, dashed);
        // MS-DTYP: Data1 is stored little-endian, so the first stored byte is the 4th shown.
        FUZZ_CHECK(std::stoul(hex.substr(6, 2), nullptr, 16) == bytes[0], dashed);
    }
}

void check_computer_name(std::string_view input) {
    std::string normalized = "unchanged";
    if (!keydesk::ldap::parse_computer_name(input, normalized)) return;
    FUZZ_CHECK(!normalized.empty() && normalized.size() <= 64, normalized);
    for (char c : normalized) {
        const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                             (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        FUZZ_CHECK(allowed, normalized);
    }
    auto expected = input;
    if (expected.ends_with('$')) expected.remove_suffix(1);
    FUZZ_CHECK(normalized == expected, normalized);
}

void check_dn(std::string_view input) {
    // Group DNs from the directory and from [roles] are compared in this form: it must be stable.
    const auto once = keydesk::ldap::normalize_dn(input);
    const auto twice = keydesk::ldap::normalize_dn(once);
    FUZZ_CHECK(once == twice, once + " | " + twice);
    // A DN comes from JSON (reveal's computer_dn) and may hold a NUL: what follows it must still
    // count, not be cut off by a C string (then "CN=PC1,...\0junk" would equal "CN=PC1,...").
    if (const auto nul = input.find('\0'); nul != std::string_view::npos) {
        FUZZ_CHECK(once != keydesk::ldap::normalize_dn(input.substr(0, nul)), once);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const unsigned min_digits = 1u + data[0] % 32u;
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    check_key_id(input, min_digits);
    check_computer_name(input);
    check_dn(input);
    return 0;
}
