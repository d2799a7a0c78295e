// keydesk's command line: `serve`, `doctor` and `audit verify|export|public-key|keygen`. Everything else lives in the libraries.
#include <CLI/CLI.hpp>

#include <map>
#include <string>

#include "server/app.hpp"

int main(int argc, char** argv) {
    CLI::App app{"keydesk: BitLocker recovery for Active Directory, with an audit trail"};
    app.require_subcommand(1);

    keydesk::server::ServeOptions serve_options;
    std::string ready_file;
    auto* serve = app.add_subcommand("serve", "Run the HTTPS server");
    serve->add_option("--config", serve_options.config_file, "keydesk.toml")->required();
    serve->add_option("--ready-file", ready_file, "Write the bound port here once serving");

    auto* audit = app.add_subcommand("audit", "Work with the audit log");
    audit->require_subcommand(1);
    keydesk::server::AuditVerifyOptions verify_options;
    auto* verify = audit->add_subcommand(
        "verify", "Check the audit log end to end: chain, signed checkpoints, copies kept outside");
    auto* verify_config = verify->add_option("--config", verify_options.config_file,
                                             "keydesk.toml: its directory, keys and checkpoint file");
    auto* verify_dir = verify->add_option("--dir", verify_options.directory,
                                          "An audit directory (or a copy of one), without a config");
    verify_config->excludes(verify_dir);
    verify->add_option("--key-file", verify_options.key_file,
                       "The HMAC key; without it macs are not checked (checkpoints still are)");
    verify->add_option("--public-key", verify_options.public_key_file,
                       "PEM file with the public key(s) checkpoints must be signed with");
    verify->add_option("--checkpoint", verify_options.checkpoint_files,
                       "Checkpoints kept outside: the second file, a syslog file or SIEM export "
                       "(repeatable); the log must reach the newest")
        ->check(CLI::ExistingFile);
    verify->add_flag("--live", verify_options.live,
                     "The log is being written: an incomplete last line is not damage");
    verify->add_flag("--json", verify_options.json, "Print the report as JSON");
    auto* verify_bundle = verify->add_option(
        "--bundle", verify_options.bundle,
        "An evidence bundle (.tar.gz, or its extracted folder) instead of a log; needs --public-key")
        ->check(CLI::ExistingPath);
    verify_bundle->excludes(verify_config)->excludes(verify_dir);

    keydesk::server::AuditExportOptions export_options;
    auto* export_command = audit->add_subcommand(
        "export", "Write the audit records matching the filters as CSV or JSON Lines (for scripts and cron)");
    export_command->add_option("--config", export_options.config_file, "keydesk.toml")->required();
    export_command->add_option("--format", export_options.format, "csv (default) or json")
        ->check(CLI::IsMember({"csv", "json"}));
    export_command->add_option("--output", export_options.output, "Write here instead of stdout");
    std::map<std::string, std::string> export_filters;
    for (const auto* name : {"from", "to", "actor", "computer", "key-id", "event", "outcome", "reason", "ticket"}) {
        std::string option = std::string("--") + name;
        std::string description = std::string("Only records whose ") + name + " matches (as the Audit page's filter)";
        if (std::string_view(name) == "from" || std::string_view(name) == "to") {
            description = "UTC: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]; from inclusive, to exclusive (a date: through its end)";
        }
        export_command->add_option(option, export_filters[name], description);
    }

    std::filesystem::path public_key_config;
    auto* public_key = audit->add_subcommand(
        "public-key", "Print the public key checkpoints are signed with, for auditors");
    public_key->add_option("--config", public_key_config, "keydesk.toml")->required();

    std::filesystem::path keygen_config;
    auto* keygen = audit->add_subcommand(
        "keygen", "Create the checkpoint signing key [audit] signing_key_file names");
    keygen->add_option("--config", keygen_config, "keydesk.toml")->required();

    std::filesystem::path doctor_config;
    auto* doctor = app.add_subcommand("doctor", "Check the config, TLS, directory rights and audit log");
    doctor->add_option("--config", doctor_config, "keydesk.toml")->required();

    CLI11_PARSE(app, argc, argv);

    if (serve->parsed()) {
        if (!ready_file.empty()) serve_options.ready_file = ready_file;
        return keydesk::server::serve(serve_options);
    }
    if (verify->parsed()) return keydesk::server::verify_audit(verify_options);
    if (export_command->parsed()) {
        for (const auto& [name, value] : export_filters) {
            if (value.empty()) continue;
            export_options.filters.emplace_back(name == "key-id" ? "key_id" : name, value);
        }
        return keydesk::server::audit_export(export_options);
    }
    if (public_key->parsed()) return keydesk::server::audit_public_key(public_key_config);
    if (keygen->parsed()) return keydesk::server::audit_keygen(keygen_config);
    if (doctor->parsed()) return keydesk::server::doctor(doctor_config);
    return 2;
}
