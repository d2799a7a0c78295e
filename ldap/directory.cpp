// Directory: the pool of service-account connections and the searches keydesk runs on AD.
#include "ldap/directory.hpp"

#include <ldap.h>
#include <string.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <set>

#include "ldap/connection.hpp"
#include "ldap/filter.hpp"

namespace keydesk::ldap {
namespace {

const std::vector<std::string> key_attributes{"cn", "msFVE-RecoveryGuid", "msFVE-VolumeGuid"};
constexpr int group_page_size = 500;
constexpr int max_group_depth = 16;
constexpr std::size_t max_username_length = 256;
constexpr std::size_t max_password_length = 1024;

std::string lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool equals_ignore_case(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

std::optional<GuidBytes> as_guid(const std::string* value) {
    if (!value || value->size() != 16) return std::nullopt;
    GuidBytes bytes{};
    std::copy(value->begin(), value->end(), bytes.begin());
    return bytes;
}

// "2023-01-10T09:00:00+01:00{...}" -> seconds since 1970, UTC.
std::optional<std::time_t> creation_epoch_from_cn(std::string_view cn) {
    if (cn.size() < 25) return std::nullopt;
    std::tm local{};
    int offset_hours = 0, offset_minutes = 0;
    char sign = 0;
    const std::string head(cn.substr(0, 25));
    if (std::sscanf(head.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c%2d:%2d", &local.tm_year, &local.tm_mon,
                    &local.tm_mday, &local.tm_hour, &local.tm_min, &local.tm_sec, &sign,
                    &offset_hours, &offset_minutes) != 9 ||
        (sign != '+' && sign != '-')) {
        return std::nullopt;
    }
    local.tm_year -= 1900;
    local.tm_mon -= 1;
    std::time_t seconds = timegm(&local);
    const int offset = (offset_hours * 60 + offset_minutes) * 60;
    seconds += sign == '+' ? -offset : offset;
    return seconds;
}

// The same as RFC 3339 UTC, "2023-01-10T08:00:00Z"; empty if the cn has no such time.
std::string creation_time_from_cn(std::string_view cn) {
    const auto epoch = creation_epoch_from_cn(cn);
    if (!epoch) return {};
    const std::time_t seconds = *epoch;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

// The Key ID from "<time>{KEY-ID}" when the GUID attribute cannot be read.
std::optional<KeyIdPrefix> key_id_from_cn(std::string_view cn) {
    const auto open = cn.find('{');
    const auto close = cn.rfind('}');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
        return std::nullopt;
    }
    return KeyIdPrefix::parse(cn.substr(open, close - open + 1), 32);
}

SignInFailure failure_from_diagnostic(std::string_view diagnostic) {
    // AD: "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563"
    const auto at = diagnostic.find("data ");
    if (at == std::string_view::npos) return SignInFailure::invalid_credentials;
    const auto code = lower(diagnostic.substr(at + 5, 3));
    if (code == "525") return SignInFailure::unknown_user;
    if (code == "52e") return SignInFailure::invalid_credentials;
    if (code == "530") return SignInFailure::logon_hours;
    if (code == "531") return SignInFailure::workstation_restricted;
    if (code == "532") return SignInFailure::password_expired;
    if (code == "533") return SignInFailure::account_disabled;
    if (code == "701") return SignInFailure::account_expired;
    if (code == "773") return SignInFailure::must_change_password;
    if (code == "775") return SignInFailure::account_locked_out;
    return SignInFailure::invalid_credentials;
}

// Attributes the index reads: metadata and the change counter, never the password.
const std::vector<std::string> index_attributes_ad{"cn", "msFVE-RecoveryGuid", "msFVE-VolumeGuid",
                                                   "uSNChanged"};
const std::vector<std::string> index_attributes_other{"cn", "msFVE-RecoveryGuid",
                                                      "msFVE-VolumeGuid", "modifyTimestamp"};
constexpr int index_page_size = 1000;  // AD's MaxPageSize

// uSNChanged values compare as numbers, modifyTimestamp values (GeneralizedTime) as text.
bool high_water_less(const std::string& a, const std::string& b, bool numeric) {
    if (numeric && a.size() != b.size()) return a.size() < b.size();
    return a < b;
}

ConnectionOptions connection_options(const DirectorySettings& settings) {
    return ConnectionOptions{settings.uris, settings.tls_ca_file, settings.start_tls,
                             settings.tls_verify, settings.timeout};
}

}  // namespace

RecoveryPassword::RecoveryPassword(RecoveryPassword&& other) noexcept
    : value_(std::move(other.value_)) {
    explicit_bzero(other.value_.data(), other.value_.size());
    other.value_.clear();
}

RecoveryPassword& RecoveryPassword::operator=(RecoveryPassword&& other) noexcept {
    if (this != &other) {
        explicit_bzero(value_.data(), value_.size());
        value_ = std::move(other.value_);
        explicit_bzero(other.value_.data(), other.value_.size());
        other.value_.clear();
    }
    return *this;
}

RecoveryPassword::~RecoveryPassword() { explicit_bzero(value_.data(), value_.size()); }

std::string_view to_string(SignInFailure failure) {
    switch (failure) {
        case SignInFailure::none: return "none";
        case SignInFailure::invalid_username: return "invalid_username";
        case SignInFailure::empty_password: return "empty_password";
        case SignInFailure::unknown_user: return "unknown_user";
        case SignInFailure::ambiguous_user: return "ambiguous_user";
        case SignInFailure::invalid_credentials: return "invalid_credentials";
        case SignInFailure::account_disabled: return "account_disabled";
        case SignInFailure::account_expired: return "account_expired";
        case SignInFailure::password_expired: return "password_expired";
        case SignInFailure::must_change_password: return "must_change_password";
        case SignInFailure::account_locked_out: return "locked_out";
        case SignInFailure::logon_hours: return "logon_hours";
        case SignInFailure::workstation_restricted: return "workstation_restricted";
        case SignInFailure::other: return "other";
    }
    return "other";
}

bool parse_computer_name(std::string_view input, std::string& normalized) {
    if (!input.empty() && input.back() == '$') input.remove_suffix(1);
    if (input.empty() || input.size() > 64) return false;
    for (char c : input) {
        const bool allowed = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
                             c == '.';
        if (!allowed) return false;
    }
    normalized = std::string(input);
    return true;
}

std::string normalize_dn(std::string_view dn) {
    // libldap reads a C string: a NUL would cut the DN short, and "CN=a,...\0junk" (a reveal's
    // computer_dn comes from JSON) would equal "CN=a,...". Such a DN matches nothing real.
    if (dn.find('\0') != std::string_view::npos) return lower(dn);
    const std::string input(dn);
    char* normalized = nullptr;
    if (ldap_dn_normalize(input.c_str(), LDAP_DN_FORMAT_LDAP, &normalized, LDAP_DN_FORMAT_LDAPV3) !=
            LDAP_SUCCESS ||
        normalized == nullptr) {
        return lower(dn);
    }
    std::string out = lower(normalized);
    ldap_memfree(normalized);
    return out;
}

Directory::Directory(DirectorySettings settings) : settings_(std::move(settings)) {
    // libldap writes to its sockets without MSG_NOSIGNAL: a DC that drops the connection would
    // kill the whole process with SIGPIPE instead of failing one call with LDAP_SERVER_DOWN.
    static std::once_flag ignore_sigpipe;
    std::call_once(ignore_sigpipe, [] { std::signal(SIGPIPE, SIG_IGN); });
    idle_.resize(std::max(1u, settings_.pool_size));
}

Directory::~Directory() = default;

std::unique_ptr<Connection> Directory::take_connection() {
    std::unique_lock lock(mutex_);
    if (!available_.wait_for(lock, settings_.timeout, [this] { return !idle_.empty(); })) {
        throw DirectoryUnavailable("all " + std::to_string(settings_.pool_size) +
                                   " directory connections stayed busy");
    }
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    return connection;
}

void Directory::give_back(std::unique_ptr<Connection> connection) {
    {
        std::lock_guard lock(mutex_);
        idle_.push_back(std::move(connection));
    }
    available_.notify_one();
}

template <typename Operation>
auto Directory::with_service_connection(Operation&& operation) {
    // A pooled connection may have died since its last use (a DC restart): one retry on a
    // fresh connection, which tries every URI in order. Never after a timeout or a failed
    // connect, which would only double the wait.
    for (int attempt = 0;; ++attempt) {
        auto connection = take_connection();
        const bool pooled = connection != nullptr;
        try {
            if (!connection) {
                connection = Connection::open(connection_options(settings_));
                const auto bound = connection->simple_bind(settings_.bind_dn, settings_.bind_password);
                if (bound.code != LDAP_SUCCESS) {
                    throw DirectoryUnavailable("service account bind to " + connection->uri() +
                                               " failed: " + ldap_err2string(bound.code) + " " +
                                               bound.diagnostic);
                }
            }
            auto result = operation(*connection);
            give_back(std::move(connection));
            return result;
        } catch (const DirectoryTimeout&) {
            give_back(nullptr);
            throw;
        } catch (const DirectoryUnavailable&) {
            give_back(nullptr);
            if (attempt >= 1 || !pooled) throw;
        } catch (...) {
            give_back(nullptr);  // the handle's state is unknown: reconnect next time
            throw;
        }
    }
}

void Directory::check_connection() {
    with_service_connection([](Connection& connection) {
        connection.search("", Scope::base, "(objectClass=*)", {"1.1"});
        return true;
    });
}

RecoveryKey Directory::to_recovery_key(const Entry& entry) const {
    RecoveryKey key;
    key.dn = entry.dn;
    const auto* cn = entry.first("cn");
    if (auto guid = as_guid(entry.first("msFVE-RecoveryGuid"))) {
        key.key_id = guid_to_string(*guid);
    } else if (cn) {
        if (auto parsed = key_id_from_cn(*cn)) key.key_id = parsed->dashed();
    }
    if (auto volume = as_guid(entry.first("msFVE-VolumeGuid"))) key.volume_id = guid_to_string(*volume);
    if (cn) key.created = creation_time_from_cn(*cn);
    key.computer_dn = parent_dn(entry.dn);
    key.computer = first_rdn_value(key.computer_dn);
    return key;
}

KeySearchResult Directory::confirm_live(Connection& connection,
                                        const std::vector<KeyRecord>& candidates) {
    // One indexed search for all candidates: equality on each full GUID. The directory stays the
    // truth: a key deleted since the last sync simply does not come back.
    std::string filter = "(&(objectClass=msFVE-RecoveryInformation)(|";
    for (const auto& candidate : candidates) {
        const auto key_id = KeyIdPrefix::parse(display_text(candidate.key_id), 32);
        const auto bytes = key_id->guid_bytes();
        filter += equality_filter("msFVE-RecoveryGuid",
                                  std::string_view(reinterpret_cast<const char*>(bytes.data()), 16));
    }
    filter += "))";
    const auto found = connection.search(settings_.base_dn, Scope::subtree, filter, key_attributes,
                                         static_cast<int>(candidates.size()));
    KeySearchResult result;
    for (const auto& entry : found.entries) result.keys.push_back(to_recovery_key(entry));
    return result;
}

KeySearchResult Directory::find_keys(const KeyIdPrefix& prefix) {
    if (!prefix.complete() && index_.loaded()) {
        const auto limit = static_cast<std::size_t>(settings_.max_results);
        auto candidates = index_.find_prefix(prefix, limit + 1);
        if (!candidates.empty()) {
            const bool more = candidates.size() > limit;
            candidates.resize(std::min(candidates.size(), limit));
            auto result = with_service_connection(
                [&](Connection& connection) { return confirm_live(connection, candidates); });
            if (!result.keys.empty()) {
                result.truncated = more;
                std::sort(result.keys.begin(), result.keys.end(),
                          [](const RecoveryKey& a, const RecoveryKey& b) { return a.created > b.created; });
                return result;
            }
        }
        // Nothing known locally (or all of it gone): ask the directory itself before answering
        // "not found", so a key escrowed a second ago is never missed.
    }
    const auto filter = recovery_key_filter(prefix);
    auto found = with_service_connection([&](Connection& connection) {
        return connection.search(settings_.base_dn, Scope::subtree, filter, key_attributes,
                                 static_cast<int>(settings_.max_results));
    });
    KeySearchResult result;
    result.truncated = found.size_limit_exceeded;
    for (const auto& entry : found.entries) {
        auto key = to_recovery_key(entry);
        // The filter matched the cn; the GUID attribute is the authority on the Key ID.
        auto parsed = KeyIdPrefix::parse(key.key_id, 32);
        if (parsed && prefix.is_prefix_of(*parsed)) result.keys.push_back(std::move(key));
    }
    std::sort(result.keys.begin(), result.keys.end(),
              [](const RecoveryKey& a, const RecoveryKey& b) { return a.created > b.created; });
    return result;
}

KeySearchResult Directory::find_keys_for_computer(std::string_view computer_name) {
    std::string name;
    if (!parse_computer_name(computer_name, name)) return {};
    std::string filter = "(&(objectClass=computer)(|" + equality_filter("cn", name) +
                         equality_filter("sAMAccountName", name + "$");
    if (name.find('.') != std::string::npos) {
        const auto host = name.substr(0, name.find('.'));
        filter += equality_filter("dNSHostName", name) + equality_filter("cn", host);
    }
    filter += "))";

    return with_service_connection([&](Connection& connection) {
        KeySearchResult result;
        const auto computers =
            connection.search(settings_.base_dn, Scope::subtree, filter, {"1.1"}, 10);
        for (const auto& computer : computers.entries) {
            const auto limit = static_cast<int>(settings_.max_results - result.keys.size());
            if (limit <= 0) {
                result.truncated = true;
                break;
            }
            const auto keys =
                connection.search(computer.dn, Scope::one_level,
                                  "(objectClass=msFVE-RecoveryInformation)", key_attributes, limit);
            result.truncated = result.truncated || keys.size_limit_exceeded;
            for (const auto& entry : keys.entries) result.keys.push_back(to_recovery_key(entry));
        }
        std::sort(result.keys.begin(), result.keys.end(),
                  [](const RecoveryKey& a, const RecoveryKey& b) { return a.created > b.created; });
        return result;
    });
}

PasswordReadResult Directory::read_recovery_password(const KeyIdPrefix& key_id,
                                                     std::optional<std::string> computer_dn) {
    if (!key_id.complete()) throw std::invalid_argument("read_recovery_password needs a full Key ID");
    auto attributes = key_attributes;
    attributes.push_back("msFVE-RecoveryPassword");
    auto found = with_service_connection([&](Connection& connection) {
        return connection.search(settings_.base_dn, Scope::subtree, recovery_key_filter(key_id),
                                 attributes, 10);
    });

    PasswordReadResult result;
    const auto wanted_computer = computer_dn ? normalize_dn(*computer_dn) : std::string();
    for (auto& entry : found.entries) {
        auto key = to_recovery_key(entry);
        if (computer_dn && normalize_dn(key.computer_dn) != wanted_computer) continue;
        auto password = entry.attributes.find("msFVE-RecoveryPassword");
        result.key = std::move(key);
        if (password == entry.attributes.end() || password->second.empty()) {
            // Visible but unreadable: AD's confidential attribute without CONTROL_ACCESS.
            result.outcome = PasswordReadResult::Outcome::not_permitted;
            continue;
        }
        result.outcome = PasswordReadResult::Outcome::found;
        result.password = RecoveryPassword(std::move(password->second.front()));
        break;
    }
    for (auto& entry : found.entries) {
        for (auto& value : entry.all("msFVE-RecoveryPassword")) {
            explicit_bzero(const_cast<char*>(value.data()), value.size());
        }
    }
    return result;
}

SignInResult Directory::sign_in(std::string_view username, std::string_view password) {
    SignInResult result;
    auto fail = [&](SignInFailure why, std::string detail = {}) {
        result.failure = why;
        result.detail = std::move(detail);
        return result;
    };

    if (username.empty() || username.size() > max_username_length) {
        return fail(SignInFailure::invalid_username);
    }
    for (char c : username) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return fail(SignInFailure::invalid_username);
    }
    // An empty password makes a simple bind "unauthenticated" and it may succeed (RFC 4513).
    if (password.empty()) return fail(SignInFailure::empty_password);
    if (password.size() > max_password_length) return fail(SignInFailure::invalid_credentials);

    std::string account_filter;
    if (const auto slash = username.find('\\'); slash != std::string_view::npos) {
        const auto domain = username.substr(0, slash);
        const auto sam = username.substr(slash + 1);
        if (sam.empty() || (!settings_.domain.empty() && !equals_ignore_case(domain, settings_.domain))) {
            return fail(SignInFailure::unknown_user, "domain not accepted");
        }
        account_filter = equality_filter("sAMAccountName", sam);
    } else if (username.find('@') != std::string_view::npos) {
        account_filter = equality_filter("userPrincipalName", username);
    } else {
        account_filter = equality_filter("sAMAccountName", username);
    }
    const std::string filter =
        "(&(objectClass=user)(!(objectClass=computer))" + account_filter + ")";

    const auto accounts = with_service_connection([&](Connection& connection) {
        return connection.search(settings_.base_dn, Scope::subtree, filter,
                                 {"sAMAccountName", "displayName", "userPrincipalName"}, 2);
    });
    if (accounts.entries.empty()) {
        // Spend what a real bind costs, so response times do not tell which accounts exist.
        try {
            Connection::open(connection_options(settings_))
                ->simple_bind("CN=keydesk-no-such-account," + settings_.base_dn, password);
        } catch (const std::exception&) {
        }
        return fail(SignInFailure::unknown_user);
    }
    if (accounts.entries.size() > 1 || accounts.size_limit_exceeded) {
        return fail(SignInFailure::ambiguous_user);
    }
    const auto& account = accounts.entries.front();

    // Bind as the user's DN on a connection of its own: AD refuses bare sAMAccountName binds.
    {
        auto user_connection = Connection::open(connection_options(settings_));
        const auto bound = user_connection->simple_bind(account.dn, password);
        if (bound.code == LDAP_INVALID_CREDENTIALS) {
            return fail(failure_from_diagnostic(bound.diagnostic), bound.diagnostic);
        }
        if (bound.code != LDAP_SUCCESS) {
            return fail(SignInFailure::other,
                        std::string(ldap_err2string(bound.code)) + " " + bound.diagnostic);
        }
    }

    StaffMember staff;
    staff.dn = account.dn;
    staff.username = account.first("sAMAccountName") ? *account.first("sAMAccountName")
                                                     : std::string(username);
    staff.display_name = account.first("displayName") ? *account.first("displayName") : staff.username;
    staff.group_dns = with_service_connection(
        [&](Connection& connection) { return resolve_groups(connection, account.dn); });
    result.staff = std::move(staff);
    return result;
}

void Directory::start_index() {
    index_thread_ = std::jthread([this](std::stop_token stop) { index_loop(stop); });
}

IndexStatus Directory::index_status() const {
    std::lock_guard lock(index_mutex_);
    auto status = index_status_;
    status.loaded = index_.loaded();
    status.keys = index_.size();
    status.memory_bytes = index_.memory_bytes();
    return status;
}

void Directory::index_loop(std::stop_token stop) {
    while (!stop.stop_requested()) {
        sync_index_now();
        std::unique_lock lock(index_mutex_);
        index_wake_.wait_for(lock, stop, settings_.index_poll, [] { return false; });
    }
}

void Directory::sync_index_now() {
    // Only the index thread (or a test, with the thread not started) calls this.
    try {
        if (!index_connection_) {
            // A connection of its own: a full load must not hold a request's pool slot.
            index_connection_ = Connection::open(connection_options(settings_));
            const auto bound = index_connection_->simple_bind(settings_.bind_dn, settings_.bind_password);
            if (bound.code != LDAP_SUCCESS) {
                throw DirectoryUnavailable("index: service account bind failed: " + bound.diagnostic);
            }
            index_is_ad_ = index_connection_->is_active_directory();
        }
        // A change counter belongs to one DC: after a failover, start again from a full load.
        const bool full = !index_.loaded() || index_connection_->uri() != index_uri_ ||
                          std::chrono::steady_clock::now() >= next_full_load_;
        sync_index(*index_connection_, full);
        std::lock_guard lock(index_mutex_);
        index_status_.last_error.clear();
    } catch (const std::exception& error) {
        index_connection_.reset();
        std::lock_guard lock(index_mutex_);
        index_status_.last_error = error.what();
    }
}

void Directory::sync_index(Connection& connection, bool full) {
    const std::string change_attribute = index_is_ad_ ? "uSNChanged" : "modifyTimestamp";
    std::string filter = "(objectClass=msFVE-RecoveryInformation)";
    if (!full && !index_high_water_.empty()) {
        // AD's counter is exact: ask for what is newer. A timestamp has one-second steps: ask
        // for the same second again (updates are idempotent).
        const auto from = index_is_ad_ ? std::to_string(std::stoull(index_high_water_) + 1)
                                       : index_high_water_;
        filter = "(&" + filter + "(" + change_attribute + ">=" + escape_filter_value(from) + "))";
    }

    KeyIndex::Builder builder;
    std::vector<KeyRecord> changes;
    std::string high_water = full ? std::string() : index_high_water_;
    connection.search_each(
        settings_.base_dn, Scope::subtree, filter,
        index_is_ad_ ? index_attributes_ad : index_attributes_other, 0, index_page_size,
        [&](Entry& entry) {
            const auto guid = as_guid(entry.first("msFVE-RecoveryGuid"));
            if (!guid) return;
            const auto key_id = display_bytes(KeyIdPrefix::from_guid_bytes(*guid));
            GuidBytes volume_id{};
            if (auto volume = as_guid(entry.first("msFVE-VolumeGuid"))) {
                volume_id = display_bytes(KeyIdPrefix::from_guid_bytes(*volume));
            }
            const auto* cn = entry.first("cn");
            const auto created = cn ? creation_epoch_from_cn(*cn) : std::nullopt;
            const auto created_seconds =
                created && *created > 0 ? static_cast<std::uint32_t>(*created) : 0u;
            if (const auto* change = entry.first(change_attribute);
                change && high_water_less(high_water, *change, index_is_ad_)) {
                high_water = *change;
            }
            if (full) {
                builder.add(key_id, volume_id, created_seconds, parent_dn(entry.dn));
            } else {
                changes.push_back({key_id, volume_id, created_seconds, parent_dn(entry.dn)});
            }
        });

    if (full) {
        index_.install(std::move(builder));
        index_uri_ = connection.uri();
        next_full_load_ = std::chrono::steady_clock::now() + settings_.index_full_resync;
    } else {
        index_.upsert(changes);
    }
    index_high_water_ = high_water;
    std::lock_guard lock(index_mutex_);
    ++(full ? index_status_.full_loads : index_status_.polls);
}

std::optional<StaffMember> Directory::refresh_staff(const std::string& dn) {
    return with_service_connection([&](Connection& connection) -> std::optional<StaffMember> {
        const auto found = connection.search(dn, Scope::base, "(objectClass=user)",
                                             {"sAMAccountName", "displayName", "userAccountControl"});
        if (found.entries.empty()) return std::nullopt;
        const auto& account = found.entries.front();
        if (const auto* control = account.first("userAccountControl")) {
            constexpr long account_disabled = 0x2;  // ADS_UF_ACCOUNTDISABLE
            if (std::strtol(control->c_str(), nullptr, 10) & account_disabled) return std::nullopt;
        }
        StaffMember staff;
        staff.dn = account.dn;
        staff.username = account.first("sAMAccountName") ? *account.first("sAMAccountName") : "";
        staff.display_name = account.first("displayName") ? *account.first("displayName") : staff.username;
        staff.group_dns = resolve_groups(connection, account.dn);
        return staff;
    });
}

std::vector<std::string> Directory::resolve_groups(Connection& connection,
                                                   const std::string& user_dn) {
    bool in_chain = settings_.group_resolution == GroupResolution::in_chain;
    if (settings_.group_resolution == GroupResolution::automatic) {
        in_chain = connection.is_active_directory();
    }

    std::vector<std::string> groups;
    if (in_chain) {
        // LDAP_MATCHING_RULE_IN_CHAIN: the DC walks nested membership itself.
        const auto found = connection.search(
            settings_.base_dn, Scope::subtree,
            "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=" + escape_filter_value(user_dn) +
                "))",
            {"1.1"}, 0, group_page_size);
        for (const auto& entry : found.entries) groups.push_back(normalize_dn(entry.dn));
        return groups;
    }

    // Without the in-chain rule: follow `member` links one level at a time.
    std::set<std::string> seen;
    std::vector<std::string> frontier{user_dn};
    for (int depth = 0; depth < max_group_depth && !frontier.empty(); ++depth) {
        std::vector<std::string> next;
        for (std::size_t start = 0; start < frontier.size(); start += 50) {
            std::string filter = "(&(objectClass=group)(|";
            for (std::size_t i = start; i < std::min(frontier.size(), start + 50); ++i) {
                filter += equality_filter("member", frontier[i]);
            }
            filter += "))";
            const auto found =
                connection.search(settings_.base_dn, Scope::subtree, filter, {"1.1"}, 0, group_page_size);
            for (const auto& entry : found.entries) {
                auto normalized = normalize_dn(entry.dn);
                if (seen.insert(normalized).second) {
                    groups.push_back(normalized);
                    next.push_back(entry.dn);
                }
            }
        }
        frontier = std::move(next);
    }
    return groups;
}

}  // namespace keydesk::ldap
