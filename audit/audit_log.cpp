// AuditLog: one writer thread, batches of records, one write(2) and one fdatasync per batch;
// checkpoints and rotations happen on that thread, between batches, so the chain stays linear.
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

std::string time_of(const boost::json::object& record) {
    const auto* time = record.if_contains("time");
    return time && time->is_string() ? std::string(time->get_string()) : std::string();
}

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

std::string read_range(const std::filesystem::path& file, std::size_t max_tail) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw AuditUnavailable(errno_text("open " + file.string()));
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
        ::close(fd);
        throw AuditUnavailable(errno_text("stat " + file.string()));
    }
    const auto size = static_cast<std::size_t>(info.st_size);
    const auto length = std::min(size, max_tail);
    std::string content(length, '\0');
    std::size_t got = 0;
    while (got < length) {
        const auto result = ::pread(fd, content.data() + got, length - got,
                                    static_cast<off_t>(size - length + got));
        if (result < 0 && errno == EINTR) continue;
        if (result <= 0) break;
        got += static_cast<std::size_t>(result);
    }
    ::close(fd);
    if (got != length) throw AuditUnavailable(errno_text("read " + file.string()));
    return content;
}

std::string read_all(const std::filesystem::path& file) { return read_range(file, SIZE_MAX); }

// The last complete line of a file, without its newline; "" for an empty file. Reads the tail
// only, unless that line is longer than the tail.
std::string last_line_of(const std::filesystem::path& file) {
    auto tail = read_range(file, 64 * 1024);
    if (tail.empty()) return {};
    auto end = tail.rfind('\n');
    auto start = end == std::string::npos || end == 0 ? std::string::npos : tail.rfind('\n', end - 1);
    if (start == std::string::npos && tail.size() == 64 * 1024) {
        tail = read_all(file);
        end = tail.rfind('\n');
        start = end == std::string::npos || end == 0 ? std::string::npos : tail.rfind('\n', end - 1);
    }
    if (end == std::string::npos) return {};
    const auto from = start == std::string::npos ? 0 : start + 1;
    return tail.substr(from, end - from);
}

// A record line's parsed members, when the line is a sealed JSON object with a seq.
struct ParsedLine {
    boost::json::object record;
    std::string mac;
    std::uint64_t seq = 0;
};

std::optional<ParsedLine> parse_line(std::string_view line) {
    const auto split = split_line(line);
    if (!split) return std::nullopt;
    boost::system::error_code error;
    auto value = boost::json::parse(split->covered, error);
    if (error || !value.is_object()) return std::nullopt;
    const auto* seq = value.as_object().if_contains("seq");
    if (!seq || !seq->is_int64() || seq->as_int64() < 1) return std::nullopt;
    ParsedLine parsed;
    parsed.seq = static_cast<std::uint64_t>(seq->as_int64());
    parsed.mac = split->mac;
    parsed.record = std::move(value.as_object());
    return parsed;
}

bool is_checkpoint_line(std::string_view line) {
    return line.find(R"("event":"audit.checkpoint")") != std::string_view::npos;
}

std::vector<std::string_view> lines_of(std::string_view content) {
    std::vector<std::string_view> lines;
    std::size_t position = 0;
    while (position < content.size()) {
        const auto end = content.find('\n', position);
        if (end == std::string_view::npos) break;
        lines.push_back(content.substr(position, end - position));
        position = end + 1;
    }
    return lines;
}

}  // namespace

struct AuditLog::Pending {
    enum class Kind { record, checkpoint, rotate, reopen };
    Kind kind = Kind::record;
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
    : AuditLog(std::move(directory), std::move(key), [append_timeout] {
          AuditSettings settings;
          settings.append_timeout = append_timeout;
          return settings;
      }()) {}

AuditLog::AuditLog(std::filesystem::path directory, std::string key, AuditSettings settings)
    : directory_(std::move(directory)), key_(std::move(key)), settings_(std::move(settings)) {
    if (key_.size() < 32) throw AuditUnavailable("the audit key must be at least 32 bytes");
    if (!settings_.signing_key_file.empty()) {
        try {
            signer_ = SigningKey::load(settings_.signing_key_file);
        } catch (const SigningError& error) {
            throw AuditUnavailable(error.what());
        }
    }
    ShipperSettings shipping;
    try {
        shipping.syslog = parse_syslog_target(settings_.checkpoint_syslog);
    } catch (const std::invalid_argument& error) {
        throw AuditUnavailable(error.what());
    }
    shipping.file = settings_.checkpoint_file;
    shipping.hostname = settings_.syslog_hostname;
    shipping.queue_limit = settings_.send_queue_limit;
    shipping.timeout = settings_.send_timeout;
    shipping.on_failure = settings_.on_delivery_failure;
    if (!signer_) shipping = ShipperSettings{};  // nothing to send without checkpoints
    shipper_ = std::make_unique<CheckpointShipper>(std::move(shipping));

    std::error_code error;
    std::filesystem::create_directories(directory_, error);
    if (error) {
        throw AuditUnavailable("cannot create audit directory " + directory_.string() + ": " +
                               error.message());
    }
    ::chmod(directory_.c_str(), 0700);
    open_newest_file();
    last_checkpoint_at_ = std::chrono::steady_clock::now();
    writer_ = std::thread([this] { writer_loop(); });
    try {
        for (auto& note : opening_notes_) {
            auto pending = std::make_shared<Pending>();
            pending->fields = std::move(note);
            submit(std::move(pending), true);
        }
        opening_notes_.clear();
    } catch (...) {
        close();
        throw;
    }
}

AuditLog::~AuditLog() { close(); }

void AuditLog::close() {
    {
        std::lock_guard lock(mutex_);
        if (closed_) return;
        closed_ = true;
        stopping_ = true;
    }
    wake_writer_.notify_all();
    if (writer_.joinable()) writer_.join();  // writes the shutdown checkpoint first
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (shipper_) shipper_->stop(settings_.send_timeout);
}

std::string AuditLog::record_time() {
    // Never earlier than the record before, even if the clock steps back: times then follow seq,
    // which auditors (and the index's time filters) rely on.
    auto time = utc_timestamp(now());
    if (time < last_time_) time = last_time_;
    last_time_ = time;
    return time;
}

std::chrono::system_clock::time_point AuditLog::now() const {
    return settings_.clock ? settings_.clock() : std::chrono::system_clock::now();
}

void AuditLog::open_newest_file() {
    const auto files = log_files(directory_);
    last_mac_ = std::string(genesis_mac);
    if (files.empty()) {
        file_path_ = directory_ / file_name_for(1);
    } else {
        file_path_ = files.back();
        std::string content = read_all(file_path_);
        const auto last_newline = content.rfind('\n');
        std::size_t complete = last_newline == std::string::npos ? 0 : last_newline + 1;
        const auto tail = std::string_view(content).substr(complete);
        const auto tail_split = complete < content.size() ? split_line(tail) : std::nullopt;
        if (tail_split && same_mac(tail_split->mac, hmac_hex(key_, tail_split->covered))) {
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
                throw AuditUnavailable(errno_text("truncate " + file_path_.string()) +
                                       " (is the file append-only, chattr +a?)");
            }
            warnings_.push_back("torn last line of " + file_path_.string() + " (" +
                                std::to_string(content.size() - complete) + " bytes) moved to " +
                                torn_path);
            // The repair itself goes into the chain once the writer runs (see the constructor).
            opening_notes_.push_back(boost::json::object{
                {"event", "audit.repair"},  {"actor", "keydesk"},
                {"outcome", "success"},     {"torn_file", torn_path},
                {"torn_bytes", content.size() - complete},
                {"torn_sha256_hmac", hmac_hex(key_, std::string_view(content).substr(complete))}});
            content.resize(complete);
        }
        const auto damaged = [](const std::filesystem::path& file) {
            return AuditUnavailable("the last record of " + file.string() +
                                    " is damaged; run `keydesk audit verify`");
        };
        file_bytes_ = content.size();
        const auto lines = lines_of(content);
        if (!content.empty() && (lines.empty() || lines.back().empty())) throw damaged(file_path_);

        if (lines.empty()) {
            // A file started by a rotation whose first write never reached the disk: the chain
            // continues from the newest earlier file with records, and says so in this file.
            for (auto older = files.rbegin() + 1; older != files.rend(); ++older) {
                const auto line = last_line_of(*older);
                if (line.empty()) continue;
                const auto parsed = parse_line(line);
                if (!parsed) throw damaged(*older);
                last_seq_ = parsed->seq;
                last_mac_ = parsed->mac;
                last_time_ = time_of(parsed->record);
                segment_from_ = last_seq_ + 1;
                if (is_checkpoint_line(line)) {
                    if (const auto checkpoint = checkpoint_from_record(parsed->record)) {
                        segment_from_ = checkpoint->seq;
                        segment_.add_line(line);
                        last_checkpoint_ = *checkpoint;
                    }
                }
                opening_notes_.push_back(boost::json::object{
                    {"event", rotate_event},       {"actor", "keydesk"},
                    {"outcome", "success"},        {"reason", "resume"},
                    {"previous_file", older->filename().string()},
                    {"previous_mac", last_mac_}});
                warnings_.push_back(file_path_.string() + " was empty; the chain continues from " +
                                    older->filename().string());
                break;
            }
        } else {
            const auto last = parse_line(lines.back());
            const auto first = parse_line(lines.front());
            if (!last) throw damaged(file_path_);
            last_seq_ = last->seq;
            last_mac_ = last->mac;
            last_time_ = time_of(last->record);
            const auto* time = first ? first->record.if_contains("time") : nullptr;
            if (time && time->is_string() && time->as_string().size() >= 10) {
                file_date_ = std::string(time->as_string().data(), 10);
            }

            // Where the unsigned segment starts: after the newest checkpoint in this file, or the
            // one closing the previous file, or else this file's first record (see verify).
            std::optional<std::size_t> checkpoint_index;
            for (std::size_t i = lines.size(); i-- > 0;) {
                if (!is_checkpoint_line(lines[i])) continue;
                const auto parsed = parse_line(lines[i]);
                const auto checkpoint = parsed ? checkpoint_from_record(parsed->record) : std::nullopt;
                if (!checkpoint) continue;
                checkpoint_index = i;
                segment_from_ = checkpoint->seq;
                last_checkpoint_ = *checkpoint;
                break;
            }
            std::size_t hash_from = 0;
            if (checkpoint_index) {
                hash_from = *checkpoint_index;
            } else {
                segment_from_ = first ? first->seq : last_seq_ + 1 - lines.size();
                if (files.size() > 1) {
                    const auto line = last_line_of(files[files.size() - 2]);
                    const auto parsed = is_checkpoint_line(line) ? parse_line(line) : std::nullopt;
                    const auto checkpoint = parsed ? checkpoint_from_record(parsed->record) : std::nullopt;
                    if (checkpoint && checkpoint->seq + 1 == segment_from_) {
                        segment_from_ = checkpoint->seq;
                        segment_.add_line(line);
                        last_checkpoint_ = *checkpoint;
                    }
                }
            }
            for (std::size_t i = hash_from; i < lines.size(); ++i) segment_.add_line(lines[i]);
            since_checkpoint_ = lines.size() - hash_from - (checkpoint_index ? 1 : 0);
        }
    }
    const bool created = !std::filesystem::exists(file_path_);
    fd_ = ::open(file_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) throw AuditUnavailable(errno_text("open " + file_path_.string()));
    if (created) sync_directory(directory_);
}

std::uint64_t AuditLog::submit(std::shared_ptr<Pending> pending, bool internal) {
    auto done = pending->done.get_future();
    {
        std::lock_guard lock(mutex_);
        if (failed_) throw AuditUnavailable(failure_);
        if (stopping_ && !internal) throw AuditUnavailable("the audit log is closing");
        // A hung disk: refuse at once instead of making every request wait out the timeout.
        if (stalled() && !internal) {
            throw AuditUnavailable("the audit disk has not completed a write for over " +
                                   std::to_string(settings_.append_timeout.count()) + " ms");
        }
        queue_.push_back(std::move(pending));
    }
    wake_writer_.notify_one();
    if (done.wait_for(settings_.append_timeout) != std::future_status::ready) {
        throw AuditUnavailable("the audit record was not durable within " +
                               std::to_string(settings_.append_timeout.count()) + " ms");
    }
    return done.get();
}

std::uint64_t AuditLog::append(boost::json::object fields) {
    if (const auto* event = fields.if_contains("event"); event && event->is_string() &&
        (event->as_string() == checkpoint_event || event->as_string() == rotate_event)) {
        throw std::invalid_argument(std::string(event->as_string()) + " is written by the log itself");
    }
    auto pending = std::make_shared<Pending>();
    pending->fields = std::move(fields);
    return submit(std::move(pending), false);
}

std::uint64_t AuditLog::checkpoint() {
    auto pending = std::make_shared<Pending>();
    pending->kind = Pending::Kind::checkpoint;
    return submit(std::move(pending), false);
}

std::uint64_t AuditLog::rotate() {
    auto pending = std::make_shared<Pending>();
    pending->kind = Pending::Kind::rotate;
    return submit(std::move(pending), false);
}

void AuditLog::reopen() {
    auto pending = std::make_shared<Pending>();
    pending->kind = Pending::Kind::reopen;
    submit(std::move(pending), false);
}

std::uint64_t AuditLog::newest_seq() const {
    std::lock_guard lock(mutex_);
    return last_seq_;
}

bool AuditLog::stalled() const {
    const auto started = io_started_ns_.load();
    if (started == 0) return false;
    const auto now = std::chrono::steady_clock::now().time_since_epoch();
    return now - std::chrono::nanoseconds(started) > settings_.append_timeout;
}

bool AuditLog::healthy() const {
    std::lock_guard lock(mutex_);
    return !failed_ && !stalled();
}

bool AuditLog::has_failed() const {
    std::lock_guard lock(mutex_);
    return failed_;
}

std::string AuditLog::failure() const {
    std::lock_guard lock(mutex_);
    if (!failed_ && stalled()) {
        return "the audit disk has not completed a write for over " +
               std::to_string(settings_.append_timeout.count()) + " ms (hung or very slow storage)";
    }
    return failure_;
}

std::filesystem::path AuditLog::current_file() const {
    std::lock_guard lock(mutex_);
    return file_path_;
}

CheckpointStatus AuditLog::checkpoint_status() const {
    CheckpointStatus status;
    {
        std::lock_guard lock(mutex_);
        status.signing = signer_.has_value();
        status.seq = last_checkpoint_.seq;
        status.covers_seq = last_checkpoint_.covers_seq;
        status.time = last_checkpoint_.time;
    }
    if (signer_) status.key_id = signer_->key_id();
    status.deliveries = shipper_->status();
    status.dropped = shipper_->dropped();
    return status;
}

std::string AuditLog::public_key_pem() const { return signer_ ? signer_->public_key_pem() : ""; }

bool AuditLog::wait_for_deliveries(std::chrono::milliseconds timeout) const {
    return shipper_->wait_idle(timeout);
}

void AuditLog::fail(std::string reason) {
    std::lock_guard lock(mutex_);
    if (failed_) return;
    failed_ = true;
    failure_ = std::move(reason);
}

bool AuditLog::checkpoint_due() const {
    return signer_ && since_checkpoint_ > 0 && settings_.checkpoint_interval.count() > 0 &&
           std::chrono::steady_clock::now() >= last_checkpoint_at_ + settings_.checkpoint_interval;
}

void AuditLog::writer_loop() {
    // An exception here (OpenSSL, allocation) fails the log closed instead of ending the process.
    const auto guarded = [this](auto&& step) {
        try {
            step();
        } catch (const std::exception& error) {
            fail(std::string("audit writer: ") + error.what());
            flush();
        }
    };
    for (;;) {
        std::deque<std::shared_ptr<Pending>> batch;
        bool stopping = false;
        {
            std::unique_lock lock(mutex_);
            const auto ready = [this] { return stopping_ || !queue_.empty(); };
            if (signer_ && since_checkpoint_ > 0 && settings_.checkpoint_interval.count() > 0) {
                wake_writer_.wait_until(lock, last_checkpoint_at_ + settings_.checkpoint_interval, ready);
            } else {
                wake_writer_.wait(lock, ready);
            }
            batch.swap(queue_);
            stopping = stopping_;
        }
        for (const auto& pending : batch) process(pending);
        if (!failed_ && checkpoint_due()) guarded([&] { seal_checkpoint("interval"); });
        if (stopping && batch.empty()) {
            if (!failed_ && signer_ && since_checkpoint_ > 0) guarded([&] { seal_checkpoint("shutdown"); });
            guarded([&] { flush(); });
            return;
        }
        guarded([&] { flush(); });
    }
}

void AuditLog::process(const std::shared_ptr<Pending>& pending) {
    if (failed_) {
        pending->done.set_exception(std::make_exception_ptr(AuditUnavailable(failure_)));
        return;
    }
    std::uint64_t seq = 0;
    try {
        switch (pending->kind) {
            case Pending::Kind::record:
                maybe_rotate();
                if (!failed_) seq = seal_record(std::move(pending->fields));
                break;
            case Pending::Kind::checkpoint:
                if (signer_ && since_checkpoint_ > 0) seal_checkpoint("requested");
                break;
            case Pending::Kind::rotate:
                // An empty file has nothing to close (and the new name would be its own).
                if (flush() && file_bytes_ > 0) start_new_file("requested");
                break;
            case Pending::Kind::reopen:
                reopen_file();
                break;
        }
    } catch (const std::exception& error) {
        // OpenSSL or allocation: fail closed rather than end the process.
        fail(std::string("audit writer: ") + error.what());
        pending->done.set_exception(std::make_exception_ptr(AuditUnavailable(failure_)));
        flush();
        return;
    }
    // The promise is kept by the flush that makes this durable (or broken if it fails). A
    // record's own seq, not that of a checkpoint that may have followed it.
    unsynced_.emplace_back(pending, seq != 0 ? seq : last_seq_);
}

void AuditLog::maybe_rotate() {
    const auto bytes = file_bytes_ + buffer_.size();
    if (bytes == 0) return;
    const bool by_size = settings_.max_file_bytes > 0 && bytes >= settings_.max_file_bytes;
    const bool by_day = settings_.rotate_daily && !file_date_.empty() &&
                        utc_timestamp(now()).compare(0, 10, file_date_) != 0;
    if (!by_size && !by_day) return;
    if (flush()) start_new_file(by_size ? "size" : "day");
}

std::uint64_t AuditLog::seal_record(boost::json::object fields) {
    const auto seq = ++last_seq_;
    boost::json::object record;
    record["seq"] = seq;
    const auto time = record_time();
    record["time"] = time;
    for (auto& [name, value] : fields) {
        if (name != "seq" && name != "time" && name != "prev" && name != "mac") {
            record[name] = std::move(value);
        }
    }
    record["prev"] = last_mac_;
    const auto line = seal(boost::json::serialize(record), key_);
    if (file_bytes_ + buffer_.size() == 0) file_date_ = time.substr(0, 10);
    buffer_ += line;
    buffer_ += '\n';
    segment_.add_line(line);
    last_mac_ = split_line(line)->mac;
    ++since_checkpoint_;
    if (signer_ && settings_.checkpoint_every_records > 0 &&
        since_checkpoint_ >= settings_.checkpoint_every_records) {
        seal_checkpoint("count");
    }
    return seq;
}

void AuditLog::seal_checkpoint(std::string_view reason) {
    Checkpoint checkpoint;
    checkpoint.seq = last_seq_ + 1;
    checkpoint.time = record_time();
    checkpoint.reason = std::string(reason);
    checkpoint.covers_seq = last_seq_;
    checkpoint.covers_mac = last_mac_;
    checkpoint.from_seq = segment_from_;
    checkpoint.sha256 = segment_.hex();
    checkpoint.key_id = signer_->key_id();
    checkpoint.signature = signer_->sign(checkpoint_note(checkpoint));

    boost::json::object record;
    record["seq"] = checkpoint.seq;
    record["time"] = checkpoint.time;
    for (auto& [name, value] : checkpoint_fields(checkpoint)) record[name] = std::move(value);
    record["prev"] = last_mac_;
    const auto line = seal(boost::json::serialize(record), key_);
    if (file_bytes_ + buffer_.size() == 0) file_date_ = checkpoint.time.substr(0, 10);
    buffer_ += line;
    buffer_ += '\n';
    last_seq_ = checkpoint.seq;
    last_mac_ = split_line(line)->mac;
    // The next segment starts with this checkpoint's own line, so every line gets hashed.
    segment_ = LineHasher();
    segment_.add_line(line);
    segment_from_ = checkpoint.seq;
    since_checkpoint_ = 0;
    last_checkpoint_at_ = std::chrono::steady_clock::now();
    unsent_.emplace_back(std::move(checkpoint), line);
}

bool AuditLog::flush() {
    std::string error = failed_ ? failure_ : std::string();
    if (error.empty() && !buffer_.empty()) {
        io_started_ns_ = std::max<std::int64_t>(
            1, std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
                   .count());
        struct Finished {
            std::atomic<std::int64_t>& started;
            ~Finished() { started = 0; }
        } finished{io_started_ns_};
        std::size_t written = 0;
        while (written < buffer_.size()) {
            const auto result = ::write(fd_, buffer_.data() + written, buffer_.size() - written);
            if (result < 0 && errno == EINTR) continue;
            if (result <= 0) {
                error = errno_text("write " + file_path_.string());
                break;
            }
            written += static_cast<std::size_t>(result);
        }
        if (error.empty() && ::fdatasync(fd_) != 0) error = errno_text("fdatasync " + file_path_.string());
        // Deleted underneath us: the records went to a file nobody will ever read.
        struct stat info {};
        if (error.empty() && ::fstat(fd_, &info) == 0 && info.st_nlink == 0) {
            error = "the audit file " + file_path_.string() + " was deleted while in use";
        }
    }
    if (!error.empty()) {
        fail(error);
        for (auto& [pending, seq] : unsynced_) {
            pending->done.set_exception(std::make_exception_ptr(AuditUnavailable(error)));
        }
        unsynced_.clear();
        unsent_.clear();
        buffer_.clear();
        return false;
    }
    file_bytes_ += buffer_.size();
    buffer_.clear();
    for (auto& [checkpoint, line] : unsent_) {
        shipper_->post(checkpoint.time, line);
        std::lock_guard lock(mutex_);
        last_checkpoint_ = checkpoint;
    }
    unsent_.clear();
    for (auto& [pending, seq] : unsynced_) pending->done.set_value(seq);
    unsynced_.clear();
    return true;
}

void AuditLog::start_new_file(std::string_view reason) {
    if (signer_ && since_checkpoint_ > 0) {
        seal_checkpoint("rotation");
        if (!flush()) return;
    }
    const auto path = directory_ / file_name_for(last_seq_ + 1);
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fail(errno_text("create " + path.string()));
        return;
    }
    try {
        sync_directory(directory_);
    } catch (const AuditUnavailable& error) {
        ::close(fd);
        fail(error.what());
        return;
    }
    const auto previous = file_path_.filename().string();
    ::close(fd_);
    fd_ = fd;
    {
        std::lock_guard lock(mutex_);
        file_path_ = path;
    }
    file_bytes_ = 0;
    file_date_.clear();
    seal_record({{"event", rotate_event},
                 {"actor", "keydesk"},
                 {"outcome", "success"},
                 {"reason", reason},
                 {"previous_file", previous},
                 {"previous_mac", last_mac_}});
}

void AuditLog::reopen_file() {
    if (signer_ && since_checkpoint_ > 0) seal_checkpoint("reopen");
    if (!flush()) return;
    shipper_->reopen();
    struct stat by_name {};
    struct stat by_fd {};
    const bool same = ::stat(file_path_.c_str(), &by_name) == 0 && ::fstat(fd_, &by_fd) == 0 &&
                      by_name.st_dev == by_fd.st_dev && by_name.st_ino == by_fd.st_ino;
    if (!same) {
        // Moved away or replaced: never append to a file whose history is not ours.
        start_new_file("reopen");
        return;
    }
    const int fd = ::open(file_path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) {
        fail(errno_text("reopen " + file_path_.string()));
        return;
    }
    ::close(fd_);
    fd_ = fd;
}

}  // namespace keydesk::audit
