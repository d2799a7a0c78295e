// Runs the real keydesk binary for end-to-end tests: a generated config, certificate and audit
// key in a temporary folder, the test directory's service account, a free port.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace keydesk::test {

class KeydeskInstance {
public:
    // Makes the folder (certificate, audit key, keydesk.toml) without starting anything.
    // `extra_lookup` is appended to the [lookup] section.
    explicit KeydeskInstance(const std::string& name, const std::string& extra_lookup = "");
    ~KeydeskInstance();

    // Starts `keydesk serve` and waits until it listens. Returns false (and keeps the log) if it
    // exited instead.
    bool start();
    // Sends `signal` and waits for the exit; returns the exit status (or 128 + signal).
    int stop(int signal = 15);

    // Runs `keydesk ARGS` to completion; returns the exit status and fills `output`.
    int run(const std::string& args, std::string& output) const;

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }
    const std::filesystem::path& dir() const { return dir_; }
    std::filesystem::path config() const { return dir_ / "keydesk.toml"; }
    std::filesystem::path audit_dir() const { return dir_ / "audit"; }
    std::filesystem::path ca_file() const { return dir_ / "tls" / "ca.pem"; }
    std::string log() const;

    static std::filesystem::path binary();

    // Run keydesk through this command (e.g. setpriv to drop capabilities); empty: directly.
    std::vector<std::string> command_prefix;

private:
    std::filesystem::path dir_;
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
};

}  // namespace keydesk::test
