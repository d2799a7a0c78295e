// Key ID parsing and the GUID byte order of MS-DTYP 2.3.4.2.
#include "ldap/key_id.hpp"

#include <cctype>

namespace keydesk::ldap {
namespace {

constexpr std::size_t max_input_length = 80;  // 32 digits plus generous punctuation
constexpr char hex_digits[] = "0123456789ABCDEF";

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// Byte order of the stored GUID, given as the index of each display byte.
// Display bytes 0-3 (Data1) are stored reversed, then 4-5 (Data2) and 6-7 (Data3), then 8-15.
constexpr std::array<int, 16> stored_from_display{3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

}  // namespace

std::optional<KeyIdPrefix> KeyIdPrefix::parse(std::string_view input, unsigned min_hex_digits,
                                              KeyIdError* error) {
    auto fail = [&](KeyIdError why) -> std::optional<KeyIdPrefix> {
        if (error) *error = why;
        return std::nullopt;
    };
    if (error) *error = KeyIdError::none;
    if (input.size() > max_input_length) return fail(KeyIdError::too_long);

    auto is_space = [](char c) { return c == ' ' || c == '\t'; };
    while (!input.empty() && is_space(input.front())) input.remove_prefix(1);
    while (!input.empty() && is_space(input.back())) input.remove_suffix(1);
    if (!input.empty() && input.front() == '{') input.remove_prefix(1);
    if (!input.empty() && input.back() == '}') input.remove_suffix(1);

    std::string hex;
    for (char c : input) {
        if (c == '-' || is_space(c)) continue;
        if (hex_value(c) < 0) return fail(KeyIdError::invalid_character);
        hex.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
    if (hex.empty()) return fail(KeyIdError::empty);
    if (hex.size() > 32) return fail(KeyIdError::too_long);
    if (hex.size() < min_hex_digits) return fail(KeyIdError::too_short);
    return KeyIdPrefix(std::move(hex));
}

KeyIdPrefix KeyIdPrefix::from_guid_bytes(const GuidBytes& bytes) {
    std::string hex;
    for (int index : stored_from_display) {
        const auto byte = bytes[static_cast<std::size_t>(index)];
        hex.push_back(hex_digits[byte >> 4]);
        hex.push_back(hex_digits[byte & 0x0F]);
    }
    return KeyIdPrefix(std::move(hex));
}

std::string KeyIdPrefix::dashed() const {
    std::string out;
    for (std::size_t i = 0; i < hex_.size(); ++i) {
        if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
        out.push_back(hex_[i]);
    }
    return out;
}

GuidBytes KeyIdPrefix::guid_bytes() const {
    GuidBytes bytes{};
    for (std::size_t display = 0; display < 16 && 2 * display + 1 < hex_.size(); ++display) {
        const auto value = hex_value(hex_[2 * display]) * 16 + hex_value(hex_[2 * display + 1]);
        bytes[static_cast<std::size_t>(stored_from_display[display])] =
            static_cast<std::uint8_t>(value);
    }
    return bytes;
}

std::string_view describe(KeyIdError error) {
    switch (error) {
        case KeyIdError::none: return "valid";
        case KeyIdError::empty: return "no Key ID given";
        case KeyIdError::invalid_character:
            return "a Key ID has only hex digits (0-9, A-F), dashes and braces";
        case KeyIdError::too_short: return "too few hex digits";
        case KeyIdError::too_long: return "a Key ID has at most 32 hex digits";
    }
    return "invalid Key ID";
}

std::string guid_to_string(const GuidBytes& bytes) {
    return KeyIdPrefix::from_guid_bytes(bytes).dashed();
}

std::optional<GuidBytes> guid_from_string(std::string_view text) {
    auto parsed = KeyIdPrefix::parse(text, 32);
    if (!parsed) return std::nullopt;
    return parsed->guid_bytes();
}

}  // namespace keydesk::ldap
