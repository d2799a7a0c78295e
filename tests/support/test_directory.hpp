// The test directory started by ctest's fixture (tests/directory/slapd/slapdctl.sh): its
// addresses, credentials and the fixed sample data the tests rely on.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include "ldap/directory.hpp"

namespace keydesk::test {

class TestDirectory {
public:
    // Reads STATE_DIR/env named by $KD_DIRECTORY_STATE; throws if the fixture did not run.
    static const TestDirectory& get() {
        static const TestDirectory directory = [] {
            const char* state = std::getenv("KD_DIRECTORY_STATE");
            if (!state) throw std::runtime_error("KD_DIRECTORY_STATE is not set: run through ctest");
            return TestDirectory(std::filesystem::path(state) / "env");
        }();
        return directory;
    }

    const std::string& operator[](const std::string& key) const {
        const auto found = values_.find(key);
        if (found == values_.end()) throw std::runtime_error("no " + key + " in the directory's env");
        return found->second;
    }

    bool has(const std::string& key) const { return values_.contains(key); }

    // Runs slapdctl.sh (start, stop) on this directory; returns its exit status.
    int control(const std::string& verb) const {
        const std::string command = "'" + (*this)["KD_SLAPDCTL"] + "' " + verb + " '" +
                                    (*this)["KD_STATE_DIR"] + "' >/dev/null";
        return std::system(command.c_str());
    }

    // Applies LDIF as the directory's administrator (to change group membership in a test).
    int modify(const std::string& ldif) const {
        const auto file = std::filesystem::temp_directory_path() / "kd-test-modify.ldif";
        std::ofstream(file) << ldif;
        const std::string command = "LDAPTLS_CACERT='" + (*this)["KD_CA_FILE"] +
                                    "' ldapmodify -x -H '" + (*this)["KD_LDAPS_URI"] + "' -D '" +
                                    (*this)["KD_ADMIN_DN"] + "' -y '" +
                                    (*this)["KD_ADMIN_PASSWORD_FILE"] + "' -f '" + file.string() +
                                    "' >/dev/null";
        const int status = std::system(command.c_str());
        std::filesystem::remove(file);
        return status;
    }

private:
    explicit TestDirectory(const std::filesystem::path& file) {
        std::ifstream in(file);
        if (!in) throw std::runtime_error("cannot read " + file.string());
        for (std::string line; std::getline(in, line);) {
            const auto equals = line.find('=');
            if (equals != std::string::npos) values_[line.substr(0, equals)] = line.substr(equals + 1);
        }
    }
    std::map<std::string, std::string> values_;
};

// Settings for the test directory's service account, as keydesk's config would give them.
inline ldap::DirectorySettings service_settings() {
    const auto& directory = TestDirectory::get();
    ldap::DirectorySettings settings;
    settings.uris = {directory["KD_LDAPS_URI"]};
    settings.base_dn = directory["KD_BASE_DN"];
    settings.bind_dn = directory["KD_BIND_DN"];
    std::ifstream in(directory["KD_BIND_PASSWORD_FILE"]);
    std::getline(in, settings.bind_password);
    settings.tls_ca_file = directory["KD_CA_FILE"];
    settings.timeout = std::chrono::seconds(3);
    settings.domain = "CORP";
    settings.pool_size = 2;
    return settings;
}

// The fixed sample data of tests/directory/slapd/generate-data.py.
namespace fixtures {
inline constexpr const char* base_dn = "DC=corp,DC=example,DC=com";
inline constexpr const char* k1 = "063EA4E1-220C-4293-BA01-4754620A96E7";
inline constexpr const char* k1_password = "466895-217492-569250-069608-104434-135707-527241-083622";
inline constexpr const char* k2 = "063EA4E1-9A7B-4C1D-8E2F-0123456789AB";
inline constexpr const char* k3 = "1F5A63B3-0000-4000-8000-000000000001";
inline constexpr const char* k4 = "1F5A63B3-1111-4111-8111-111111111111";
inline constexpr const char* k5 = "A1B2C3D4-E5F6-4789-9ABC-DEF012345678";
inline constexpr const char* laptop_volume = "9F1C2D3E-4B5A-6978-8796-A5B4C3D2E1F0";
inline constexpr const char* laptop_dn = "CN=LAPTOP-0042,OU=Laptops,DC=corp,DC=example,DC=com";
inline constexpr const char* helpdesk_group = "CN=KD-Helpdesk,OU=Groups,DC=corp,DC=example,DC=com";
inline constexpr const char* tier1_group = "CN=KD-Helpdesk-Tier1,OU=Groups,DC=corp,DC=example,DC=com";
inline constexpr const char* auditors_group = "CN=KD-Auditors,OU=Groups,DC=corp,DC=example,DC=com";
inline constexpr const char* security_group = "CN=KD-Security,OU=Groups,DC=corp,DC=example,DC=com";
inline constexpr const char* admins_group = "CN=KD-Admins,OU=Groups,DC=corp,DC=example,DC=com";
}  // namespace fixtures

}  // namespace keydesk::test
