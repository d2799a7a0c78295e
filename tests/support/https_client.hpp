// A small HTTPS client for end-to-end tests: Boost.Beast over a verified TLS connection,
// one connection per request, a cookie jar of one cookie.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include <boost/beast/http/verb.hpp>
#include <boost/json/value.hpp>

namespace keydesk::test {

struct HttpResult {
    unsigned status = 0;
    std::string body;
    std::multimap<std::string, std::string> headers;  // names in lower case

    std::string header(const std::string& lower_name) const;
    boost::json::value json() const;
    std::string error() const;  // the "error" member of a JSON body
};

class HttpsClient {
public:
    HttpsClient(std::uint16_t port, std::filesystem::path ca_file, std::string host = "localhost");

    HttpResult request(boost::beast::http::verb method, const std::string& target,
                       const std::optional<std::string>& json_body = std::nullopt,
                       const std::map<std::string, std::string>& headers = {});

    HttpResult get(const std::string& target) { return request(boost::beast::http::verb::get, target); }
    // POST with the session cookie and (if known) the CSRF header.
    HttpResult post(const std::string& target, const std::string& json_body);
    HttpResult del(const std::string& target);

    // Signs in; on success keeps the cookie and CSRF token for later calls.
    HttpResult sign_in(const std::string& username, const std::string& password);

    std::string cookie;      // "__Host-keydesk=..."
    std::string csrf_token;

private:
    std::uint16_t port_;
    std::filesystem::path ca_file_;
    std::string host_;
};

}  // namespace keydesk::test
