// RFC 4515 escaping through libldap's own escaper, and the filters keydesk sends.
#include "ldap/filter.hpp"

#include <ldap.h>

#include <stdexcept>

namespace keydesk::ldap {

std::string escape_filter_value(std::string_view value) {
    if (value.empty()) return {};
    berval in{static_cast<ber_len_t>(value.size()), const_cast<char*>(value.data())};
    berval out{0, nullptr};
    if (ldap_bv2escaped_filter_value(&in, &out) != 0 || out.bv_val == nullptr) {
        throw std::bad_alloc();
    }
    std::string escaped(out.bv_val, out.bv_len);
    ber_memfree(out.bv_val);
    return escaped;
}

std::string equality_filter(std::string_view attribute, std::string_view value) {
    return "(" + std::string(attribute) + "=" + escape_filter_value(value) + ")";
}

std::string recovery_key_filter(const KeyIdPrefix& prefix) {
    const std::string object_class = "(objectClass=msFVE-RecoveryInformation)";
    if (prefix.complete()) {
        const auto bytes = prefix.guid_bytes();
        const std::string_view raw(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        return "(&" + object_class + equality_filter("msFVE-RecoveryGuid", raw) + ")";
    }
    // cn = "<time>{<KEY-ID>}": the brace anchors the prefix to the start of the Key ID.
    return "(&" + object_class + "(cn=*" + escape_filter_value("{" + prefix.dashed()) + "*))";
}

}  // namespace keydesk::ldap
