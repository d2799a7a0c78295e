// The HTTP types handlers see: Beast requests and responses with string bodies.
#pragma once

#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace keydesk::server {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// Who sent a request: the peer address (proxies are not trusted) and the id that ties the
// service log line to the audit record.
struct ClientInfo {
    std::string address;
    std::string request_id;
};

}  // namespace keydesk::server
