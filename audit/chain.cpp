// HMAC chain helpers on top of OpenSSL.
#include "audit/chain.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

namespace keydesk::audit {
namespace {
constexpr std::string_view mac_prefix = R"(,"mac":")";
constexpr std::size_t mac_hex_length = 64;
constexpr std::size_t suffix_length = mac_prefix.size() + mac_hex_length + 2;  // ..."}
}  // namespace

std::string hmac_hex(std::string_view key, std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length)) {
        throw std::runtime_error("HMAC-SHA256 failed");
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(length * 2);
    for (unsigned int i = 0; i < length; ++i) {
        out.push_back(hex[digest[i] >> 4]);
        out.push_back(hex[digest[i] & 0x0F]);
    }
    return out;
}

std::optional<SplitLine> split_line(std::string_view line) {
    if (line.size() <= suffix_length || !line.ends_with("\"}")) return std::nullopt;
    const auto at = line.size() - suffix_length;
    if (line.substr(at, mac_prefix.size()) != mac_prefix) return std::nullopt;
    SplitLine split;
    split.covered = std::string(line.substr(0, at)) + "}";
    split.mac = std::string(line.substr(at + mac_prefix.size(), mac_hex_length));
    return split;
}

std::string seal(std::string_view covered, std::string_view key) {
    if (covered.size() < 2 || covered.back() != '}') throw std::invalid_argument("not a JSON object");
    std::string line(covered.substr(0, covered.size() - 1));
    line += mac_prefix;
    line += hmac_hex(key, covered);
    line += "\"}";
    return line;
}

bool same_mac(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace keydesk::audit
