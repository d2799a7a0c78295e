// KeydeskInstance: fork/exec of the real binary, its output in the instance folder.
#include "tests/support/keydesk_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/test_directory.hpp"

namespace keydesk::test {

std::filesystem::path KeydeskInstance::binary() { return KEYDESK_BINARY; }

KeydeskInstance::KeydeskInstance(const std::string& name, const std::string& extra_lookup) {
    dir_ = std::filesystem::temp_directory_path() /
           ("kd-e2e-" + std::to_string(::getpid()) + "-" + name);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    const std::string make_cert = std::string(KEYDESK_SOURCE_DIR) +
                                  "/tests/support/make-tls-cert.sh '" + (dir_ / "tls").string() + "'";
    if (std::system(make_cert.c_str()) != 0) throw std::runtime_error("make-tls-cert.sh failed");
    {
        std::ofstream key(dir_ / "audit.key");
        key << "e2e-audit-key-0123456789abcdef0123456789abcdef";
    }
    std::filesystem::permissions(dir_ / "audit.key", std::filesystem::perms::owner_read |
                                                         std::filesystem::perms::owner_write);
    const auto& directory = TestDirectory::get();
    std::ofstream config(dir_ / "keydesk.toml");
    config << "[server]\nlisten = \"127.0.0.1:0\"\n"
           << "tls_certificate = \"tls/server.pem\"\ntls_private_key = \"tls/server.key\"\n"
           << "worker_threads = 4\n"
           << "[directory]\nuris = [\"" << directory["KD_LDAPS_URI"] << "\"]\n"
           << "base_dn = \"" << directory["KD_BASE_DN"] << "\"\n"
           << "bind_dn = \"" << directory["KD_BIND_DN"] << "\"\n"
           << "bind_password_file = \"" << directory["KD_BIND_PASSWORD_FILE"] << "\"\n"
           << "tls_ca_file = \"" << directory["KD_CA_FILE"] << "\"\n"
           << "timeout_seconds = 2\ndomain = \"CORP\"\n"
           << "[roles]\n"
           << "helpdesk = [\"" << fixtures::helpdesk_group << "\"]\n"
           << "auditor = [\"" << fixtures::auditors_group << "\"]\n"
           << "security = [\"" << fixtures::security_group << "\"]\n"
           << "admin = [\"" << fixtures::admins_group << "\"]\n"
           << "[audit]\ndirectory = \"audit\"\nkey_file = \"audit.key\"\n"
           // Beside the log, not in it: tests list, delete and fill the audit directory.
           << "index_file = \"audit-index/index.sqlite\"\n"
           << "[lookup]\nmin_key_id_chars = 8\n"
           << extra_lookup << "\n";
}

KeydeskInstance::~KeydeskInstance() {
    if (pid_ > 0) stop(SIGKILL);
    if (!std::getenv("KD_KEEP_TEST_DIRS")) std::filesystem::remove_all(dir_);
}

bool KeydeskInstance::start() {
    const auto ready = dir_ / "ready";
    std::filesystem::remove(ready);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        const int log = ::open((dir_ / "keydesk.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        ::dup2(log, 1);
        ::dup2(log, 2);
        const auto bin = binary().string();
        const auto config_path = config().string();
        const auto ready_path = ready.string();
        std::vector<std::string> words = command_prefix;
        for (const auto& word : {bin, std::string("serve"), std::string("--config"), config_path,
                                 std::string("--ready-file"), ready_path}) {
            words.push_back(word);
        }
        std::vector<char*> argv;
        for (auto& word : words) argv.push_back(word.data());
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
        std::ifstream in(ready);
        unsigned port = 0;
        if (in >> port && port > 0) {
            port_ = static_cast<std::uint16_t>(port);
            return true;
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

int KeydeskInstance::stop(int signal) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

int KeydeskInstance::run(const std::string& args, std::string& output) const {
    const std::string command = "'" + binary().string() + "' " + args + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) throw std::runtime_error("popen failed");
    output.clear();
    char buffer[4096];
    while (auto got = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, got);
    const int status = ::pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::string KeydeskInstance::log() const {
    std::ifstream in(dir_ / "keydesk.log");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace keydesk::test
