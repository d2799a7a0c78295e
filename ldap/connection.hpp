// One libldap connection (internal to ldap/): TLS set up, timeouts on, referrals off.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct ldap;  // libldap's handle; <ldap.h> stays inside ldap/*.cpp
struct ldap_conncb;

namespace keydesk::ldap {

struct ConnectionOptions {
    std::vector<std::string> uris;
    std::filesystem::path tls_ca_file;
    bool start_tls = false;
    bool tls_verify = true;
    std::chrono::seconds timeout{5};
};

// Case-insensitive attribute names, as LDAP has them.
struct AttributeNameLess {
    bool operator()(const std::string& a, const std::string& b) const;
};

struct Entry {
    std::string dn;
    std::map<std::string, std::vector<std::string>, AttributeNameLess> attributes;

    const std::string* first(const std::string& attribute) const;
    const std::vector<std::string>& all(const std::string& attribute) const;
};

struct SearchResult {
    std::vector<Entry> entries;
    bool size_limit_exceeded = false;
};

struct BindOutcome {
    int code = 0;             // LDAP result code; 0 = success
    std::string diagnostic;   // the server's text, e.g. "... data 52e, ..."
};

enum class Scope { base, one_level, subtree };

// The socket of a connection being opened, for the connect watchdog.
struct SocketWatch {
    std::atomic<int> fd{-1};
};

class Connection {
public:
    // Connects to the first URI that answers (and does StartTLS if asked). Throws
    // DirectoryUnavailable naming every URI's failure when none does.
    static std::unique_ptr<Connection> open(const ConnectionOptions& options);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // A wrong password is an outcome, not an exception; a lost connection throws
    // DirectoryUnavailable.
    BindOutcome simple_bind(const std::string& dn, std::string_view password);

    // Throws DirectoryUnavailable on transport failures and DirectoryError on other errors.
    // A missing base object gives an empty result. `page_size` > 0 uses the paged-results control.
    SearchResult search(const std::string& base, Scope scope, const std::string& filter,
                        const std::vector<std::string>& attributes, int size_limit = 0,
                        int page_size = 0);

    // The same, handing each entry to `on_entry` as it arrives (one page in memory at a time).
    // Returns whether the size limit cut the result short.
    bool search_each(const std::string& base, Scope scope, const std::string& filter,
                     const std::vector<std::string>& attributes, int size_limit, int page_size,
                     const std::function<void(Entry&)>& on_entry);

    // Whether the root DSE lists the Active Directory capability (AD and Samba AD do).
    bool is_active_directory();

    const std::string& uri() const { return uri_; }

private:
    Connection(::ldap* handle, std::string uri, std::chrono::seconds timeout);
    [[noreturn]] void fail(int code, std::string_view operation);

    // Declared before the handle: libldap calls back into them until the handle is gone.
    std::unique_ptr<SocketWatch> socket_watch_;
    std::unique_ptr<::ldap_conncb> socket_callback_;
    ::ldap* handle_;
    std::string uri_;
    std::chrono::seconds timeout_;
};

// The parent of a DN ("CN=key,CN=PC1,OU=X" -> "CN=PC1,OU=X") and the value of its first RDN.
std::string parent_dn(const std::string& dn);
std::string first_rdn_value(const std::string& dn);

}  // namespace keydesk::ldap
