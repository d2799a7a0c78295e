// TLS context set-up, following Mozilla's server-side TLS "intermediate" profile.
#include "server/http/tls.hpp"

#include <openssl/ssl.h>

#include <stdexcept>

namespace keydesk::server {

boost::asio::ssl::context make_server_tls_context(const std::filesystem::path& certificate_chain,
                                                  const std::filesystem::path& private_key) {
    namespace ssl = boost::asio::ssl;
    ssl::context context(ssl::context::tls_server);
    context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                        ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                        ssl::context::no_tlsv1_1 | ssl::context::single_dh_use |
                        SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
    // TLS 1.2 suites of the intermediate profile; TLS 1.3 suites are OpenSSL's defaults.
    SSL_CTX_set_cipher_list(context.native_handle(),
                            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                            "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                            "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"
                            "DHE-RSA-CHACHA20-POLY1305");
    boost::system::error_code error;
    context.use_certificate_chain_file(certificate_chain.string(), error);
    if (error) {
        throw std::runtime_error("cannot load TLS certificate " + certificate_chain.string() + ": " +
                                 error.message());
    }
    context.use_private_key_file(private_key.string(), ssl::context::pem, error);
    if (error) {
        throw std::runtime_error("cannot load TLS private key " + private_key.string() + ": " +
                                 error.message());
    }
    if (SSL_CTX_check_private_key(context.native_handle()) != 1) {
        throw std::runtime_error("TLS private key " + private_key.string() +
                                 " does not match the certificate");
    }
    return context;
}

}  // namespace keydesk::server
