// Ed25519 with OpenSSL's EVP interface: load, generate, sign, verify, and key ids.
#include "audit/signing.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

namespace keydesk::audit {
namespace {

using PkeyPtr = std::shared_ptr<EVP_PKEY>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string openssl_error() {
    const auto code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) return "unknown OpenSSL error";
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return text;
}

// Never prompt on a terminal for a passphrase: an encrypted key is refused instead.
int no_passphrase(char*, int, int, void*) { return 0; }

std::string base64(const unsigned char* data, std::size_t size) {
    std::string out(4 * ((size + 2) / 3) + 1, '\0');
    const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                                       static_cast<int>(size));
    out.resize(static_cast<std::size_t>(length));
    return out;
}

std::string hex(const unsigned char* data, std::size_t size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out.push_back(digits[data[i] >> 4]);
        out.push_back(digits[data[i] & 0x0F]);
    }
    return out;
}

bool is_ed25519(EVP_PKEY* key) { return EVP_PKEY_is_a(key, "ED25519") == 1; }

std::string key_id_of(EVP_PKEY* key) {
    unsigned char raw[64];
    std::size_t length = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key, raw, &length) != 1) {
        throw SigningError("cannot read the public key: " + openssl_error());
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_length = 0;
    if (EVP_Digest(raw, length, digest, &digest_length, EVP_sha256(), nullptr) != 1) {
        throw SigningError("SHA-256 failed: " + openssl_error());
    }
    return hex(digest, digest_length).substr(0, 16);
}

std::string public_pem(EVP_PKEY* key) {
    BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) {
        throw SigningError("cannot write the public key: " + openssl_error());
    }
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(length));
}

void sync_parent(const std::filesystem::path& file) {
    auto parent = file.parent_path();
    if (parent.empty()) parent = ".";
    const int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

}  // namespace

SigningKey SigningKey::load(const std::filesystem::path& file) {
    const std::string label = "signing key file " + file.string();
    struct stat info {};
    if (::stat(file.c_str(), &info) != 0) {
        throw SigningError(label + ": " + std::strerror(errno) +
                           " (create one with `keydesk audit keygen`)");
    }
    if (!S_ISREG(info.st_mode)) throw SigningError(label + ": not a regular file");
    if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        throw SigningError(label + ": readable by group or others; chmod 600 it");
    }
    BioPtr bio(BIO_new_file(file.c_str(), "r"), &BIO_free);
    if (!bio) throw SigningError(label + ": cannot be read: " + openssl_error());
    EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, &no_passphrase, nullptr);
    if (!raw) throw SigningError(label + ": not an unencrypted PEM private key: " + openssl_error());
    PkeyPtr key(raw, &EVP_PKEY_free);
    if (!is_ed25519(raw)) throw SigningError(label + ": not an Ed25519 key");
    SigningKey result;
    result.key_id_ = key_id_of(raw);
    result.key_ = std::move(key);
    return result;
}

std::string SigningKey::sign(std::string_view message) const {
    MdCtxPtr context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    unsigned char signature[64];
    std::size_t length = sizeof signature;
    // Ed25519 hashes internally: no digest is named, and the message is signed in one call.
    if (!context || EVP_DigestSignInit(context.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
        EVP_DigestSign(context.get(), signature, &length,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
        throw SigningError("Ed25519 signing failed: " + openssl_error());
    }
    return base64(signature, length);
}

std::string SigningKey::public_key_pem() const { return public_pem(key_.get()); }

std::string generate_signing_key(const std::filesystem::path& file) {
    EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (!raw) throw SigningError("cannot generate an Ed25519 key: " + openssl_error());
    PkeyPtr key(raw, &EVP_PKEY_free);
    BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), raw, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        throw SigningError("cannot encode the private key: " + openssl_error());
    }
    char* data = nullptr;
    const auto length = static_cast<std::size_t>(BIO_get_mem_data(bio.get(), &data));

    // O_EXCL: an existing key is never replaced, since that would orphan its checkpoints.
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        throw SigningError("signing key file " + file.string() + ": " + std::strerror(errno) +
                           (errno == EEXIST ? " (never overwritten; remove it first if you mean it)"
                                            : ""));
    }
    std::size_t written = 0;
    while (written < length) {
        const auto result = ::write(fd, data + written, length - written);
        if (result < 0 && errno == EINTR) continue;
        if (result <= 0) break;
        written += static_cast<std::size_t>(result);
    }
    const bool synced = written == length && ::fsync(fd) == 0;
    const int saved_errno = errno;
    ::close(fd);
    OPENSSL_cleanse(data, length);
    if (!synced) {
        ::unlink(file.c_str());
        throw SigningError("cannot write " + file.string() + ": " + std::strerror(saved_errno));
    }
    sync_parent(file);
    return public_pem(raw);
}

std::string public_key_pem_of(const std::filesystem::path& file) {
    return SigningKey::load(file).public_key_pem();
}

PublicKeys PublicKeys::parse(std::string_view pem) {
    static constexpr std::string_view begin = "-----BEGIN PUBLIC KEY-----";
    static constexpr std::string_view end = "-----END PUBLIC KEY-----";
    PublicKeys keys;
    std::size_t at = 0;
    while ((at = pem.find(begin, at)) != std::string_view::npos) {
        const auto stop = pem.find(end, at);
        if (stop == std::string_view::npos) throw SigningError("a PUBLIC KEY block has no end line");
        const auto block = pem.substr(at, stop + end.size() - at);
        at = stop + end.size();
        BioPtr bio(BIO_new_mem_buf(block.data(), static_cast<int>(block.size())), &BIO_free);
        EVP_PKEY* raw = bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr;
        if (!raw) throw SigningError("a PUBLIC KEY block does not parse: " + openssl_error());
        PkeyPtr key(raw, &EVP_PKEY_free);
        if (!is_ed25519(raw)) throw SigningError("a public key is not an Ed25519 key");
        keys.keys_.emplace_back(key_id_of(raw), std::move(key));
    }
    if (keys.keys_.empty()) {
        throw SigningError(pem.find("PRIVATE KEY") != std::string_view::npos
                               ? "this is a private key; give the public key (`keydesk audit public-key`)"
                               : "no \"BEGIN PUBLIC KEY\" block found");
    }
    return keys;
}

bool PublicKeys::knows(std::string_view key_id) const {
    for (const auto& [id, key] : keys_) {
        if (id == key_id) return true;
    }
    return false;
}

std::vector<std::string> PublicKeys::key_ids() const {
    std::vector<std::string> ids;
    for (const auto& [id, key] : keys_) ids.push_back(id);
    return ids;
}

bool PublicKeys::verify(std::string_view key_id, std::string_view message,
                        std::string_view signature_base64) const {
    // A 64-byte signature is 88 base64 characters ending in "==".
    if (signature_base64.size() != 88 || !signature_base64.ends_with("==")) return false;
    unsigned char signature[66];
    if (EVP_DecodeBlock(signature, reinterpret_cast<const unsigned char*>(signature_base64.data()),
                        static_cast<int>(signature_base64.size())) != 66) {
        ERR_clear_error();
        return false;
    }
    for (const auto& [id, key] : keys_) {
        if (id != key_id) continue;
        MdCtxPtr context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
        const bool good =
            context &&
            EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
            EVP_DigestVerify(context.get(), signature, 64,
                             reinterpret_cast<const unsigned char*>(message.data()),
                             message.size()) == 1;
        ERR_clear_error();
        if (good) return true;
    }
    return false;
}

}  // namespace keydesk::audit
