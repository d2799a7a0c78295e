// HttpsClient: Beast's sync SSL client flow, certificate and host name verified.
#include "tests/support/https_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace keydesk::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::string HttpResult::header(const std::string& lower_name) const {
    const auto found = headers.find(lower_name);
    return found == headers.end() ? std::string() : found->second;
}

boost::json::value HttpResult::json() const { return boost::json::parse(body); }

std::string HttpResult::error() const {
    boost::system::error_code ec;
    const auto value = boost::json::parse(body, ec);
    if (ec || !value.is_object() || !value.as_object().contains("error")) return "";
    return std::string(value.at("error").as_string());
}

HttpsClient::HttpsClient(std::uint16_t port, std::filesystem::path ca_file, std::string host)
    : port_(port), ca_file_(std::move(ca_file)), host_(std::move(host)) {}

HttpResult HttpsClient::request(http::verb method, const std::string& target,
                                const std::optional<std::string>& json_body,
                                const std::map<std::string, std::string>& headers) {
    asio::io_context io;
    asio::ssl::context tls(asio::ssl::context::tls_client);
    tls.load_verify_file(ca_file_.string());
    tls.set_verify_mode(asio::ssl::verify_peer);
    asio::ssl::stream<asio::ip::tcp::socket> stream(io, tls);
    stream.set_verify_callback(asio::ssl::host_name_verification(host_));
    SSL_set_tlsext_host_name(stream.native_handle(), host_.c_str());
    asio::ip::tcp::resolver resolver(io);
    asio::connect(stream.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port_)));
    stream.handshake(asio::ssl::stream_base::client);

    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, host_ + ":" + std::to_string(port_));
    if (!cookie.empty()) request.set(http::field::cookie, cookie);
    if (json_body) {
        request.set(http::field::content_type, "application/json");
        request.body() = *json_body;
    }
    for (const auto& [name, value] : headers) request.set(name, value);
    request.prepare_payload();
    http::write(stream, request);

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(512 * 1024 * 1024);  // exports of 100,000 records and more
    http::read(stream, buffer, parser);
    auto response = parser.release();
    beast::error_code ignored;
    stream.shutdown(ignored);

    HttpResult result;
    result.status = response.result_int();
    result.body = response.body();
    for (const auto& field : response) {
        std::string name(field.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        result.headers.emplace(name, std::string(field.value()));
    }
    return result;
}

HttpResult HttpsClient::post(const std::string& target, const std::string& json_body) {
    std::map<std::string, std::string> headers;
    if (!csrf_token.empty()) headers["X-CSRF-Token"] = csrf_token;
    return request(http::verb::post, target, json_body, headers);
}

HttpResult HttpsClient::del(const std::string& target) {
    std::map<std::string, std::string> headers;
    if (!csrf_token.empty()) headers["X-CSRF-Token"] = csrf_token;
    return request(http::verb::delete_, target, std::nullopt, headers);
}

HttpResult HttpsClient::sign_in(const std::string& username, const std::string& password) {
    boost::json::object body{{"username", username}, {"password", password}};
    auto result = request(http::verb::post, "/api/v1/session", boost::json::serialize(body));
    if (result.status == 200) {
        const auto set_cookie = result.header("set-cookie");
        cookie = set_cookie.substr(0, set_cookie.find(';'));
        csrf_token = std::string(result.json().at("csrf_token").as_string());
    }
    return result;
}

}  // namespace keydesk::test
