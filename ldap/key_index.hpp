// keydesk's in-memory index of recovery-key metadata — Key ID, volume, date, computer; never a
// password — so an 8-character prefix is answered in O(log n) instead of by a directory scan.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ldap/key_id.hpp"

namespace keydesk::ldap {

struct IndexedKey {
    GuidBytes key_id{};         // in display order (the text's byte order): sorts like the text
    GuidBytes volume_id{};      // display order; all zero when absent
    std::uint32_t created = 0;  // seconds since 1970, UTC; 0 when unknown
    std::uint32_t computer = 0; // position in the computer table
};

// What a load or a poll found for one key, before it is interned.
struct KeyRecord {
    GuidBytes key_id{};  // display order
    GuidBytes volume_id{};
    std::uint32_t created = 0;
    std::string computer_dn;
};

// Display-order bytes of a complete Key ID, and back.
GuidBytes display_bytes(const KeyIdPrefix& key_id);
std::string display_text(const GuidBytes& display);

// Interned computer DNs: each stored once, however many keys a computer has.
class ComputerTable {
public:
    std::uint32_t intern(std::string_view dn);
    const std::string& at(std::uint32_t id) const { return dns_[id]; }
    std::size_t memory_bytes() const;

private:
    std::deque<std::string> dns_;
    std::unordered_map<std::string_view, std::uint32_t> ids_;
};

class KeyIndex {
public:
    // Collects a full load without holding the whole directory's entries in memory at once.
    class Builder {
    public:
        void add(const GuidBytes& key_id, const GuidBytes& volume_id, std::uint32_t created,
                 std::string_view computer_dn);

    private:
        friend class KeyIndex;
        std::vector<IndexedKey> keys_;
        ComputerTable computers_;
    };

    // Replaces everything with what `builder` collected; marks the index loaded.
    void install(Builder&& builder);
    // The same from records (tests).
    void replace_all(const std::vector<KeyRecord>& records);
    // Adds or updates keys found by a poll.
    void upsert(const std::vector<KeyRecord>& records);

    // Keys whose ID starts with `prefix`, in Key ID order, at most `limit` (+1 tells "more").
    std::vector<KeyRecord> find_prefix(const KeyIdPrefix& prefix, std::size_t limit) const;

    bool loaded() const;
    std::size_t size() const;
    // Heap bytes held (key array, computer table), for the bytes-per-key figure.
    std::size_t memory_bytes() const;

private:
    mutable std::shared_mutex mutex_;
    bool loaded_ = false;
    std::vector<IndexedKey> keys_;  // sorted by key_id
    ComputerTable computers_;
};

}  // namespace keydesk::ldap
