// Signed checkpoints: what an `audit.checkpoint` record holds, the exact bytes its signature
// covers, and the keyless SHA-256 over the records it vouches for.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace keydesk::audit {

inline constexpr std::string_view checkpoint_event = "audit.checkpoint";
inline constexpr std::string_view rotate_event = "audit.rotate";

// A checkpoint record `seq` vouches for the records before it: `covers_seq` (= seq - 1) and its
// mac `covers_mac` (the chain head, also the record's `prev`), and the SHA-256 of the lines of
// records `from_seq`..`covers_seq` (each with its "\n"). The SHA-256 needs no key, so an auditor
// without the HMAC key still detects an edited record; segments follow each other
// (`from_seq` = the previous checkpoint's seq), so every line, checkpoints included, is hashed.
struct Checkpoint {
    std::uint64_t seq = 0;
    std::string time;
    std::string reason;  // count, interval, rotation, reopen, shutdown, requested
    std::uint64_t covers_seq = 0;
    std::string covers_mac;
    std::uint64_t from_seq = 0;
    std::string sha256;
    std::string key_id;
    std::string signature;  // base64 Ed25519 over checkpoint_note()
};

// The bytes the signature covers: "keydesk audit checkpoint v1\n" then one "name value\n" line
// per field above, in that order, signature excluded. An auditor can rebuild it by hand and
// check it with `openssl pkeyutl -verify -rawin`.
std::string checkpoint_note(const Checkpoint& checkpoint);

// The checkpoint's members in record order, without seq, time, prev and mac (the log adds those).
boost::json::object checkpoint_fields(const Checkpoint& checkpoint);

// Reads a parsed `audit.checkpoint` record (with seq and time); nullopt if a member is missing or
// of the wrong type.
std::optional<Checkpoint> checkpoint_from_record(const boost::json::object& record);

// Running SHA-256 over log lines; copyable so that a digest can be read without ending it.
class LineHasher {
public:
    LineHasher();
    LineHasher(const LineHasher& other);
    LineHasher& operator=(const LineHasher& other);
    LineHasher(LineHasher&&) noexcept = default;
    LineHasher& operator=(LineHasher&&) noexcept = default;
    ~LineHasher();

    // Adds `line` followed by "\n".
    void add_line(std::string_view line);
    // Lower-case hex of everything added so far.
    std::string hex() const;

private:
    struct Free {
        void operator()(evp_md_ctx_st* context) const;
    };
    std::unique_ptr<evp_md_ctx_st, Free> context_;
};

// The seq a line starts with (`{"seq":123,`), without parsing the rest; nullopt otherwise.
std::optional<std::uint64_t> leading_seq(std::string_view line);

}  // namespace keydesk::audit
