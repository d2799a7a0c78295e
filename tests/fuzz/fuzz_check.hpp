// FUZZ_CHECK: a property a harness asserts. A failure prints what broke and aborts, which
// libFuzzer reports as a crash and saves the input (crash-<sha1>) for a regression file.
// scratch_dir: a per-process directory on tmpfs for harnesses that need files.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace keydesk::fuzz {

// /dev/shm/<prefix>-<pid> (or under the temp directory without /dev/shm). Directories left by
// processes that died (a crash skips atexit) are removed on the way.
inline std::filesystem::path scratch_dir(std::string_view prefix) {
    namespace fs = std::filesystem;
    std::error_code error;
    const fs::path shm = "/dev/shm";
    const fs::path base = fs::is_directory(shm, error) && ::access(shm.c_str(), W_OK) == 0
                              ? shm
                              : fs::temp_directory_path();
    const std::string lead = std::string(prefix) + "-";
    for (const auto& entry : fs::directory_iterator(base, error)) {
        const auto name = entry.path().filename().string();
        if (!name.starts_with(lead)) continue;
        const auto pid = std::strtol(name.c_str() + lead.size(), nullptr, 10);
        if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
            fs::remove_all(entry.path(), error);
        }
    }
    return base / (lead + std::to_string(::getpid()));
}

[[noreturn]] inline void property_failed(const char* condition, const char* file, int line,
                                         std::string_view detail) {
    std::fprintf(stderr, "\n== property failed: %s\n   at %s:%d\n", condition, file, line);
    if (!detail.empty()) {
        std::fprintf(stderr, "   detail: %.*s\n", static_cast<int>(detail.size()), detail.data());
    }
    std::abort();
}

}  // namespace keydesk::fuzz

#define FUZZ_CHECK(condition, detail)                                                   \
    do {                                                                                \
        if (!(condition))                                                               \
            ::keydesk::fuzz::property_failed(#condition, __FILE__, __LINE__, (detail)); \
    } while (false)
