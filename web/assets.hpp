// The web UI's files (web/*), compiled into the binary.
#pragma once

#include <string_view>

namespace keydesk::web {

struct Asset {
    std::string_view path;          // URL path: "/", "/assets/app.js"
    std::string_view content_type;
    std::string_view body;
    std::string_view etag;          // quoted, from the file's SHA-256
};

// The asset served at `path`, or nullptr.
const Asset* find_asset(std::string_view path);

}  // namespace keydesk::web
