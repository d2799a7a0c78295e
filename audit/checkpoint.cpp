// Checkpoint records: the signed note, record members both ways, and the segment SHA-256.
#include "audit/checkpoint.hpp"

#include <charconv>
#include <stdexcept>

#include <openssl/evp.h>

namespace keydesk::audit {

std::string checkpoint_note(const Checkpoint& checkpoint) {
    std::string note = "keydesk audit checkpoint v1\n";
    auto line = [&note](std::string_view name, std::string_view value) {
        note += name;
        note += ' ';
        note += value;
        note += '\n';
    };
    line("seq", std::to_string(checkpoint.seq));
    line("time", checkpoint.time);
    line("reason", checkpoint.reason);
    line("covers_seq", std::to_string(checkpoint.covers_seq));
    line("covers_mac", checkpoint.covers_mac);
    line("from_seq", std::to_string(checkpoint.from_seq));
    line("sha256", checkpoint.sha256);
    line("key_id", checkpoint.key_id);
    return note;
}

boost::json::object checkpoint_fields(const Checkpoint& checkpoint) {
    return {{"event", checkpoint_event},
            {"actor", "keydesk"},
            {"outcome", "success"},
            {"reason", checkpoint.reason},
            {"covers_seq", checkpoint.covers_seq},
            {"covers_mac", checkpoint.covers_mac},
            {"from_seq", checkpoint.from_seq},
            {"sha256", checkpoint.sha256},
            {"key_id", checkpoint.key_id},
            {"signature", checkpoint.signature}};
}

std::optional<Checkpoint> checkpoint_from_record(const boost::json::object& record) {
    auto text = [&record](std::string_view name) -> const boost::json::string* {
        const auto* value = record.if_contains(name);
        return value ? value->if_string() : nullptr;
    };
    auto number = [&record](std::string_view name) -> std::optional<std::uint64_t> {
        const auto* value = record.if_contains(name);
        if (!value || !value->is_int64() || value->as_int64() < 0) return std::nullopt;
        return static_cast<std::uint64_t>(value->as_int64());
    };
    const auto* event = text("event");
    const auto seq = number("seq");
    const auto covers_seq = number("covers_seq");
    const auto from_seq = number("from_seq");
    const auto* time = text("time");
    const auto* reason = text("reason");
    const auto* covers_mac = text("covers_mac");
    const auto* sha256 = text("sha256");
    const auto* key_id = text("key_id");
    const auto* signature = text("signature");
    if (!event || *event != checkpoint_event || !seq || !covers_seq || !from_seq || !time ||
        !reason || !covers_mac || !sha256 || !key_id || !signature) {
        return std::nullopt;
    }
    Checkpoint checkpoint;
    checkpoint.seq = *seq;
    checkpoint.time = std::string(*time);
    checkpoint.reason = std::string(*reason);
    checkpoint.covers_seq = *covers_seq;
    checkpoint.covers_mac = std::string(*covers_mac);
    checkpoint.from_seq = *from_seq;
    checkpoint.sha256 = std::string(*sha256);
    checkpoint.key_id = std::string(*key_id);
    checkpoint.signature = std::string(*signature);
    return checkpoint;
}

void LineHasher::Free::operator()(evp_md_ctx_st* context) const { EVP_MD_CTX_free(context); }

LineHasher::LineHasher() : context_(EVP_MD_CTX_new()) {
    if (!context_ || EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("SHA-256 is not available");
    }
}

LineHasher::LineHasher(const LineHasher& other) : context_(EVP_MD_CTX_new()) {
    if (!context_ || EVP_MD_CTX_copy_ex(context_.get(), other.context_.get()) != 1) {
        throw std::runtime_error("cannot copy a SHA-256 context");
    }
}

LineHasher& LineHasher::operator=(const LineHasher& other) {
    if (this != &other) *this = LineHasher(other);
    return *this;
}

LineHasher::~LineHasher() = default;

void LineHasher::add_line(std::string_view line) {
    if (EVP_DigestUpdate(context_.get(), line.data(), line.size()) != 1 ||
        EVP_DigestUpdate(context_.get(), "\n", 1) != 1) {
        throw std::runtime_error("SHA-256 update failed");
    }
}

std::string LineHasher::hex() const {
    LineHasher copy(*this);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(copy.context_.get(), digest, &length) != 1) {
        throw std::runtime_error("SHA-256 final failed");
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(length * 2);
    for (unsigned int i = 0; i < length; ++i) {
        out.push_back(digits[digest[i] >> 4]);
        out.push_back(digits[digest[i] & 0x0F]);
    }
    return out;
}

std::optional<std::uint64_t> leading_seq(std::string_view line) {
    constexpr std::string_view prefix = R"({"seq":)";
    if (!line.starts_with(prefix)) return std::nullopt;
    std::uint64_t seq = 0;
    const auto* begin = line.data() + prefix.size();
    const auto* end = line.data() + line.size();
    const auto [stop, error] = std::from_chars(begin, end, seq);
    if (error != std::errc() || stop == begin || stop == end || (*stop != ',' && *stop != '}')) {
        return std::nullopt;
    }
    return seq;
}

}  // namespace keydesk::audit
