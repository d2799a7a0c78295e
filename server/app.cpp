// serve(): start-up checks in order, then the I/O loop, then a graceful stop that is audited.
#include "server/app.hpp"

#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>
#include <stop_token>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/serialize.hpp>

#include "audit/audit_log.hpp"
#include "audit/export.hpp"
#include "ldap/directory.hpp"
#include "server/api/api.hpp"
#include "server/http/server.hpp"
#include "server/http/tls.hpp"

namespace keydesk::server {
namespace {

namespace asio = boost::asio;

boost::json::object service_record(std::string_view event) {
    return {{"event", event}, {"actor", "keydesk"}, {"client", ""}, {"request_id", ""},
            {"outcome", "success"}};
}

}  // namespace

audit::ReportSettings report_settings(const config::ReportsConfig& reports) {
    audit::ReportSettings settings;
    settings.business_start_minute = reports.business_start_minute;
    settings.business_end_minute = reports.business_end_minute;
    settings.business_days = reports.business_days;
    settings.business_day_names = reports.business_day_names;
    settings.timezone = reports.timezone.empty() ? "local time of the server" : reports.timezone;
    settings.unusual_factor = reports.unusual_factor;
    settings.unusual_minimum = reports.unusual_minimum;
    return settings;
}

audit::AuditSettings audit_settings(const config::AuditConfig& audit) {
    audit::AuditSettings settings;
    settings.signing_key_file = audit.signing_key_file;
    settings.checkpoint_every_records = audit.checkpoint_records;
    settings.checkpoint_interval = audit.checkpoint_interval;
    settings.checkpoint_syslog = audit.checkpoint_syslog;
    settings.checkpoint_file = audit.checkpoint_file;
    settings.max_file_bytes = audit.rotate_bytes;
    settings.rotate_daily = audit.rotate_daily;
    // Runs on the audit sender's thread; a lost copy is worth a warning, never a stop.
    settings.on_delivery_failure = [](std::string_view problem) {
        spdlog::warn("audit checkpoint: {}", problem);
    };
    return settings;
}

ldap::DirectorySettings directory_settings(const config::Config& config) {
    const auto& directory = config.directory;
    ldap::DirectorySettings settings;
    settings.uris = directory.uris;
    settings.base_dn = directory.base_dn;
    settings.bind_dn = directory.bind_dn;
    settings.bind_password = config::read_secret_file(directory.bind_password_file, "bind password");
    settings.tls_ca_file = directory.tls_ca_file;
    settings.start_tls = directory.start_tls;
    settings.tls_verify = directory.tls_verify;
    settings.timeout = directory.timeout;
    settings.domain = directory.domain;
    switch (directory.group_resolution) {
        case config::GroupResolution::automatic:
            settings.group_resolution = ldap::GroupResolution::automatic;
            break;
        case config::GroupResolution::in_chain:
            settings.group_resolution = ldap::GroupResolution::in_chain;
            break;
        case config::GroupResolution::recursive:
            settings.group_resolution = ldap::GroupResolution::recursive;
            break;
    }
    settings.pool_size = config.server.worker_threads;
    settings.max_results = config.lookup.max_results;
    settings.index_poll = directory.index_poll;
    settings.index_full_resync = directory.index_full_resync;
    return settings;
}

void harden_process() {
    // Recovery passwords pass through this process's memory: never into a core dump.
    ::prctl(PR_SET_DUMPABLE, 0);
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    // Every connection is a descriptor: take what the system allows, not the default 1024.
    rlimit files{};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &files);
    }
}

int serve(const ServeOptions& options) {
    harden_process();
    config::Config config;
    std::string audit_key;
    try {
        config = config::load_config(options.config_file);
        audit_key = config::read_secret_file(config.audit.key_file, "audit key");
    } catch (const config::ConfigError& error) {
        std::cerr << "keydesk: " << error.what() << "\n";
        return 2;
    }
    // Business hours in reports are local time. Set before any thread starts (localtime reads TZ).
    if (!config.reports.timezone.empty()) {
        ::setenv("TZ", config.reports.timezone.c_str(), 1);
        ::tzset();
    }

    std::unique_ptr<audit::RecoveringAuditLog> audit_log;
    try {
        audit_log = std::make_unique<audit::RecoveringAuditLog>(config.audit.directory, audit_key,
                                                                audit_settings(config.audit));
    } catch (const std::exception& error) {
        std::cerr << "keydesk: cannot open the audit log in " << config.audit.directory << ": "
                  << error.what() << "\n";
        return 1;
    }
    for (const auto& warning : audit_log->take_warnings()) spdlog::warn("audit log: {}", warning);
    if (const auto checkpoints = audit_log->current()->checkpoint_status(); checkpoints.signing) {
        spdlog::info("audit checkpoints signed with key {}", checkpoints.key_id);
    } else {
        spdlog::warn("audit log: [audit] signing_key_file is not set, so no signed checkpoints: "
                     "auditors need the HMAC key to verify. Create one with `keydesk audit keygen`.");
    }

    std::unique_ptr<ldap::Directory> directory;
    try {
        auto settings = directory_settings(config);
        if (!settings.tls_verify) {
            spdlog::critical(
                "directory.tls_verify = false: the directory's certificate is NOT checked. "
                "Use this for demos only; anyone on the network path can read the service "
                "account's password and every recovery password.");
        }
        directory = std::make_unique<ldap::Directory>(std::move(settings));
        directory->check_connection();
        // Ready now; prefix lookups search live until the index has loaded in the background.
        directory->start_index();
    } catch (const config::ConfigError& error) {
        std::cerr << "keydesk: " << error.what() << "\n";
        return 2;
    } catch (const std::exception& error) {
        std::cerr << "keydesk: cannot bind to the directory as " << config.directory.bind_dn << ": "
                  << error.what() << "\n";
        return 1;
    }

    std::shared_ptr<asio::ssl::context> tls;
    try {
        tls = std::make_shared<asio::ssl::context>(make_server_tls_context(
            config.server.tls_certificate, config.server.tls_private_key));
    } catch (const std::exception& error) {
        std::cerr << "keydesk: " << error.what() << "\n";
        return 1;
    }

    SessionStore sessions(config.server.session_idle, config.server.session_max);
    LoginThrottle throttle({config.limits.sign_in_failures_per_account,
                            config.limits.sign_in_failures_per_client, std::chrono::minutes(15)});
    RoleMap roles(config.roles);
    RateLimiter lookups_limiter(lookup_limits(config.limits));
    RateLimiter reveals_limiter(reveal_limits(config.limits));
    // The Audit page's index (rebuilt from the files if missing) and the integrity banner's checks.
    std::unique_ptr<audit::AuditIndex> audit_index;
    try {
        audit_index = std::make_unique<audit::AuditIndex>(config.audit.directory, config.audit.index_file);
    } catch (const std::exception& error) {
        std::cerr << "keydesk: cannot open the audit index " << config.audit.index_file << ": "
                  << error.what() << "\n";
        return 1;
    }
    audit::VerifyOptions verify_options;
    verify_options.directory = config.audit.directory;
    verify_options.hmac_key = audit_key;
    verify_options.public_keys_pem = audit_log->current()->public_key_pem();
    if (!config.audit.checkpoint_file.empty() && std::filesystem::exists(config.audit.checkpoint_file)) {
        verify_options.checkpoint_files.push_back(config.audit.checkpoint_file);
    }
    audit::IntegrityMonitor integrity(verify_options, config.audit.verify_interval);
    AuditReview review{*audit_index, integrity, report_settings(config.reports), config.audit.directory};
    // Follows the log in the background so that the Audit page's queries find the index current.
    std::jthread index_follower([&audit_index](std::stop_token stop) {
        std::mutex mutex;
        std::condition_variable_any wake;
        while (!stop.stop_requested()) {
            try {
                audit_index->refresh();
            } catch (const std::exception& error) {
                spdlog::warn("audit index: {}", error.what());
            }
            std::unique_lock lock(mutex);
            wake.wait_for(lock, stop, std::chrono::seconds(2), [] { return false; });
        }
    });

    Api api(ApiServices{*directory, *audit_log, sessions, throttle, roles, config.lookup,
                        config.server.session_idle, lookups_limiter, reveals_limiter,
                        config.limits.session_recheck, &review,
                        config.limits.audited_refusals_per_minute});

    asio::io_context io(1);
    asio::thread_pool workers(config.server.worker_threads);
    HttpLimits http_limits;
    http_limits.max_connections = config.limits.max_connections;
    http_limits.max_connections_per_client = config.limits.max_connections_per_client;
    http_limits.max_pending_requests = config.limits.max_pending_requests;
    HttpServer http_server(io, tls, workers,
                           [&api](const Request& request, const ClientInfo& client) {
                               return api.handle(request, client);
                           },
                           http_limits);
    try {
        const auto address = asio::ip::make_address(config.server.listen_host);
        http_server.listen({address, config.server.listen_port});
    } catch (const std::exception& error) {
        std::cerr << "keydesk: cannot listen on " << config.server.listen_host << ":"
                  << config.server.listen_port << ": " << error.what() << "\n";
        return 1;
    }

    try {
        auto record = service_record("service.start");
        record["version"] = "0.1.0";
        record["directory_tls_verify"] = config.directory.tls_verify;
        audit_log->append(std::move(record));
    } catch (const std::exception& error) {
        std::cerr << "keydesk: cannot write to the audit log: " << error.what() << "\n";
        return 1;
    }

    asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
    asio::steady_timer deadline(io);
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& error, int signal) {
            if (error) return;
            if (signal == SIGHUP) {
                // Reopens the audit file (after a checkpoint) and reconnects the checkpoint
                // targets; never fatal.
                try {
                    audit_log->current()->reopen();
                    spdlog::info("SIGHUP: audit log reopened: {}",
                                 audit_log->current()->current_file().string());
                } catch (const std::exception& reopen_error) {
                    spdlog::error("SIGHUP: cannot reopen the audit log: {}", reopen_error.what());
                }
                // A renewed certificate: new connections get it, open ones are not dropped. A
                // broken file keeps the old one in service.
                try {
                    http_server.set_tls_context(std::make_shared<asio::ssl::context>(
                        make_server_tls_context(config.server.tls_certificate,
                                                config.server.tls_private_key)));
                    spdlog::info("SIGHUP: TLS certificate reloaded from {}",
                                 config.server.tls_certificate.string());
                } catch (const std::exception& tls_error) {
                    spdlog::error("SIGHUP: keeping the current TLS certificate: {}", tls_error.what());
                }
                signals.async_wait(on_signal);
                return;
            }
            spdlog::info("signal {}: finishing in-flight requests", signal);
            // In-flight requests get a grace period; then the loop stops regardless.
            deadline.expires_after(std::chrono::seconds(10));
            deadline.async_wait([&](const boost::system::error_code& timer_error) {
                if (!timer_error) io.stop();
            });
            http_server.stop([&] {
                deadline.cancel();
                signals.cancel();
            });
        };
    signals.async_wait(on_signal);

    const auto port = http_server.port();
    spdlog::info("keydesk listening on https://{}:{}", config.server.listen_host, port);
    if (options.ready_file) {
        std::ofstream(*options.ready_file) << port << "\n";
    }

    // The loop ends when every connection is closed after stop() (or at the deadline).
    io.run();
    workers.join();

    try {
        audit_log->append(service_record("service.stop"));
    } catch (const std::exception& error) {
        spdlog::error("could not audit service.stop: {}", error.what());
        return 1;
    }
    // The shutdown checkpoint; its off-host copies get the send timeout to leave.
    audit_log->current()->close();
    if (!audit_log->current()->healthy()) {
        spdlog::error("could not write the shutdown checkpoint: {}", audit_log->failure());
        return 1;
    }
    spdlog::info("keydesk stopped");
    return 0;
}

namespace {

std::string read_text_file(const std::filesystem::path& file, const std::string& what) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw config::ConfigError(what + " " + file.string() + ": cannot be read");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

int verify_audit(const AuditVerifyOptions& options) {
    if (!options.bundle.empty()) {
        if (options.public_key_file.empty()) {
            std::cerr << "keydesk: --bundle needs --public-key: the key you trust, obtained from the "
                         "keydesk operators (not the one inside the bundle)\n";
            return 2;
        }
        try {
            const auto report = audit::verify_bundle(
                options.bundle, read_text_file(options.public_key_file, "public key file"));
            std::cout << audit::describe(report);
            return report.ok ? 0 : 1;
        } catch (const std::exception& error) {
            std::cerr << "keydesk: " << error.what() << "\n";
            return 2;
        }
    }
    audit::VerifyOptions verify;
    try {
        if (options.config_file.empty() == options.directory.empty()) {
            std::cerr << "keydesk: give either --config or --dir\n";
            return 2;
        }
        if (!options.config_file.empty()) {
            // On the server: everything the config names, unless given explicitly.
            const auto config = config::load_config(options.config_file);
            verify.directory = config.audit.directory;
            verify.hmac_key = config::read_secret_file(
                options.key_file.empty() ? config.audit.key_file : options.key_file, "audit key");
            if (options.public_key_file.empty() && !config.audit.signing_key_file.empty()) {
                verify.public_keys_pem = audit::public_key_pem_of(config.audit.signing_key_file);
            }
            if (!config.audit.checkpoint_file.empty() &&
                std::filesystem::exists(config.audit.checkpoint_file)) {
                verify.checkpoint_files.push_back(config.audit.checkpoint_file);
            }
        } else {
            verify.directory = options.directory;
            if (!options.key_file.empty()) {
                verify.hmac_key = config::read_secret_file(options.key_file, "audit key");
            }
        }
        if (!options.public_key_file.empty()) {
            verify.public_keys_pem = read_text_file(options.public_key_file, "public key file");
        }
        for (const auto& file : options.checkpoint_files) verify.checkpoint_files.push_back(file);
        verify.live = options.live;
    } catch (const config::ConfigError& error) {
        std::cerr << "keydesk: " << error.what() << "\n";
        return 2;
    } catch (const audit::SigningError& error) {
        std::cerr << "keydesk: " << error.what() << "\n";
        return 2;
    }
    if (!std::filesystem::is_directory(verify.directory)) {
        std::cerr << "keydesk: " << verify.directory << " is not a directory\n";
        return 2;
    }
    const auto report = audit::verify_log(verify);
    if (options.json) {
        std::cout << boost::json::serialize(audit::to_json(report)) << "\n";
    } else {
        std::cout << audit::describe(report);
    }
    return report.ok ? 0 : 1;
}

int audit_export(const AuditExportOptions& options) {
    try {
        const auto config = config::load_config(options.config_file);
        std::string problem;
        const auto filter = audit::parse_filter(options.filters, {}, problem);
        if (!filter) {
            std::cerr << "keydesk: " << problem << "\n";
            return 2;
        }
        audit::AuditIndex index(config.audit.directory, config.audit.index_file);
        const auto up_to = index.refresh_and_wait();
        audit::ExportStream stream(index, config.audit.directory, *filter, up_to,
                                   options.format == "json" ? audit::ExportFormat::json
                                                            : audit::ExportFormat::csv);
        std::ofstream file;
        if (!options.output.empty()) {
            file.open(options.output, std::ios::binary | std::ios::trunc);
            if (!file) {
                std::cerr << "keydesk: cannot write " << options.output << "\n";
                return 2;
            }
        }
        std::ostream& out = options.output.empty() ? std::cout : file;
        std::string piece;
        for (bool more = true; more;) {
            piece.clear();
            more = stream.next(piece);
            out << piece;
        }
        out.flush();
        if (!out) {
            std::cerr << "keydesk: writing the export failed\n";
            return 1;
        }
        std::cerr << "keydesk: exported " << stream.rows() << " audit records\n";
        return 0;
    } catch (const config::ConfigError& error) {
        std::cerr << "keydesk: " << error.what() << "\n";
        return 2;
    } catch (const std::exception& error) {
        std::cerr << "keydesk: " << error.what() << "\n";
        return 1;
    }
}

int verify_audit(const std::filesystem::path& config_file) {
    AuditVerifyOptions options;
    options.config_file = config_file;
    return verify_audit(options);
}

int audit_public_key(const std::filesystem::path& config_file) {
    try {
        const auto config = config::load_config(config_file);
        if (config.audit.signing_key_file.empty()) {
            std::cerr << "keydesk: [audit] signing_key_file is not set\n";
            return 2;
        }
        std::cout << audit::public_key_pem_of(config.audit.signing_key_file);
        return 0;
    } catch (const config::ConfigError& error) {
        std::cerr << "keydesk: " << error.what() << "\n";
        return 2;
    } catch (const audit::SigningError& error) {
        std::cerr << "keydesk: " << error.what() << "\n";
        return 1;
    }
}

int audit_keygen(const std::filesystem::path& config_file) {
    try {
        const auto config = config::load_config(config_file);
        if (config.audit.signing_key_file.empty()) {
            std::cerr << "keydesk: set [audit] signing_key_file first\n";
            return 2;
        }
        std::cout << audit::generate_signing_key(config.audit.signing_key_file);
        std::cerr << "keydesk: created " << config.audit.signing_key_file.string()
                  << " (mode 0600; chown it to the keydesk user). Give the public key above to "
                     "your auditors and keep a copy apart from this host.\n";
        return 0;
    } catch (const config::ConfigError& error) {
        std::cerr << "keydesk: " << error.what() << "\n";
        return 2;
    } catch (const audit::SigningError& error) {
        std::cerr << "keydesk: " << error.what() << "\n";
        return 1;
    }
}

}  // namespace keydesk::server
