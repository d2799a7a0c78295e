// Reads secrets (bind password, audit key) from files that only their owner may read.
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "config/config.hpp"

namespace keydesk::config {

std::string read_secret_file(const std::filesystem::path& file, std::string_view what) {
    const std::string label = std::string(what) + " file " + file.string();
    struct stat info {};
    if (::stat(file.c_str(), &info) != 0) throw ConfigError(label + ": cannot be read");
    if (!S_ISREG(info.st_mode)) throw ConfigError(label + ": not a regular file");
    // Like ssh with private keys: a secret others can read is a secret already leaked.
    if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        throw ConfigError(label + ": readable by group or others; chmod 600 it");
    }
    if (info.st_size > 64 * 1024) throw ConfigError(label + ": larger than 64 KiB");
    std::ifstream in(file, std::ios::binary);
    if (!in) throw ConfigError(label + ": cannot be read");
    std::ostringstream content;
    content << in.rdbuf();
    std::string secret = content.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (secret.empty()) throw ConfigError(label + ": empty");
    return secret;
}

}  // namespace keydesk::config
