// BitLocker Key IDs as people type them, and as AD stores them (16-byte GUIDs, MS-DTYP layout).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace keydesk::ldap {

using GuidBytes = std::array<std::uint8_t, 16>;

// Why a typed Key ID was not accepted.
enum class KeyIdError {
    none,
    empty,
    invalid_character,  // something other than hex digits, dashes, spaces and outer braces
    too_short,          // fewer hex digits than required
    too_long,           // more than 32 hex digits
};

// The leading hex digits of a Key ID (1 to 32 of them), upper case, without punctuation.
class KeyIdPrefix {
public:
    // Accepts what a person reads off the recovery screen: any case, optional braces, dashes and
    // spaces. Needs at least `min_hex_digits` hex digits (8 for a prefix, 32 for an exact ID).
    static std::optional<KeyIdPrefix> parse(std::string_view input, unsigned min_hex_digits,
                                            KeyIdError* error = nullptr);

    static KeyIdPrefix from_guid_bytes(const GuidBytes& bytes);

    const std::string& hex() const { return hex_; }
    bool complete() const { return hex_.size() == 32; }

    // The prefix laid out as in a GUID: "063EA4E1-220C-4293-BA01-4754620A96E7", or as far as it goes.
    std::string dashed() const;

    // AD's stored bytes: Data1, Data2, Data3 little-endian, Data4 as is. Requires complete().
    GuidBytes guid_bytes() const;

    // True if `other` starts with this prefix.
    bool is_prefix_of(const KeyIdPrefix& other) const { return other.hex_.starts_with(hex_); }

    bool operator==(const KeyIdPrefix&) const = default;

private:
    explicit KeyIdPrefix(std::string hex) : hex_(std::move(hex)) {}
    std::string hex_;
};

// A text for a KeyIdError, fit to show a person.
std::string_view describe(KeyIdError error);

// A 16-byte GUID in AD's layout as the dashed text the recovery screen shows.
std::string guid_to_string(const GuidBytes& bytes);

// Reads "{063EA4E1-220C-...}" or "063EA4E1-220C-..." (a full GUID) into AD's byte layout.
std::optional<GuidBytes> guid_from_string(std::string_view text);

}  // namespace keydesk::ldap
