// The directory as keydesk sees it: staff sign-in and BitLocker recovery keys, in keydesk's types.
#pragma once

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <thread>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ldap/key_id.hpp"
#include "ldap/key_index.hpp"

namespace keydesk::ldap {

// The directory could not be reached or did not answer in time (HTTP 503).
class DirectoryUnavailable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// No answer within the timeout: retrying at once would only double the wait.
class DirectoryTimeout : public DirectoryUnavailable {
public:
    using DirectoryUnavailable::DirectoryUnavailable;
};

// The directory answered with something keydesk cannot work with (HTTP 500, logged in full).
class DirectoryError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class GroupResolution { automatic, in_chain, recursive };

struct DirectorySettings {
    std::vector<std::string> uris;  // tried in order
    std::string base_dn;
    std::string bind_dn;
    std::string bind_password;
    std::filesystem::path tls_ca_file;  // empty: the system's trust store
    bool start_tls = false;
    bool tls_verify = true;
    std::chrono::seconds timeout{5};
    std::string domain;  // NetBIOS domain accepted in DOMAIN\user; empty accepts any
    GroupResolution group_resolution = GroupResolution::automatic;
    unsigned pool_size = 4;     // service-account connections
    unsigned max_results = 50;  // recovery keys returned by one lookup
    // The Key ID index (see start_index()): how often to poll for changes, and how often to
    // reload everything (which also drops deleted keys).
    std::chrono::seconds index_poll{5};
    std::chrono::minutes index_full_resync{15};
};

// What the index is doing, for /readyz and the service log.
struct IndexStatus {
    bool loaded = false;
    std::size_t keys = 0;
    std::size_t memory_bytes = 0;
    std::uint64_t full_loads = 0;
    std::uint64_t polls = 0;
    std::string last_error;
};

// One msFVE-RecoveryInformation object, without its password.
struct RecoveryKey {
    std::string key_id;       // "063EA4E1-220C-4293-BA01-4754620A96E7"
    std::string volume_id;    // msFVE-VolumeGuid in the same form; empty if absent
    std::string created;      // UTC RFC 3339 from the object's cn, e.g. "2023-01-10T08:00:00Z"
    std::string computer;     // the computer object's cn
    std::string computer_dn;  // the parent of the recovery object
    std::string dn;
};

struct KeySearchResult {
    std::vector<RecoveryKey> keys;  // newest first
    bool truncated = false;         // more matched than max_results
};

// A recovery password held only as long as needed: the memory is wiped on destruction.
class RecoveryPassword {
public:
    RecoveryPassword() = default;
    explicit RecoveryPassword(std::string value) : value_(std::move(value)) {}
    RecoveryPassword(RecoveryPassword&& other) noexcept;
    RecoveryPassword& operator=(RecoveryPassword&& other) noexcept;
    RecoveryPassword(const RecoveryPassword&) = delete;
    RecoveryPassword& operator=(const RecoveryPassword&) = delete;
    ~RecoveryPassword();

    const std::string& reveal() const { return value_; }

private:
    std::string value_;
};

struct PasswordReadResult {
    enum class Outcome { found, not_found, not_permitted };
    Outcome outcome = Outcome::not_found;
    RecoveryKey key;                // set unless not_found
    RecoveryPassword password;      // set only when found
};

// A signed-in member of staff.
struct StaffMember {
    std::string username;      // sAMAccountName
    std::string display_name;
    std::string dn;
    std::vector<std::string> group_dns;  // every group, nested ones included, normalized
};

// Why a sign-in failed, as far as the directory told us. Never shown to the browser.
enum class SignInFailure {
    none,
    invalid_username,
    empty_password,
    unknown_user,
    ambiguous_user,
    invalid_credentials,    // 52e
    account_disabled,       // 533
    account_expired,        // 701
    password_expired,       // 532
    must_change_password,   // 773
    account_locked_out,     // 775
    logon_hours,            // 530
    workstation_restricted, // 531
    other,
};

std::string_view to_string(SignInFailure failure);

struct SignInResult {
    std::optional<StaffMember> staff;  // set on success
    SignInFailure failure = SignInFailure::none;
    std::string detail;  // the directory's diagnostic text, for the service log
};

// True if a name can be a computer's: letters, digits and `-_.`, 1 to 64 characters, with an
// optional trailing `$` (the sAMAccountName form), which is stripped into `normalized`.
bool parse_computer_name(std::string_view input, std::string& normalized);

// A DN in one canonical form (RFC 4514, attribute types and values case-folded) for comparing.
// Returns the input lower-cased if it cannot be parsed.
std::string normalize_dn(std::string_view dn);

class Connection;
struct Entry;

// Talks to the directory with a pool of service-account connections. Thread-safe. Every call
// blocks; run them off the I/O threads. Calls throw DirectoryUnavailable when no server answers
// within the timeout and DirectoryError on unexpected answers.
class Directory {
public:
    explicit Directory(DirectorySettings settings);
    ~Directory();
    Directory(const Directory&) = delete;
    Directory& operator=(const Directory&) = delete;

    // Connects and binds one service connection now (start-up and readiness checks).
    void check_connection();

    KeySearchResult find_keys(const KeyIdPrefix& prefix);
    KeySearchResult find_keys_for_computer(std::string_view computer_name);

    // Reads the recovery password of the key with this exact ID. If `computer_dn` is given, the
    // key must belong to that computer.
    PasswordReadResult read_recovery_password(const KeyIdPrefix& key_id,
                                              std::optional<std::string> computer_dn = {});

    // Finds the account for `username` (sam, DOMAIN\sam or UPN), binds as it over TLS, and
    // resolves its (nested) groups.
    SignInResult sign_in(std::string_view username, std::string_view password);

    // Looks a signed-in member of staff up again (no password needed): nullopt when the account
    // is gone or disabled, else their current groups. Sessions use it to notice AD changes.
    std::optional<StaffMember> refresh_staff(const std::string& dn);

    const DirectorySettings& settings() const { return settings_; }

    // Starts a background thread that loads the Key ID index with a paged search and keeps it
    // fresh by polling for changes (uSNChanged on AD, modifyTimestamp elsewhere). Until the first
    // load completes, prefix lookups search the directory live.
    void start_index();
    IndexStatus index_status() const;
    // Runs one index synchronization now (tests): a full load if none happened yet, else a poll.
    void sync_index_now();

private:
    void index_loop(std::stop_token stop);
    void sync_index(Connection& connection, bool full);
    KeySearchResult confirm_live(Connection& connection, const std::vector<KeyRecord>& candidates);

    class Lease;
    std::unique_ptr<Connection> take_connection();
    void give_back(std::unique_ptr<Connection> connection);
    template <typename Operation>
    auto with_service_connection(Operation&& operation);
    std::vector<std::string> resolve_groups(Connection& connection, const std::string& user_dn);
    RecoveryKey to_recovery_key(const Entry& entry) const;

    DirectorySettings settings_;
    std::mutex mutex_;
    std::condition_variable available_;
    std::vector<std::unique_ptr<Connection>> idle_;  // null entries are slots not yet connected

    KeyIndex index_;
    mutable std::mutex index_mutex_;  // guards the sync state below
    std::unique_ptr<Connection> index_connection_;
    std::string index_uri_;           // the DC the high-water mark belongs to
    bool index_is_ad_ = false;
    std::string index_high_water_;    // uSNChanged (AD) or modifyTimestamp (others)
    std::chrono::steady_clock::time_point next_full_load_{};
    IndexStatus index_status_;
    std::condition_variable_any index_wake_;
    std::jthread index_thread_;       // last: stops first
};

}  // namespace keydesk::ldap
