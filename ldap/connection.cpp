// libldap done as OpenLDAP's own tools do it: options, TLS, bind, search with limits, free all.
#include "ldap/connection.hpp"

#include <ldap.h>
#include <strings.h>
#include <sys/socket.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "ldap/directory.hpp"

namespace keydesk::ldap {
namespace {

std::string diagnostic_message(::ldap* handle) {
    char* message = nullptr;
    ldap_get_option(handle, LDAP_OPT_DIAGNOSTIC_MESSAGE, &message);
    std::string text = message ? message : "";
    if (message) ldap_memfree(message);
    return text;
}

std::string describe(::ldap* handle, int code) {
    std::string text = ldap_err2string(code);
    const auto diagnostic = diagnostic_message(handle);
    if (!diagnostic.empty()) text += " (" + diagnostic + ")";
    return text;
}

// Failures that mean "this server cannot answer now": a 503, never a 500. (The search timeout
// is also sent to the server as its time limit, so timeLimitExceeded is a timeout too.)
bool is_transport_failure(int code) {
    return code == LDAP_SERVER_DOWN || code == LDAP_TIMEOUT || code == LDAP_CONNECT_ERROR ||
           code == LDAP_UNAVAILABLE || code == LDAP_BUSY || code == LDAP_LOCAL_ERROR ||
           code == LDAP_TIMELIMIT_EXCEEDED || code == LDAP_ADMINLIMIT_EXCEEDED ||
           code == LDAP_UNWILLING_TO_PERFORM;
}

bool is_timeout(int code) { return code == LDAP_TIMEOUT || code == LDAP_TIMELIMIT_EXCEEDED; }

// Most pages a paged search follows: a server that keeps sending cookies must not loop us forever.
constexpr int max_pages = 10'000;

void set_option(::ldap* handle, int option, const void* value, const char* name) {
    if (ldap_set_option(handle, option, value) != LDAP_OPT_SUCCESS) {
        throw DirectoryError(std::string("cannot set LDAP option ") + name);
    }
}

int to_ldap_scope(Scope scope) {
    switch (scope) {
        case Scope::base: return LDAP_SCOPE_BASE;
        case Scope::one_level: return LDAP_SCOPE_ONELEVEL;
        case Scope::subtree: return LDAP_SCOPE_SUBTREE;
    }
    return LDAP_SCOPE_BASE;
}

// libldap bounds the TCP connect (network timeout) and waits for results (operation timeout),
// but with a DC that accepts the connection and then never answers, libldap 2.5's TLS handshake
// spins without end. The connect callback tells us the socket; a watchdog shuts it down when the
// timeout passes, which makes the handshake fail like any lost connection.
int remember_socket(LDAP*, Sockbuf* socket_buffer, LDAPURLDesc*, sockaddr*, ldap_conncb* callback) {
    ber_socket_t fd = -1;
    if (ber_sockbuf_ctrl(socket_buffer, LBER_SB_OPT_GET_FD, &fd) == 1) {
        static_cast<SocketWatch*>(callback->lc_arg)->fd = fd;
    }
    return 0;
}

void forget_socket(LDAP*, Sockbuf*, ldap_conncb* callback) {
    static_cast<SocketWatch*>(callback->lc_arg)->fd = -1;
}

// Runs `connect` (a blocking libldap call) and shuts the watched socket down if it takes longer
// than `timeout`.
int with_watchdog(SocketWatch& watch, std::chrono::seconds timeout, const std::function<int()>& connect,
                  bool& timed_out) {
    std::mutex mutex;
    std::condition_variable finished;
    bool done = false;
    timed_out = false;
    std::thread watchdog([&] {
        std::unique_lock lock(mutex);
        if (!finished.wait_for(lock, timeout, [&] { return done; })) {
            if (const int fd = watch.fd; fd >= 0) ::shutdown(fd, SHUT_RDWR);
            timed_out = true;
        }
    });
    const int code = connect();
    {
        std::lock_guard lock(mutex);
        done = true;
    }
    finished.notify_one();
    watchdog.join();
    return code;
}

struct MessageFree {
    void operator()(LDAPMessage* message) const { ldap_msgfree(message); }
};
using MessagePtr = std::unique_ptr<LDAPMessage, MessageFree>;

struct DnFree {
    void operator()(LDAPDN dn) const { ldap_dnfree(dn); }
};

}  // namespace

bool AttributeNameLess::operator()(const std::string& a, const std::string& b) const {
    return strcasecmp(a.c_str(), b.c_str()) < 0;
}

const std::string* Entry::first(const std::string& attribute) const {
    const auto found = attributes.find(attribute);
    if (found == attributes.end() || found->second.empty()) return nullptr;
    return &found->second.front();
}

const std::vector<std::string>& Entry::all(const std::string& attribute) const {
    static const std::vector<std::string> none;
    const auto found = attributes.find(attribute);
    return found == attributes.end() ? none : found->second;
}

std::unique_ptr<Connection> Connection::open(const ConnectionOptions& options) {
    std::string failures;
    for (const auto& uri : options.uris) {
        ::ldap* handle = nullptr;
        if (ldap_initialize(&handle, uri.c_str()) != LDAP_SUCCESS || handle == nullptr) {
            failures += uri + ": not a valid LDAP URI; ";
            continue;
        }
        std::unique_ptr<Connection> connection(new Connection(handle, uri, options.timeout));
        try {
            const int version = LDAP_VERSION3;
            set_option(handle, LDAP_OPT_PROTOCOL_VERSION, &version, "protocol version");
            // Referrals from AD lead outside the configured base: never chase them.
            set_option(handle, LDAP_OPT_REFERRALS, LDAP_OPT_OFF, "referrals");
            // A signal landing on this thread must not turn into LDAP_SERVER_DOWN.
            set_option(handle, LDAP_OPT_RESTART, LDAP_OPT_ON, "restart");
            const timeval timeout{static_cast<time_t>(options.timeout.count()), 0};
            set_option(handle, LDAP_OPT_NETWORK_TIMEOUT, &timeout, "network timeout");
            set_option(handle, LDAP_OPT_TIMEOUT, &timeout, "operation timeout");
            set_option(handle, LDAP_OPT_CONNECT_CB, connection->socket_callback_.get(),
                       "connect callback");
            const int require_cert = options.tls_verify ? LDAP_OPT_X_TLS_HARD : LDAP_OPT_X_TLS_NEVER;
            set_option(handle, LDAP_OPT_X_TLS_REQUIRE_CERT, &require_cert, "TLS require cert");
            if (!options.tls_ca_file.empty()) {
                set_option(handle, LDAP_OPT_X_TLS_CACERTFILE, options.tls_ca_file.c_str(),
                           "TLS CA file");
            }
            const int tls_min = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
            set_option(handle, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls_min, "TLS minimum version");
            const int is_server = 0;  // a fresh TLS context picks up the options set above
            set_option(handle, LDAP_OPT_X_TLS_NEWCTX, &is_server, "TLS context");

            bool timed_out = false;
            const int code = with_watchdog(
                *connection->socket_watch_, options.timeout,
                [&] {
                    return options.start_tls ? ldap_start_tls_s(handle, nullptr, nullptr)
                                             : ldap_connect(handle);
                },
                timed_out);
            if (code != LDAP_SUCCESS) {
                failures += uri + ": " +
                            (timed_out ? "no answer within " + std::to_string(options.timeout.count()) +
                                             " s (connection accepted, TLS handshake never finished)"
                                       : describe(handle, code)) +
                            "; ";
                continue;
            }
            return connection;
        } catch (const DirectoryError& error) {
            failures += uri + ": " + error.what() + "; ";
        }
    }
    if (failures.size() >= 2) failures.resize(failures.size() - 2);
    throw DirectoryUnavailable("no directory server answered: " + failures);
}

Connection::Connection(::ldap* handle, std::string uri, std::chrono::seconds timeout)
    : socket_watch_(std::make_unique<SocketWatch>()),
      socket_callback_(std::make_unique<ldap_conncb>(
          ldap_conncb{remember_socket, forget_socket, socket_watch_.get()})),
      handle_(handle),
      uri_(std::move(uri)),
      timeout_(timeout) {}

Connection::~Connection() { ldap_unbind_ext_s(handle_, nullptr, nullptr); }

void Connection::fail(int code, std::string_view operation) {
    const auto message = std::string(operation) + " on " + uri_ + ": " + describe(handle_, code);
    if (is_timeout(code)) throw DirectoryTimeout(message);
    if (is_transport_failure(code)) throw DirectoryUnavailable(message);
    throw DirectoryError(message);
}

BindOutcome Connection::simple_bind(const std::string& dn, std::string_view password) {
    berval credentials{static_cast<ber_len_t>(password.size()), const_cast<char*>(password.data())};
    const int code = ldap_sasl_bind_s(handle_, dn.c_str(), LDAP_SASL_SIMPLE, &credentials, nullptr,
                                      nullptr, nullptr);
    if (is_transport_failure(code)) fail(code, "bind");
    return BindOutcome{code, code == LDAP_SUCCESS ? std::string() : diagnostic_message(handle_)};
}

SearchResult Connection::search(const std::string& base, Scope scope, const std::string& filter,
                                const std::vector<std::string>& attributes, int size_limit,
                                int page_size) {
    SearchResult result;
    result.size_limit_exceeded =
        search_each(base, scope, filter, attributes, size_limit, page_size,
                    [&](Entry& entry) { result.entries.push_back(std::move(entry)); });
    return result;
}

bool Connection::search_each(const std::string& base, Scope scope, const std::string& filter,
                             const std::vector<std::string>& attributes, int size_limit,
                             int page_size, const std::function<void(Entry&)>& on_entry) {
    std::vector<char*> attribute_list;
    for (const auto& attribute : attributes) attribute_list.push_back(const_cast<char*>(attribute.c_str()));
    attribute_list.push_back(nullptr);

    bool size_limit_exceeded = false;
    int delivered = 0;
    struct CookieFree {
        void operator()(berval* cookie) const { ber_bvfree(cookie); }
    };
    std::unique_ptr<berval, CookieFree> cookie;
    timeval timeout{static_cast<time_t>(timeout_.count()), 0};
    int pages = 0;
    do {
        if (++pages > max_pages) throw DirectoryError("paged search on " + uri_ + ": too many pages");
        LDAPControl* page_control = nullptr;
        LDAPControl* server_controls[2] = {nullptr, nullptr};
        if (page_size > 0) {
            const int code = ldap_create_page_control(handle_, page_size, cookie.get(), 0, &page_control);
            if (code != LDAP_SUCCESS) fail(code, "paged search");
            server_controls[0] = page_control;
        }
        LDAPMessage* raw = nullptr;
        const int code = ldap_search_ext_s(handle_, base.c_str(), to_ldap_scope(scope), filter.c_str(),
                                           attribute_list.data(), 0,
                                           page_size > 0 ? server_controls : nullptr, nullptr,
                                           &timeout, size_limit, &raw);
        if (page_control) ldap_control_free(page_control);
        MessagePtr message(raw);
        cookie.reset();
        if (code == LDAP_NO_SUCH_OBJECT) return false;
        if (code == LDAP_SIZELIMIT_EXCEEDED) {
            size_limit_exceeded = true;
        } else if (code != LDAP_SUCCESS) {
            fail(code, "search");
        }

        for (LDAPMessage* entry = ldap_first_entry(handle_, message.get()); entry != nullptr;
             entry = ldap_next_entry(handle_, entry)) {
            // Some servers (Samba) ignore the requested size limit: enforce it here too.
            if (size_limit > 0 && delivered >= size_limit) {
                size_limit_exceeded = true;
                break;
            }
            ++delivered;
            Entry parsed;
            char* dn = ldap_get_dn(handle_, entry);
            if (dn) {
                parsed.dn = dn;
                ldap_memfree(dn);
            }
            BerElement* position = nullptr;
            for (char* name = ldap_first_attribute(handle_, entry, &position); name != nullptr;
                 name = ldap_next_attribute(handle_, entry, position)) {
                berval** values = ldap_get_values_len(handle_, entry, name);
                auto& stored = parsed.attributes[name];
                for (int i = 0; values && values[i]; ++i) {
                    stored.emplace_back(values[i]->bv_val, values[i]->bv_len);
                }
                if (values) ldap_value_free_len(values);
                ldap_memfree(name);
            }
            if (position) ber_free(position, 0);
            on_entry(parsed);
        }

        if (page_size <= 0 || size_limit_exceeded) break;
        // Find the server's page response control and its cookie for the next page.
        LDAPControl** response_controls = nullptr;
        int result_code = 0;
        if (const int code = ldap_parse_result(handle_, message.get(), &result_code, nullptr,
                                               nullptr, nullptr, &response_controls, 0);
            code != LDAP_SUCCESS) {
            fail(code, "paged search");  // never return a silently partial result
        }
        LDAPControl* page_response = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, response_controls, nullptr);
        if (page_response) {
            ber_int_t estimate = 0;
            berval next_cookie{0, nullptr};
            if (ldap_parse_pageresponse_control(handle_, page_response, &estimate, &next_cookie) ==
                    LDAP_SUCCESS &&
                next_cookie.bv_len > 0) {
                cookie.reset(ber_bvdup(&next_cookie));
            }
            if (next_cookie.bv_val) ber_memfree(next_cookie.bv_val);
        }
        if (response_controls) ldap_controls_free(response_controls);
    } while (cookie);
    return size_limit_exceeded;
}

bool Connection::is_active_directory() {
    const auto root = search("", Scope::base, "(objectClass=*)", {"supportedCapabilities"});
    if (root.entries.empty()) return false;
    for (const auto& capability : root.entries.front().all("supportedCapabilities")) {
        if (capability == "1.2.840.113556.1.4.800") return true;  // LDAP_CAP_ACTIVE_DIRECTORY_OID
    }
    return false;
}

std::string parent_dn(const std::string& dn) {
    LDAPDN parsed = nullptr;
    if (ldap_str2dn(dn.c_str(), &parsed, LDAP_DN_FORMAT_LDAP) != LDAP_SUCCESS || !parsed ||
        !parsed[0]) {
        if (parsed) ldap_dnfree(parsed);
        return {};
    }
    std::unique_ptr<LDAPRDN, DnFree> owner(parsed);
    char* text = nullptr;
    if (ldap_dn2str(parsed + 1, &text, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS || !text) return {};
    std::string parent = text;
    ldap_memfree(text);
    return parent;
}

std::string first_rdn_value(const std::string& dn) {
    LDAPDN parsed = nullptr;
    if (ldap_str2dn(dn.c_str(), &parsed, LDAP_DN_FORMAT_LDAP) != LDAP_SUCCESS || !parsed ||
        !parsed[0] || !parsed[0][0]) {
        if (parsed) ldap_dnfree(parsed);
        return {};
    }
    std::unique_ptr<LDAPRDN, DnFree> owner(parsed);
    const LDAPAVA* ava = parsed[0][0];
    return std::string(ava->la_value.bv_val, ava->la_value.bv_len);
}

}  // namespace keydesk::ldap
