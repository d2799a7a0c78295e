// The HTTP types handlers see: Beast requests and responses with string bodies.
#pragma once

#include <functional>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace keydesk::server {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// A body too large to hold in memory (exports), made piece by piece on the worker pool and sent
// with chunked transfer coding. Appends the next piece to `out` and returns false after the
// last. A throw cuts the connection, so the client sees a broken transfer, never a short file.
using BodySource = std::function<bool(std::string& out)>;

// What a handler answers: a response, and for a streamed one, the source of its body (the
// response's own body is then ignored).
struct Reply {
    Response response;
    BodySource stream;
};

// Who sent a request: the peer address (proxies are not trusted) and the id that ties the
// service log line to the audit record.
struct ClientInfo {
    std::string address;
    std::string request_id;
};

}  // namespace keydesk::server
