// SessionStore: tokens are random, stored only as hashes, and expire when idle or old.
#include "server/auth/session_store.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace keydesk::server {
namespace {

std::string token_key(std::string_view token) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(token.data(), token.size(), digest, &length, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<const char*>(digest), length);
}

}  // namespace

std::string random_token() {
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no randomness for a token");
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string token;
    unsigned buffer = 0;
    int bits = 0;
    for (auto byte : bytes) {
        buffer = (buffer << 8) | byte;
        bits += 8;
        while (bits >= 6) {
            token.push_back(alphabet[(buffer >> (bits - 6)) & 0x3F]);
            bits -= 6;
        }
    }
    if (bits > 0) token.push_back(alphabet[(buffer << (6 - bits)) & 0x3F]);
    return token;
}

bool same_token(std::string_view a, std::string_view b) {
    return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

SessionStore::SessionStore(std::chrono::minutes idle_timeout, std::chrono::hours max_age,
                           std::size_t max_sessions)
    : idle_timeout_(idle_timeout), max_age_(max_age), max_sessions_(max_sessions) {}

bool SessionStore::expired(const StaffSession& session, Clock::time_point now) const {
    return now - session.last_seen > idle_timeout_ || now - session.created > max_age_;
}

void SessionStore::evict_expired_locked(Clock::time_point now) {
    std::erase_if(sessions_, [&](const auto& item) { return expired(item.second, now); });
}

std::string SessionStore::create(StaffSession session) {
    const auto now = Clock::now();
    session.created = now;
    session.last_seen = now;
    session.verified = now;
    session.csrf_token = random_token();
    auto token = random_token();
    std::lock_guard lock(mutex_);
    if (sessions_.size() >= max_sessions_) evict_expired_locked(now);
    if (sessions_.size() >= max_sessions_) {
        // Still full: drop the least recently used session rather than refuse staff.
        auto oldest = sessions_.begin();
        for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
            if (it->second.last_seen < oldest->second.last_seen) oldest = it;
        }
        sessions_.erase(oldest);
    }
    sessions_.emplace(token_key(token), std::move(session));
    return token;
}

std::optional<StaffSession> SessionStore::find(std::string_view token, Clock::time_point now) {
    if (token.empty() || token.size() > 128) return std::nullopt;
    std::lock_guard lock(mutex_);
    const auto found = sessions_.find(token_key(token));
    if (found == sessions_.end()) return std::nullopt;
    if (expired(found->second, now)) {
        sessions_.erase(found);
        return std::nullopt;
    }
    found->second.last_seen = now;
    return found->second;
}

bool SessionStore::update(std::string_view token,
                          const std::function<void(StaffSession&)>& change) {
    std::lock_guard lock(mutex_);
    const auto found = sessions_.find(token_key(token));
    if (found == sessions_.end()) return false;
    change(found->second);
    return true;
}

void SessionStore::remove(std::string_view token) {
    std::lock_guard lock(mutex_);
    sessions_.erase(token_key(token));
}

std::size_t SessionStore::size() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

}  // namespace keydesk::server
