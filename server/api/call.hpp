// Shared by the API's handler files (api.cpp, audit_endpoints.cpp): one request being handled,
// and the JSON answers they build.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>
#include <boost/url/url_view.hpp>

#include "server/api/api.hpp"

namespace keydesk::server {

struct Api::Call {
    const Request& request;
    const ClientInfo& client;
    std::string_view path;
    boost::urls::url_view url;
    const Route* route = nullptr;
    std::string token;
    std::optional<StaffSession> session;
    BodySource stream;  // set by a handler that streams its body
};

Response json_response(const Request& request, http::status status, const boost::json::value& body);
Response error_response(const Request& request, http::status status, std::string_view code,
                        std::string_view detail = {});

}  // namespace keydesk::server
