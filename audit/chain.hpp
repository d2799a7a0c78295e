// The HMAC-SHA256 chain that makes the audit log tamper-evident: each record's `mac` covers the
// record's own bytes, including `prev`, the mac of the record before it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace keydesk::audit {

// `prev` of the first record of a log.
inline constexpr std::string_view genesis_mac =
    "0000000000000000000000000000000000000000000000000000000000000000";

// Lower-case hex HMAC-SHA256 of `data` under `key`.
std::string hmac_hex(std::string_view key, std::string_view data);

// A record's line (without the newline) is `{...,"mac":"<64 hex>"}`. The mac covers the line with
// the mac member removed: `{...}`.
struct SplitLine {
    std::string covered;  // the bytes the mac covers
    std::string mac;
};
std::optional<SplitLine> split_line(std::string_view line);

// Appends the mac member to a serialized JSON object.
std::string seal(std::string_view covered, std::string_view key);

// Constant-time comparison of two macs.
bool same_mac(std::string_view a, std::string_view b);

}  // namespace keydesk::audit
