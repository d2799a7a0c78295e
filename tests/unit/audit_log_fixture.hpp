// Shared by the audit index and audit export unit tests: AuditLogFixture, a scratch directory per
// test (log/ and aux/, on tmpfs where there is one) with settings() that sign with a generated key
// and read a clock the test moves; reading the log's files line by line (read_log, LogLine); and
// small helpers (read_text, write_text, lower, upper, text_of, millis_at).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "audit/audit_log.hpp"
#include "audit/signing.hpp"

namespace keydesk::test {

namespace fs = std::filesystem;
namespace json = boost::json;

inline std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

inline void write_text(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

inline std::string lower(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

inline std::string upper(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
}

// A string member's text; "" when it is missing or not a string.
inline std::string text_of(const json::object& object, std::string_view name) {
    const auto* value = object.if_contains(name);
    return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

// One line of a log file as the files hold it.
struct LogLine {
    std::string file;          // name in the directory
    std::uint64_t line = 0;    // 1-based within the file
    std::uint64_t offset = 0;  // byte offset of its first character
    std::string text;          // without the "\n"
    json::object record;
    std::uint64_t seq = 0;
};

// Every complete line of the log's files, oldest first.
inline std::vector<LogLine> read_log(const fs::path& directory) {
    std::vector<LogLine> lines;
    for (const auto& path : audit::log_files(directory)) {
        const auto text = read_text(path);
        std::uint64_t number = 0;
        for (std::size_t offset = 0; offset < text.size();) {
            const auto end = text.find('\n', offset);
            if (end == std::string::npos) break;  // an incomplete tail is no record
            LogLine line;
            line.file = path.filename().string();
            line.line = ++number;
            line.offset = offset;
            line.text = text.substr(offset, end - offset);
            line.record = json::parse(line.text).as_object();
            line.seq = line.record.at("seq").to_number<std::uint64_t>();
            lines.push_back(std::move(line));
            offset = end + 1;
        }
    }
    return lines;
}

// Milliseconds since the epoch of a UTC date and time.
inline std::int64_t millis_at(int y, unsigned m, unsigned d, int hour, int minute, int second = 0) {
    using namespace std::chrono;
    const auto date = sys_days{year{y} / month{m} / std::chrono::day{d}};
    return duration_cast<milliseconds>(date.time_since_epoch()).count() +
           ((hour * 60LL + minute) * 60LL + second) * 1000LL;
}

inline fs::path scratch_root() {
    // tmpfs where there is one: every append is fdatasync'd, and a disk makes that slow.
    std::error_code error;
    if (fs::is_directory("/dev/shm", error) && ::access("/dev/shm", W_OK) == 0) return "/dev/shm";
    return fs::temp_directory_path();
}

// A fresh base_ per test, named `scratch_prefix` + pid + test name: the log in dir_ (not created),
// aux_ for the signing key and index_file_; the clock starts at 2026-11-26T09:00Z.
class AuditLogFixture : public ::testing::Test {
protected:
    explicit AuditLogFixture(std::string scratch_prefix) : scratch_prefix_(std::move(scratch_prefix)) {}

    void SetUp() override {
        base_ = scratch_root() / (scratch_prefix_ + std::to_string(::getpid()) + "-" +
                                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(base_);
        dir_ = base_ / "log";
        aux_ = base_ / "aux";
        fs::create_directories(aux_);
        index_file_ = aux_ / "index.sqlite";
        clock_ = std::make_shared<std::atomic<std::int64_t>>(millis_at(2026, 11, 26, 9, 0));
    }
    void TearDown() override { fs::remove_all(base_); }

    // Signs with aux_/signing.pem (generated once; its public half in public_pem_), a checkpoint
    // every `every` records and none by time, and reads clock_.
    audit::AuditSettings settings(std::uint64_t every = 10) {
        audit::AuditSettings settings;
        const auto key_file = aux_ / "signing.pem";
        if (!fs::exists(key_file)) public_pem_ = audit::generate_signing_key(key_file);
        settings.signing_key_file = key_file;
        settings.checkpoint_every_records = every;
        settings.checkpoint_interval = std::chrono::milliseconds(0);
        auto clock = clock_;
        settings.clock = [clock] {
            return std::chrono::system_clock::time_point(std::chrono::milliseconds(clock->load()));
        };
        return settings;
    }

    // Appends make(first)..make(last - 1), the clock moving `step` after each.
    void append_records(audit::AuditLog& log, int first, int last, const std::function<json::object(int)>& make,
                        std::chrono::milliseconds step) {
        for (int i = first; i < last; ++i) {
            log.append(make(i));
            clock_->fetch_add(step.count());
        }
    }

    std::string scratch_prefix_;
    fs::path base_, dir_, aux_, index_file_;
    std::shared_ptr<std::atomic<std::int64_t>> clock_;
    std::string public_pem_;
};

}  // namespace keydesk::test
