// LDAP filter building: escape_filter_value, equality_filter and recovery_key_filter.
//
// Properties: the escaped value holds no unescaped `*`, `(`, `)`, `\` or NUL, only printable
// ASCII, and RFC 4515-unescaping it (done here, independently) gives back exactly the input bytes.
// The built filters parse back with libldap's own filter parser to exactly the intended
// assertion: ldap_put_vrFilter (public, <ldap.h>) for the simple items, and ldap_pvt_put_filter
// (the exported parser ldap_search_ext uses) for the whole filter, each decoded from its BER.
#include <lber.h>
#include <ldap.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ldap/filter.hpp"
#include "ldap/key_id.hpp"
#include "tests/fuzz/fuzz_check.hpp"

// libldap's string-to-BER filter encoder: exported by libldap 2.5 (OPENLDAP_2.5) but declared
// only in the uninstalled ldap_pvt.h.
extern "C" int ldap_pvt_put_filter(BerElement* ber, const char* str);

namespace {

using keydesk::ldap::KeyIdPrefix;

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// RFC 4515 section 3: valueencoding = 0*(normal / escaped); escaped = ESC HEX HEX; `normal`
// excludes NUL, `(`, `)`, `*` and `\`. Stricter than the RFC: keydesk's values are escaped down
// to printable ASCII, so anything else is refused too.
std::optional<std::string> unescape(std::string_view escaped) {
    std::string out;
    for (std::size_t i = 0; i < escaped.size(); ++i) {
        const char c = escaped[i];
        if (c == '\\') {
            if (i + 2 >= escaped.size()) return std::nullopt;
            const int high = hex_value(escaped[i + 1]);
            const int low = hex_value(escaped[i + 2]);
            if (high < 0 || low < 0) return std::nullopt;
            out.push_back(static_cast<char>(high * 16 + low));
            i += 2;
            continue;
        }
        if (c == '\0' || c == '(' || c == ')' || c == '*') return std::nullopt;
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
            return std::nullopt;
        }
        out.push_back(c);
    }
    return out;
}

// One decoded filter: the CHOICE tag, the attribute, its values (with their context tags, for
// substrings) and, for AND/OR, the children.
struct Node {
    ber_tag_t tag = LBER_DEFAULT;
    std::string type;
    std::vector<std::pair<ber_tag_t, std::string>> values;
    std::vector<Node> children;
};

std::string text(const berval& value) {
    return std::string(value.bv_val ? value.bv_val : "", value.bv_len);
}

bool decode_filter(BerElement* ber, Node& node, int depth) {
    if (depth > 8) return false;
    ber_len_t length = 0;
    node.tag = ber_peek_tag(ber, &length);
    switch (node.tag) {
        case LDAP_FILTER_AND:
        case LDAP_FILTER_OR: {
            char* last = nullptr;
            for (auto tag = ber_first_element(ber, &length, &last); tag != LBER_DEFAULT;
                 tag = ber_next_element(ber, &length, last)) {
                Node child;
                if (!decode_filter(ber, child, depth + 1)) return false;
                node.children.push_back(std::move(child));
            }
            return true;
        }
        case LDAP_FILTER_EQUALITY:
        case LDAP_FILTER_GE:
        case LDAP_FILTER_LE:
        case LDAP_FILTER_APPROX: {
            berval type{}, value{};
            if (ber_scanf(ber, "{mm}", &type, &value) == LBER_ERROR) return false;
            node.type = text(type);
            node.values.emplace_back(node.tag, text(value));
            return true;
        }
        case LDAP_FILTER_SUBSTRINGS: {
            berval type{};
            if (ber_scanf(ber, "{m", &type) == LBER_ERROR) return false;
            node.type = text(type);
            char* last = nullptr;
            for (auto tag = ber_first_element(ber, &length, &last); tag != LBER_DEFAULT;
                 tag = ber_next_element(ber, &length, last)) {
                berval value{};
                if (ber_scanf(ber, "m", &value) == LBER_ERROR) return false;
                node.values.emplace_back(tag, text(value));
            }
            return ber_scanf(ber, "}") != LBER_ERROR;
        }
        case LDAP_FILTER_PRESENT: {
            berval type{};
            if (ber_scanf(ber, "m", &type) == LBER_ERROR) return false;
            node.type = text(type);
            return true;
        }
        default:
            return false;
    }
}

struct BerFree {
    void operator()(BerElement* ber) const { ber_free(ber, 1); }
};
using BerPtr = std::unique_ptr<BerElement, BerFree>;

// Encodes with `put`, then decodes what it wrote. nullopt: libldap refused the filter.
template <typename Put>
std::optional<std::vector<Node>> parse_with(Put put, const std::string& filter, bool sequence) {
    BerPtr out(ber_alloc_t(LBER_USE_DER));
    FUZZ_CHECK(out != nullptr, "ber_alloc_t");
    if (put(out.get(), filter.c_str()) != 0) return std::nullopt;
    berval flat{};
    FUZZ_CHECK(ber_flatten2(out.get(), &flat, 0) == 0, filter);
    BerPtr in(ber_init(&flat));
    FUZZ_CHECK(in != nullptr, "ber_init");
    std::vector<Node> nodes;
    ber_len_t length = 0;
    if (sequence) {
        char* last = nullptr;
        for (auto tag = ber_first_element(in.get(), &length, &last); tag != LBER_DEFAULT;
             tag = ber_next_element(in.get(), &length, last)) {
            Node node;
            FUZZ_CHECK(decode_filter(in.get(), node, 0), filter);
            nodes.push_back(std::move(node));
        }
    } else {
        Node node;
        FUZZ_CHECK(decode_filter(in.get(), node, 0), filter);
        nodes.push_back(std::move(node));
    }
    FUZZ_CHECK(ber_peek_tag(in.get(), &length) == LBER_DEFAULT, "trailing BER after " + filter);
    return nodes;
}

std::optional<std::vector<Node>> parse_values_return(const std::string& items) {
    return parse_with([](BerElement* ber, const char* s) { return ldap_put_vrFilter(ber, s); },
                      "(" + items + ")", true);
}

std::optional<Node> parse_full(const std::string& filter) {
    auto nodes = parse_with(ldap_pvt_put_filter, filter, false);
    if (!nodes) return std::nullopt;
    return std::move(nodes->front());
}

void check_balanced(const std::string& filter) {
    int depth = 0;
    for (char c : filter) {
        FUZZ_CHECK(c != '\0', filter);
        if (c == '(') ++depth;
        if (c == ')') --depth;
        FUZZ_CHECK(depth >= 0, filter);
    }
    FUZZ_CHECK(depth == 0, filter);
}

void check_equality(const Node& node, std::string_view attribute, std::string_view value,
                    const std::string& filter) {
    FUZZ_CHECK(node.tag == LDAP_FILTER_EQUALITY, filter);
    FUZZ_CHECK(node.type == attribute, filter);
    FUZZ_CHECK(node.values.size() == 1 && node.values[0].second == value, filter);
}

void check_value(std::string_view value) {
    const auto escaped = keydesk::ldap::escape_filter_value(value);
    const auto back = unescape(escaped);
    FUZZ_CHECK(back.has_value(), escaped);
    FUZZ_CHECK(*back == value, escaped);

    const auto filter = keydesk::ldap::equality_filter("cn", value);
    FUZZ_CHECK(filter == "(cn=" + escaped + ")", filter);
    check_balanced(filter);

    const auto items = parse_values_return(filter);
    FUZZ_CHECK(items.has_value(), "ldap_put_vrFilter refused " + filter);
    FUZZ_CHECK(items->size() == 1, filter);
    check_equality(items->front(), "cn", value, filter);

    const auto full = parse_full(filter);
    FUZZ_CHECK(full.has_value(), "ldap_pvt_put_filter refused " + filter);
    check_equality(*full, "cn", value, filter);
}

void check_recovery_filter(const KeyIdPrefix& prefix) {
    const auto filter = keydesk::ldap::recovery_key_filter(prefix);
    check_balanced(filter);
    const std::string head = "(&(objectClass=msFVE-RecoveryInformation)";
    FUZZ_CHECK(filter.starts_with(head) && filter.ends_with(")"), filter);

    const auto full = parse_full(filter);
    FUZZ_CHECK(full.has_value(), "ldap_pvt_put_filter refused " + filter);
    FUZZ_CHECK(full->tag == LDAP_FILTER_AND && full->children.size() == 2, filter);
    check_equality(full->children[0], "objectClass", "msFVE-RecoveryInformation", filter);
    const Node& key = full->children[1];
    if (prefix.complete()) {
        const auto bytes = prefix.guid_bytes();
        check_equality(key, "msFVE-RecoveryGuid",
                       std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                       filter);
    } else {
        // (cn=*{PREFIX*): one `any` substring, the brace anchoring the Key ID's start.
        FUZZ_CHECK(key.tag == LDAP_FILTER_SUBSTRINGS && key.type == "cn", filter);
        FUZZ_CHECK(key.values.size() == 1, filter);
        FUZZ_CHECK(key.values[0].first == LDAP_SUBSTRING_ANY, filter);
        FUZZ_CHECK(key.values[0].second == "{" + prefix.dashed(), filter);
    }

    // The same items through the public values-return parser.
    const auto inner = filter.substr(2, filter.size() - 3);
    const auto items = parse_values_return(inner);
    FUZZ_CHECK(items.has_value() && items->size() == 2, "ldap_put_vrFilter refused " + inner);
    FUZZ_CHECK((*items)[1].tag == key.tag && (*items)[1].values == key.values, filter);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_value(input);

    // A Key ID typed by a person (at least one hex digit, any punctuation keydesk accepts) ...
    if (const auto typed = KeyIdPrefix::parse(input, 1)) check_recovery_filter(*typed);

    // ... and one made from arbitrary GUID bytes (NUL, `*`, `(`, `\` among them), cut to a
    // prefix of 1 to 32 hex digits by the first byte.
    if (size >= 1) {
        keydesk::ldap::GuidBytes bytes{};
        for (std::size_t i = 0; i < bytes.size() && i + 1 < size; ++i) bytes[i] = data[i + 1];
        const auto full = KeyIdPrefix::from_guid_bytes(bytes);
        const std::size_t digits = 1 + data[0] % 32;
        const auto prefix = KeyIdPrefix::parse(full.hex().substr(0, digits), 1);
        FUZZ_CHECK(prefix.has_value(), full.hex());
        check_recovery_filter(*prefix);
    }
    return 0;
}
