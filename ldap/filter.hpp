// LDAP search filters built only with RFC 4515 escaping of every value.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "ldap/key_id.hpp"

namespace keydesk::ldap {

// Escapes a value for use inside a filter (RFC 4515 section 3): `*`, `(`, `)`, `\`, NUL and
// every byte outside printable ASCII become `\XX`. Safe for binary values.
std::string escape_filter_value(std::string_view value);

// `(attribute=<escaped value>)`; the attribute name must be a fixed, trusted descriptor.
std::string equality_filter(std::string_view attribute, std::string_view value);

// Filter for a Key ID prefix: equality on the indexed msFVE-RecoveryGuid when the ID is complete,
// else a substring match on the object's cn, which ends in "{KEY-ID}".
std::string recovery_key_filter(const KeyIdPrefix& prefix);

}  // namespace keydesk::ldap
