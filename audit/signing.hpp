// Ed25519 keys that sign audit checkpoints, so that anyone holding the public key can check them.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace keydesk::audit {

// A key that cannot be read, written or used; the message names the file.
class SigningError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The private key keydesk signs checkpoints with (PEM, PKCS#8, Ed25519).
class SigningKey {
public:
    // Refuses a file that is not a regular file, is readable by group or others (like ssh with
    // private keys), or does not hold an Ed25519 private key.
    static SigningKey load(const std::filesystem::path& file);

    // Base64 of the 64-byte Ed25519 signature of `message`.
    std::string sign(std::string_view message) const;
    // "-----BEGIN PUBLIC KEY-----..." (SubjectPublicKeyInfo), what an auditor is given.
    std::string public_key_pem() const;
    // First 16 hex digits of SHA-256 over the raw 32-byte public key: names the key in records.
    const std::string& key_id() const { return key_id_; }

private:
    std::shared_ptr<evp_pkey_st> key_;
    std::string key_id_;
};

// Creates `file` with mode 0600 holding a new Ed25519 private key and returns its public key
// PEM. Never overwrites: throws SigningError if the file exists.
std::string generate_signing_key(const std::filesystem::path& file);

// The public key PEM of the private key in `file` (`keydesk audit public-key`).
std::string public_key_pem_of(const std::filesystem::path& file);

// The public keys an auditor trusts: one or more "PUBLIC KEY" PEM blocks (more than one when the
// signing key was replaced over the log's life).
class PublicKeys {
public:
    // Throws SigningError when the text holds no Ed25519 public key or a block does not parse.
    static PublicKeys parse(std::string_view pem);

    bool empty() const { return keys_.empty(); }
    bool knows(std::string_view key_id) const;
    std::vector<std::string> key_ids() const;
    // True only if the key named `key_id` is known and `signature_base64` signs `message`.
    bool verify(std::string_view key_id, std::string_view message,
                std::string_view signature_base64) const;

private:
    std::vector<std::pair<std::string, std::shared_ptr<evp_pkey_st>>> keys_;
};

}  // namespace keydesk::audit
