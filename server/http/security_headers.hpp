// The headers every answer carries, whoever writes it (the API or the HTTP layer's own errors).
#pragma once

#include "server/http/types.hpp"

namespace keydesk::server {

// CSP, HSTS, nosniff, no referrer, no framing; `Cache-Control: no-store` unless already set.
inline void add_security_headers(Response& response) {
    response.set("Content-Security-Policy",
                 "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                 "form-action 'self'");
    response.set(http::field::strict_transport_security, "max-age=63072000; includeSubDomains");
    response.set("X-Content-Type-Options", "nosniff");
    response.set("Referrer-Policy", "no-referrer");
    response.set(http::field::x_frame_options, "DENY");
    response.set("Cross-Origin-Opener-Policy", "same-origin");
    response.set("Cross-Origin-Resource-Policy", "same-origin");
    if (response[http::field::cache_control].empty()) {
        response.set(http::field::cache_control, "no-store");
    }
}

}  // namespace keydesk::server
