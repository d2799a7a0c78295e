// keydesk's command line: `serve`, `doctor` and `audit verify`. Everything else lives in the libraries.
#include <CLI/CLI.hpp>

#include "server/app.hpp"

int main(int argc, char** argv) {
    CLI::App app{"keydesk: BitLocker recovery for Active Directory, with an audit trail"};
    app.require_subcommand(1);

    keydesk::server::ServeOptions serve_options;
    std::string ready_file;
    auto* serve = app.add_subcommand("serve", "Run the HTTPS server");
    serve->add_option("--config", serve_options.config_file, "keydesk.toml")->required();
    serve->add_option("--ready-file", ready_file, "Write the bound port here once serving");

    std::filesystem::path audit_config;
    auto* audit = app.add_subcommand("audit", "Work with the audit log");
    audit->require_subcommand(1);
    auto* verify = audit->add_subcommand("verify", "Check the audit log's chain end to end");
    verify->add_option("--config", audit_config, "keydesk.toml")->required();

    std::filesystem::path doctor_config;
    auto* doctor = app.add_subcommand("doctor", "Check the config, TLS, directory rights and audit log");
    doctor->add_option("--config", doctor_config, "keydesk.toml")->required();

    CLI11_PARSE(app, argc, argv);

    if (serve->parsed()) {
        if (!ready_file.empty()) serve_options.ready_file = ready_file;
        return keydesk::server::serve(serve_options);
    }
    if (verify->parsed()) return keydesk::server::verify_audit(audit_config);
    if (doctor->parsed()) return keydesk::server::doctor(doctor_config);
    return 2;
}
