// The HTTPS front: accepts connections, does TLS, reads bounded requests, runs the handler on the
// worker pool (never on the I/O thread: it may block on LDAP and on the audit sync), writes back.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "server/http/types.hpp"

namespace keydesk::server {

struct HttpLimits {
    std::size_t header_limit = 8 * 1024;
    std::size_t body_limit = 16 * 1024;
    std::chrono::seconds handshake_timeout{10};
    std::chrono::seconds read_timeout{30};   // a whole request, once it has started
    std::chrono::seconds idle_timeout{60};   // between keep-alive requests
    std::chrono::seconds write_timeout{30};
    unsigned max_requests_per_connection = 1000;
    unsigned max_connections = 1024;
    unsigned max_connections_per_client = 64;  // per peer address
    std::chrono::minutes max_connection_age{10};  // then the connection closes after a request
    // Requests waiting for or running on the worker pool; past this, 503 at once (Retry-After)
    // rather than an ever longer queue.
    unsigned max_pending_requests = 256;
};

class HttpServer {
public:
    // Runs on the worker pool; must not throw (a throw becomes a plain 500).
    using Handler = std::function<Reply(const Request&, const ClientInfo&)>;

    HttpServer(boost::asio::io_context& io, std::shared_ptr<boost::asio::ssl::context> tls,
               boost::asio::thread_pool& workers, Handler handler, HttpLimits limits = {});

    // Binds and listens; throws boost::system::system_error if the address cannot be used.
    void listen(const boost::asio::ip::tcp::endpoint& endpoint);
    std::uint16_t port() const;

    // New connections use `tls` (a renewed certificate); open ones keep theirs. I/O thread only.
    void set_tls_context(std::shared_ptr<boost::asio::ssl::context> tls) { tls_ = std::move(tls); }

    // Stops accepting, closes idle keep-alive connections and lets in-flight requests finish;
    // `on_drained` runs (on the I/O thread) once the last connection has closed.
    // Call on the I/O thread.
    void stop(std::function<void()> on_drained);

private:
    struct Connection;
    // Shared with every connection's coroutine, so that a coroutine frame destroyed late (with
    // its io_context) never touches a destroyed server.
    struct Registry {
        bool stopping = false;
        std::uint64_t next_id = 0;
        std::unordered_map<std::uint64_t, Connection*> connections;  // I/O thread only
        std::unordered_map<std::string, unsigned> per_client;         // open connections per IP
        unsigned pending_requests = 0;                                // on or for the worker pool
        std::function<void()> on_drained;
    };
    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);

    boost::asio::io_context& io_;
    std::shared_ptr<boost::asio::ssl::context> tls_;
    boost::asio::thread_pool& workers_;
    Handler handler_;
    HttpLimits limits_;
    boost::asio::ip::tcp::acceptor acceptor_;
    std::shared_ptr<Registry> registry_ = std::make_shared<Registry>();
};

// A random id for a request: 16 hex characters.
std::string new_request_id();

}  // namespace keydesk::server
