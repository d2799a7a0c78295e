// HttpServer: Beast's async-ssl server flow written with C++20 coroutines.
#include "server/http/server.hpp"

#include "server/http/security_headers.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace keydesk::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Paths in the service log: no query string (nothing secret travels there, but it is the
// caller's input), printable ASCII only, bounded.
std::string loggable_path(std::string_view target) {
    target = target.substr(0, target.find('?'));
    std::string out;
    for (char c : target.substr(0, 128)) out.push_back(c >= 0x21 && c < 0x7f ? c : '_');
    return out;
}

Response plain_error(http::status status, std::string_view code) {
    Response response{status, 11};
    response.set(http::field::content_type, "application/json");
    add_security_headers(response);
    response.body() = std::string(R"({"error":")") + std::string(code) + "\"}";
    response.keep_alive(false);
    return response;
}

// Sends `response`'s header, then the body `source` makes, in chunks of about 64 KiB produced on
// the worker pool. False if the transfer was cut (the source threw, or the peer went away).
asio::awaitable<bool> write_streamed(beast::ssl_stream<beast::tcp_stream>& stream,
                                     asio::thread_pool& workers, std::chrono::seconds write_timeout,
                                     Response& response, BodySource source,
                                     const std::string& request_id) {
    constexpr std::size_t chunk_size = 64 * 1024;
    response.body().clear();
    response.chunked(true);
    http::response_serializer<http::string_body> serializer{response};
    beast::get_lowest_layer(stream).expires_after(write_timeout);
    auto [header_error, header_bytes] = co_await http::async_write_header(stream, serializer, use_tuple);
    if (header_error) co_return false;
    std::string piece;
    for (bool more = true; more;) {
        piece.clear();
        bool failed = false;
        more = co_await asio::co_spawn(
            workers,
            [&]() -> asio::awaitable<bool> {
                try {
                    bool again = true;
                    while (again && piece.size() < chunk_size) again = source(piece);
                    co_return again;
                } catch (const std::exception& error) {
                    spdlog::error("rid={} streamed body cut short: {}", request_id, error.what());
                    failed = true;
                    co_return false;
                }
            },
            asio::use_awaitable);
        if (failed) co_return false;  // no last chunk: the client sees an incomplete transfer
        if (!piece.empty()) {
            beast::get_lowest_layer(stream).expires_after(write_timeout);
            auto [error, written] =
                co_await asio::async_write(stream, http::make_chunk(asio::buffer(piece)), use_tuple);
            if (error) co_return false;
        }
    }
    beast::get_lowest_layer(stream).expires_after(write_timeout);
    auto [last_error, written] = co_await asio::async_write(stream, http::make_chunk_last(), use_tuple);
    co_return !last_error;
}

}  // namespace

std::string new_request_id() {
    unsigned char bytes[8];
    RAND_bytes(bytes, sizeof bytes);
    static constexpr char hex[] = "0123456789abcdef";
    std::string id;
    for (auto byte : bytes) {
        id.push_back(hex[byte >> 4]);
        id.push_back(hex[byte & 0x0F]);
    }
    return id;
}

struct HttpServer::Connection {
    beast::ssl_stream<beast::tcp_stream>* stream = nullptr;
    // Waiting for a request; safe to close at shutdown while no byte of it has arrived.
    bool idle = false;
    const http::request_parser<http::string_body>* parser = nullptr;
};

HttpServer::HttpServer(asio::io_context& io, std::shared_ptr<asio::ssl::context> tls,
                       asio::thread_pool& workers,
                       Handler handler, HttpLimits limits)
    : io_(io), tls_(std::move(tls)), workers_(workers), handler_(std::move(handler)), limits_(limits),
      acceptor_(io) {}

void HttpServer::listen(const tcp::endpoint& endpoint) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    asio::co_spawn(io_, accept_loop(), asio::detached);
}

std::uint16_t HttpServer::port() const { return acceptor_.local_endpoint().port(); }

void HttpServer::stop(std::function<void()> on_drained) {
    registry_->stopping = true;
    registry_->on_drained = std::move(on_drained);
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& [id, connection] : registry_->connections) {
        if (connection->idle && connection->parser && !connection->parser->got_some()) {
            beast::get_lowest_layer(*connection->stream).cancel();
        }
    }
    if (registry_->connections.empty() && registry_->on_drained) {
        asio::post(io_, std::exchange(registry_->on_drained, nullptr));
    }
}

asio::awaitable<void> HttpServer::accept_loop() {
    while (!registry_->stopping) {
        auto [error, socket] = co_await acceptor_.async_accept(use_tuple);
        if (error) {
            if (registry_->stopping || error == asio::error::operation_aborted) break;
            spdlog::warn("accept failed: {}", error.message());
            continue;
        }
        if (registry_->connections.size() >= limits_.max_connections) {
            spdlog::warn("connection refused: {} connections open", registry_->connections.size());
            continue;  // the socket closes as it goes out of scope
        }
        boost::system::error_code peer_error;
        const auto peer = socket.remote_endpoint(peer_error);
        if (!peer_error &&
            registry_->per_client[peer.address().to_string()] >= limits_.max_connections_per_client) {
            spdlog::warn("connection from {} refused: {} open from there", peer.address().to_string(),
                         limits_.max_connections_per_client);
            continue;
        }
        asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
    }
}

asio::awaitable<void> HttpServer::serve(tcp::socket socket) {
    boost::system::error_code endpoint_error;
    const auto peer = socket.remote_endpoint(endpoint_error);
    const std::string client_address = endpoint_error ? "unknown" : peer.address().to_string();

    const auto tls = tls_;  // this connection keeps its context even if a reload replaces it
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
    Connection connection{&stream, false, nullptr};
    const auto id = registry_->next_id++;
    registry_->connections.emplace(id, &connection);
    ++registry_->per_client[client_address];
    struct Unregister {
        std::shared_ptr<Registry> registry;
        std::uint64_t id;
        std::string client;
        ~Unregister() {
            registry->connections.erase(id);
            if (auto found = registry->per_client.find(client);
                found != registry->per_client.end() && --found->second == 0) {
                registry->per_client.erase(found);
            }
            if (registry->stopping && registry->connections.empty() && registry->on_drained) {
                std::exchange(registry->on_drained, nullptr)();
            }
        }
    } unregister{registry_, id, client_address};
    const auto opened = std::chrono::steady_clock::now();

    beast::get_lowest_layer(stream).expires_after(limits_.handshake_timeout);
    auto [handshake_error] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
    if (handshake_error) {
        spdlog::debug("TLS handshake with {} failed: {}", client_address, handshake_error.message());
        co_return;
    }

    beast::flat_buffer buffer;
    for (unsigned served = 0;
         served < limits_.max_requests_per_connection && !registry_->stopping; ++served) {
        // A fresh parser per request, so the limits apply to each message.
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(limits_.header_limit));
        parser.body_limit(limits_.body_limit);

        beast::get_lowest_layer(stream).expires_after(served == 0 ? limits_.read_timeout
                                                                  : limits_.idle_timeout);
        connection.idle = true;
        connection.parser = &parser;
        auto [read_error, read_bytes] = co_await http::async_read(stream, buffer, parser, use_tuple);
        connection.idle = false;
        connection.parser = nullptr;
        if (read_error == http::error::end_of_stream || read_error == asio::error::operation_aborted ||
            read_error == beast::error::timeout || read_error == asio::ssl::error::stream_truncated) {
            break;
        }
        const auto started = std::chrono::steady_clock::now();
        ClientInfo client{client_address, new_request_id()};
        Response response;
        BodySource body_source;
        std::string method = "-";
        std::string path = "-";
        if (read_error) {
            // Too large or malformed: answer once, then close, as the stream is out of step.
            if (read_error == http::error::body_limit) {
                response = plain_error(http::status::payload_too_large, "body_too_large");
            } else if (read_error == http::error::header_limit) {
                response = plain_error(http::status::request_header_fields_too_large,
                                       "headers_too_large");
            } else if (read_error.category() == http::make_error_code(http::error::bad_target).category()) {
                response = plain_error(http::status::bad_request, "bad_request");
            } else {
                break;  // connection-level failure: nothing to answer
            }
        } else if (registry_->pending_requests >= limits_.max_pending_requests) {
            const Request& request = parser.get();
            method = std::string(request.method_string());
            path = loggable_path(request.target());
            response = plain_error(http::status::service_unavailable, "overloaded");
            response.set(http::field::retry_after, "1");
            spdlog::warn("overloaded: {} requests pending; refusing", registry_->pending_requests);
        } else {
            const Request& request = parser.get();
            method = std::string(request.method_string());
            path = loggable_path(request.target());
            ++registry_->pending_requests;
            struct Pending {
                Registry& registry;
                ~Pending() { --registry.pending_requests; }
            } pending{*registry_};
            auto reply = co_await asio::co_spawn(
                workers_,
                [&]() -> asio::awaitable<Reply> {
                    try {
                        co_return handler_(request, client);
                    } catch (const std::exception& error) {
                        spdlog::error("request {} failed: {}", client.request_id, error.what());
                        co_return Reply{plain_error(http::status::internal_server_error, "internal_error"), {}};
                    }
                },
                asio::use_awaitable);
            response = std::move(reply.response);
            body_source = std::move(reply.stream);
            response.keep_alive(response.keep_alive() && request.keep_alive() && !registry_->stopping &&
                                served + 1 < limits_.max_requests_per_connection &&
                                std::chrono::steady_clock::now() - opened < limits_.max_connection_age);
        }
        if (body_source) {
            response.keep_alive(false);  // a long transfer ends the connection
            const bool completed = co_await write_streamed(stream, workers_, limits_.write_timeout,
                                                           response, std::move(body_source),
                                                           client.request_id);
            spdlog::info("{} {} {} streamed {:.1f}ms rid={} client={}{}", method, path,
                         response.result_int(),
                         std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count(),
                         client.request_id, client_address, completed ? "" : " (cut short)");
            if (!completed || !response.keep_alive()) break;
            continue;
        }
        if (response.result() == http::status::no_content ||
            response.result() == http::status::not_modified) {
            // RFC 9110: no body and no Content-Length on 204; a 304 keeps the headers it has.
            response.body().clear();
            response.erase(http::field::content_length);
        } else if (!(method == "HEAD" && response.has_content_length())) {
            response.prepare_payload();  // (a HEAD answer keeps the length its GET would have)
        }

        beast::get_lowest_layer(stream).expires_after(limits_.write_timeout);
        auto [write_error, written] = co_await http::async_write(stream, response, use_tuple);
        const auto elapsed = std::chrono::duration<double, std::milli>(
                                 std::chrono::steady_clock::now() - started)
                                 .count();
        spdlog::info("{} {} {} {:.1f}ms rid={} client={}", method, path, response.result_int(),
                     elapsed, client.request_id, client_address);
        // The bodies may have held a staff or recovery password: wipe them, not just free them.
        OPENSSL_cleanse(response.body().data(), response.body().size());
        if (!read_error) OPENSSL_cleanse(parser.get().body().data(), parser.get().body().size());
        if (write_error || !response.keep_alive()) break;
    }

    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
    // The peer may close without close_notify (stream_truncated): nothing is lost at this point.
    co_await stream.async_shutdown(use_tuple);
}

}  // namespace keydesk::server
