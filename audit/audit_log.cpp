// AuditLog: one writer thread, batches of records, one write(2) and one fdatasync per batch.
#include "audit/audit_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "audit/chain.hpp"

namespace keydesk::audit {
namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

void sync_directory(const std::filesystem::path& directory) {
    const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw AuditUnavailable(errno_text("open " + directory.string()));
    const int result = ::fsync(fd);
    ::close(fd);
    if (result != 0) throw AuditUnavailable(errno_text("fsync " + directory.string()));
}

std::string file_name_for(std::uint64_t first_seq) {
    char name[64];
    std::snprintf(name, sizeof name, "audit-%020llu.jsonl",
                  static_cast<unsigned long long>(first_seq));
    return name;
}

}  // namespace

struct AuditLog::Pending {
    boost::json::object fields;
    std::promise<std::uint64_t> done;
};

std::string utc_timestamp(std::chrono::system_clock::time_point when) {
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[40];
    const auto length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(text + length, sizeof text - length, ".%03lldZ",
                  static_cast<long long>(millis % 1000));
    return text;
}

std::vector<std::filesystem::path> log_files(const std::filesystem::path& directory) {
    std::vector<std::filesystem::path> files;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
        const auto name = entry.path().filename().string();
        if (entry.is_regular_file() && name.starts_with("audit-") && name.ends_with(".jsonl")) {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());  // names carry the zero-padded first seq
    return files;
}

AuditLog::AuditLog(std::filesystem::path directory, std::string key,
                   std::chrono::milliseconds append_timeout)
    : directory_(std::move(directory)), key_(std::move(key)), append_timeout_(append_timeout) {
    if (key_.size() < 32) throw AuditUnavailable("the audit key must be at least 32 bytes");
    std::error_code error;
    std::filesystem::create_directories(directory_, error);
    if (error) {
        throw AuditUnavailable("cannot create audit directory " + directory_.string() + ": " +
                               error.message());
    }
    ::chmod(directory_.c_str(), 0700);
    open_newest_file();
    writer_ = std::thread([this] { writer_loop(); });
    if (!repair_note_.empty()) append(std::move(repair_note_));
}

AuditLog::~AuditLog() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_writer_.notify_all();
    if (writer_.joinable()) writer_.join();
    if (fd_ >= 0) ::close(fd_);
}

void AuditLog::open_newest_file() {
    const auto files = log_files(directory_);
    last_mac_ = std::string(genesis_mac);
    if (files.empty()) {
        file_path_ = directory_ / file_name_for(1);
    } else {
        file_path_ = files.back();
        // Find the last complete line: it carries the seq and mac the chain continues from.
        const int fd = ::open(file_path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw AuditUnavailable(errno_text("open " + file_path_.string()));
        struct stat info {};
        if (::fstat(fd, &info) != 0) {
            ::close(fd);
            throw AuditUnavailable(errno_text("stat " + file_path_.string()));
        }
        std::string content(static_cast<std::size_t>(info.st_size), '\0');
        const auto got = ::pread(fd, content.data(), content.size(), 0);
        ::close(fd);
        if (got != static_cast<ssize_t>(content.size())) {
            throw AuditUnavailable(errno_text("read " + file_path_.string()));
        }
        const auto last_newline = content.rfind('\n');
        std::size_t complete = last_newline == std::string::npos ? 0 : last_newline + 1;
        const bool only_newline_missing =
            complete < content.size() && split_line(std::string_view(content).substr(complete)) &&
            same_mac(split_line(std::string_view(content).substr(complete))->mac,
                     hmac_hex(key_, split_line(std::string_view(content).substr(complete))->covered));
        if (only_newline_missing) {
            // The whole record reached the disk, only its newline did not: complete it.
            const int append_fd = ::open(file_path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
            if (append_fd < 0 || ::write(append_fd, "\n", 1) != 1 || ::fdatasync(append_fd) != 0) {
                if (append_fd >= 0) ::close(append_fd);
                throw AuditUnavailable(errno_text("complete the last line of " + file_path_.string()));
            }
            ::close(append_fd);
            content.push_back('\n');
            complete = content.size();
            warnings_.push_back("the last record of " + file_path_.string() +
                                " lacked its newline; completed");
        }
        if (complete < content.size()) {
            // A crash during a write: keep the torn bytes aside, then cut them off the log.
            const auto torn_path = file_path_.string() + ".torn-" + std::to_string(::time(nullptr));
            const int torn = ::open(torn_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (torn < 0 ||
                ::write(torn, content.data() + complete, content.size() - complete) !=
                    static_cast<ssize_t>(content.size() - complete) ||
                ::fsync(torn) != 0) {
                if (torn >= 0) ::close(torn);
                throw AuditUnavailable(errno_text("cannot keep the torn tail in " + torn_path));
            }
            ::close(torn);
            sync_directory(directory_);
            if (::truncate(file_path_.c_str(), static_cast<off_t>(complete)) != 0) {
                throw AuditUnavailable(errno_text("truncate " + file_path_.string()));
            }
            warnings_.push_back("torn last line of " + file_path_.string() + " (" +
                                std::to_string(content.size() - complete) + " bytes) moved to " +
                                torn_path);
            // The repair itself goes into the chain once the writer runs (see the constructor).
            repair_note_ = boost::json::object{
                {"event", "audit.repair"},  {"actor", "keydesk"},
                {"outcome", "success"},     {"torn_file", torn_path},
                {"torn_bytes", content.size() - complete},
                {"torn_sha256_hmac", hmac_hex(key_, std::string_view(content).substr(complete))}};
            content.resize(complete);
        }
        if (!content.empty()) {
            if (content.size() < 2) {
                throw AuditUnavailable("the last record of " + file_path_.string() +
                                       " is damaged; run `keydesk audit verify`");
            }
            const auto start = content.rfind('\n', content.size() - 2);
            const std::string_view line(content.data() + (start == std::string::npos ? 0 : start + 1),
                                        content.size() - (start == std::string::npos ? 0 : start + 1) - 1);
            const auto split = split_line(line);
            boost::system::error_code parse_error;
            const auto value = split ? boost::json::parse(split->covered, parse_error) : boost::json::value();
            const auto* record = value.if_object();
            const auto* seq = record ? record->if_contains("seq") : nullptr;
            if (!split || parse_error || !seq || !seq->is_int64() || seq->as_int64() < 1) {
                throw AuditUnavailable("the last record of " + file_path_.string() +
                                       " is damaged; run `keydesk audit verify`");
            }
            last_seq_ = static_cast<std::uint64_t>(seq->as_int64());
            last_mac_ = split->mac;
        }
    }
    const bool created = !std::filesystem::exists(file_path_);
    fd_ = ::open(file_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) throw AuditUnavailable(errno_text("open " + file_path_.string()));
    if (created) sync_directory(directory_);
}

std::uint64_t AuditLog::append(boost::json::object fields) {
    auto pending = std::make_shared<Pending>();
    pending->fields = std::move(fields);
    auto done = pending->done.get_future();
    {
        std::lock_guard lock(mutex_);
        if (failed_) throw AuditUnavailable(failure_);
        if (stopping_) throw AuditUnavailable("the audit log is closing");
        queue_.push_back(pending);
    }
    wake_writer_.notify_one();
    if (done.wait_for(append_timeout_) != std::future_status::ready) {
        throw AuditUnavailable("the audit record was not durable within " +
                               std::to_string(append_timeout_.count()) + " ms");
    }
    return done.get();
}

bool AuditLog::healthy() const {
    std::lock_guard lock(mutex_);
    return !failed_;
}

std::string AuditLog::failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
}

void AuditLog::fail_locked(std::string reason) {
    failed_ = true;
    failure_ = std::move(reason);
}

void AuditLog::writer_loop() {
    for (;;) {
        std::deque<std::shared_ptr<Pending>> batch;
        {
            std::unique_lock lock(mutex_);
            wake_writer_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and everything is written
            batch.swap(queue_);
            if (failed_) {
                for (auto& pending : batch) {
                    pending->done.set_exception(std::make_exception_ptr(AuditUnavailable(failure_)));
                }
                continue;
            }
        }

        // Seal the whole batch into one buffer; the chain only advances if it reaches the disk.
        std::string buffer;
        std::uint64_t seq = last_seq_;
        std::string mac = last_mac_;
        std::vector<std::uint64_t> seqs;
        for (auto& pending : batch) {
            boost::json::object record;
            record["seq"] = ++seq;
            record["time"] = utc_timestamp(std::chrono::system_clock::now());
            for (auto& [name, value] : pending->fields) {
                if (name != "seq" && name != "time" && name != "prev" && name != "mac") {
                    record[name] = std::move(value);
                }
            }
            record["prev"] = mac;
            const auto line = seal(boost::json::serialize(record), key_);
            mac = split_line(line)->mac;
            buffer += line;
            buffer += '\n';
            seqs.push_back(seq);
        }

        std::string error;
        std::size_t written = 0;
        while (written < buffer.size()) {
            const auto result = ::write(fd_, buffer.data() + written, buffer.size() - written);
            if (result < 0 && errno == EINTR) continue;
            if (result <= 0) {
                error = errno_text("write " + file_path_.string());
                break;
            }
            written += static_cast<std::size_t>(result);
        }
        if (error.empty() && ::fdatasync(fd_) != 0) error = errno_text("fdatasync " + file_path_.string());

        std::lock_guard lock(mutex_);
        if (!error.empty()) {
            fail_locked(error);
            for (auto& pending : batch) {
                pending->done.set_exception(std::make_exception_ptr(AuditUnavailable(error)));
            }
            continue;
        }
        last_seq_ = seq;
        last_mac_ = mac;
        for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->done.set_value(seqs[i]);
    }
}

}  // namespace keydesk::audit
