// KeyIndex: one sorted array of fixed-size entries plus an interned table of computer DNs.
#include "ldap/key_index.hpp"

#include <algorithm>
#include <mutex>

namespace keydesk::ldap {
namespace {

bool by_key(const IndexedKey& a, const IndexedKey& b) { return a.key_id < b.key_id; }

// The lowest and highest 16-byte values that start with the prefix's hex digits.
std::pair<GuidBytes, GuidBytes> prefix_bounds(const KeyIdPrefix& prefix) {
    GuidBytes low{}, high{};
    high.fill(0xFF);
    const auto& hex = prefix.hex();
    for (std::size_t i = 0; i < hex.size(); ++i) {
        const int digit = hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'A' + 10;
        auto& low_byte = low[i / 2];
        auto& high_byte = high[i / 2];
        if (i % 2 == 0) {
            low_byte = static_cast<std::uint8_t>(digit << 4);
            high_byte = static_cast<std::uint8_t>((digit << 4) | 0x0F);
        } else {
            low_byte = static_cast<std::uint8_t>(low_byte | digit);
            high_byte = static_cast<std::uint8_t>((high_byte & 0xF0) | digit);
        }
    }
    return {low, high};
}

}  // namespace

GuidBytes display_bytes(const KeyIdPrefix& key_id) {
    GuidBytes bytes{};
    const auto& hex = key_id.hex();
    for (std::size_t i = 0; i + 1 < hex.size() && i / 2 < bytes.size(); i += 2) {
        auto value = [](char c) { return c <= '9' ? c - '0' : c - 'A' + 10; };
        bytes[i / 2] = static_cast<std::uint8_t>(value(hex[i]) * 16 + value(hex[i + 1]));
    }
    return bytes;
}

std::string display_text(const GuidBytes& display) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string hex;
    for (auto byte : display) {
        hex.push_back(digits[byte >> 4]);
        hex.push_back(digits[byte & 0x0F]);
    }
    return KeyIdPrefix::parse(hex, 32)->dashed();
}

std::uint32_t ComputerTable::intern(std::string_view dn) {
    if (auto found = ids_.find(dn); found != ids_.end()) return found->second;
    dns_.emplace_back(dn);
    const auto id = static_cast<std::uint32_t>(dns_.size() - 1);
    ids_.emplace(dns_.back(), id);
    return id;
}

std::size_t ComputerTable::memory_bytes() const {
    std::size_t bytes = 0;
    for (const auto& dn : dns_) bytes += sizeof(std::string) + (dn.size() > 15 ? dn.capacity() + 1 : 0);
    // One hash node (view, id, link, cached hash) per computer, plus the bucket array.
    bytes += ids_.size() * (sizeof(std::string_view) + sizeof(std::uint32_t) + 2 * sizeof(void*)) +
             ids_.bucket_count() * sizeof(void*);
    return bytes;
}

void KeyIndex::Builder::add(const GuidBytes& key_id, const GuidBytes& volume_id,
                            std::uint32_t created, std::string_view computer_dn) {
    keys_.push_back({key_id, volume_id, created, computers_.intern(computer_dn)});
}

void KeyIndex::install(Builder&& builder) {
    auto& keys = builder.keys_;
    std::sort(keys.begin(), keys.end(), by_key);
    keys.erase(std::unique(keys.begin(), keys.end(),
                           [](const auto& a, const auto& b) { return a.key_id == b.key_id; }),
               keys.end());
    keys.shrink_to_fit();
    std::unique_lock lock(mutex_);
    keys_ = std::move(keys);
    computers_ = std::move(builder.computers_);
    loaded_ = true;
}

void KeyIndex::replace_all(const std::vector<KeyRecord>& records) {
    Builder builder;
    for (const auto& record : records) {
        builder.add(record.key_id, record.volume_id, record.created, record.computer_dn);
    }
    install(std::move(builder));
}

void KeyIndex::upsert(const std::vector<KeyRecord>& records) {
    std::unique_lock lock(mutex_);
    for (const auto& record : records) {
        IndexedKey key{record.key_id, record.volume_id, record.created,
                       computers_.intern(record.computer_dn)};
        auto at = std::lower_bound(keys_.begin(), keys_.end(), key, by_key);
        if (at != keys_.end() && at->key_id == key.key_id) {
            *at = key;
        } else {
            keys_.insert(at, key);
        }
    }
}

std::vector<KeyRecord> KeyIndex::find_prefix(const KeyIdPrefix& prefix, std::size_t limit) const {
    const auto [low, high] = prefix_bounds(prefix);
    std::shared_lock lock(mutex_);
    auto first = std::lower_bound(keys_.begin(), keys_.end(), IndexedKey{low, {}, 0, 0}, by_key);
    std::vector<KeyRecord> found;
    for (auto it = first; it != keys_.end() && it->key_id <= high && found.size() < limit; ++it) {
        found.push_back(KeyRecord{it->key_id, it->volume_id, it->created, computers_.at(it->computer)});
    }
    return found;
}

bool KeyIndex::loaded() const {
    std::shared_lock lock(mutex_);
    return loaded_;
}

std::size_t KeyIndex::size() const {
    std::shared_lock lock(mutex_);
    return keys_.size();
}

std::size_t KeyIndex::memory_bytes() const {
    std::shared_lock lock(mutex_);
    return keys_.capacity() * sizeof(IndexedKey) + computers_.memory_bytes();
}

}  // namespace keydesk::ldap
