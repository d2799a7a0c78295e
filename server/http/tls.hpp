// The server's TLS context: TLS 1.2/1.3 with Mozilla's "intermediate" ciphers.
#pragma once

#include <filesystem>

#include <boost/asio/ssl/context.hpp>

namespace keydesk::server {

// Throws std::runtime_error naming the file when the certificate chain or key cannot be loaded.
boost::asio::ssl::context make_server_tls_context(const std::filesystem::path& certificate_chain,
                                                  const std::filesystem::path& private_key);

}  // namespace keydesk::server
