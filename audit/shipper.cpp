// CheckpointShipper: one thread, a bounded queue, and plain sockets with timeouts.
#include "audit/shipper.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "audit/audit_log.hpp"

namespace keydesk::audit {
namespace {

using Clock = std::chrono::steady_clock;

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

int remaining_ms(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Waits for `events` on `fd` until `deadline`; false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        pollfd entry{fd, events, 0};
        const int result = ::poll(&entry, 1, remaining_ms(deadline));
        if (result < 0 && errno == EINTR) continue;
        if (result < 0) return false;
        if (result == 0) {
            errno = ETIMEDOUT;
            return false;
        }
        return true;
    }
}

std::string parse_port(std::string_view text, std::string_view target) {
    unsigned port = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || port == 0 ||
        port > 65535) {
        throw std::invalid_argument("syslog target " + std::string(target) +
                                    ": port must be 1-65535");
    }
    return std::string(text);
}

std::string clean_hostname(std::string name) {
    if (name.empty()) {
        char buffer[256] = {};
        if (::gethostname(buffer, sizeof buffer - 1) == 0) name = buffer;
    }
    std::string clean;
    for (const char c : name) {
        if (c >= 33 && c <= 126) clean.push_back(c);  // RFC 5424 PRINTUSASCII
    }
    if (clean.size() > 255) clean.resize(255);
    return clean.empty() ? "-" : clean;
}

}  // namespace

std::string SyslogTarget::text() const {
    switch (kind) {
        case Kind::unix_socket: return "unix:" + address;
        case Kind::udp: return "udp://" + (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" + port;
        case Kind::tcp: return "tcp://" + (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" + port;
        case Kind::none: break;
    }
    return "none";
}

SyslogTarget parse_syslog_target(std::string_view text) {
    SyslogTarget target;
    if (text.empty() || text == "none") return target;
    if (text == "auto") {
        struct stat info {};
        if (::stat("/dev/log", &info) == 0 && S_ISSOCK(info.st_mode)) {
            target.kind = SyslogTarget::Kind::unix_socket;
            target.address = "/dev/log";
        }
        return target;
    }
    if (text.starts_with("unix:")) {
        target.kind = SyslogTarget::Kind::unix_socket;
        target.address = std::string(text.substr(5));
        if (!target.address.starts_with("/") || target.address.size() >= sizeof(sockaddr_un::sun_path)) {
            throw std::invalid_argument("syslog target " + std::string(text) +
                                        ": unix: needs an absolute socket path");
        }
        return target;
    }
    std::string_view rest;
    if (text.starts_with("udp://")) {
        target.kind = SyslogTarget::Kind::udp;
        rest = text.substr(6);
    } else if (text.starts_with("tcp://")) {
        target.kind = SyslogTarget::Kind::tcp;
        rest = text.substr(6);
    } else {
        throw std::invalid_argument("syslog target " + std::string(text) +
                                    ": must be \"\", \"auto\", unix:/path, udp://host:port or tcp://host:port");
    }
    std::string_view host;
    std::string_view port;
    if (rest.starts_with("[")) {
        const auto close = rest.find("]:");
        if (close == std::string_view::npos) {
            throw std::invalid_argument("syslog target " + std::string(text) + ": needs [address]:port");
        }
        host = rest.substr(1, close - 1);
        port = rest.substr(close + 2);
    } else {
        const auto colon = rest.rfind(':');
        if (colon == std::string_view::npos || rest.find(':') != colon) {
            throw std::invalid_argument("syslog target " + std::string(text) + ": needs host:port");
        }
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    if (host.empty() || host.find_first_of("/ ") != std::string_view::npos) {
        throw std::invalid_argument("syslog target " + std::string(text) + ": needs a host");
    }
    target.address = std::string(host);
    target.port = parse_port(port, text);
    return target;
}

std::string syslog_message(std::string_view hostname, std::string_view timestamp,
                           std::string_view message) {
    std::string line = "<86>1 ";  // authpriv.info
    line += timestamp.empty() ? std::string_view("-") : timestamp;
    line += ' ';
    line += hostname;
    line += " keydesk ";
    line += std::to_string(::getpid());
    line += " audit.checkpoint - ";
    line += message;
    return line;
}

struct CheckpointShipper::Shared {
    ShipperSettings settings;
    std::string hostname;

    mutable std::mutex mutex;
    std::condition_variable wake;
    mutable std::condition_variable progress;
    std::deque<std::pair<std::string, std::string>> queue;  // (timestamp, line)
    bool stopping = false;
    bool finished = false;
    bool reopen = false;
    bool busy = false;
    std::uint64_t dropped = 0;
    DeliveryStatus syslog_status;
    DeliveryStatus file_status;

    // Only the shipper thread touches these.
    int syslog_fd = -1;
    bool syslog_stream = false;
    int file_fd = -1;

    void run();
    void close_all();
    std::string send_syslog(const std::string& message);
    std::string connect_syslog(Clock::time_point deadline);
    std::string write_file(const std::string& line);
    void record(DeliveryStatus& status, const std::string& error);
};

void CheckpointShipper::Shared::close_all() {
    if (syslog_fd >= 0) ::close(syslog_fd);
    if (file_fd >= 0) ::close(file_fd);
    syslog_fd = -1;
    file_fd = -1;
}

std::string CheckpointShipper::Shared::connect_syslog(Clock::time_point deadline) {
    const auto& target = settings.syslog;
    if (target.kind == SyslogTarget::Kind::unix_socket) {
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, target.address.c_str(), target.address.size() + 1);
        // /dev/log is a datagram socket (journald, rsyslog); some daemons listen with a stream.
        for (const int type : {SOCK_DGRAM, SOCK_STREAM}) {
            const int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
            if (fd < 0) return errno_text("socket");
            if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
                syslog_fd = fd;
                syslog_stream = type == SOCK_STREAM;
                return {};
            }
            const int saved = errno;
            ::close(fd);
            errno = saved;
            if (saved != EPROTOTYPE) break;
        }
        return errno_text("connect " + target.address);
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = target.kind == SyslogTarget::Kind::udp ? SOCK_DGRAM : SOCK_STREAM;
    addrinfo* found = nullptr;
    const int resolved = ::getaddrinfo(target.address.c_str(), target.port.c_str(), &hints, &found);
    if (resolved != 0) return "resolve " + target.address + ": " + ::gai_strerror(resolved);
    std::string error = "no address for " + target.address;
    for (auto* entry = found; entry; entry = entry->ai_next) {
        const int fd = ::socket(entry->ai_family, entry->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                                entry->ai_protocol);
        if (fd < 0) {
            error = errno_text("socket");
            continue;
        }
        // A connected UDP socket reports a closed port (ICMP) on the next send.
        int result = ::connect(fd, entry->ai_addr, entry->ai_addrlen);
        if (result != 0 && errno == EINPROGRESS) {
            int socket_error = 0;
            socklen_t length = sizeof socket_error;
            if (wait_for(fd, POLLOUT, deadline) &&
                ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &socket_error, &length) == 0) {
                errno = socket_error;
                result = socket_error == 0 ? 0 : -1;
            }
        }
        if (result == 0) {
            syslog_fd = fd;
            syslog_stream = target.kind == SyslogTarget::Kind::tcp;
            ::freeaddrinfo(found);
            return {};
        }
        error = errno_text("connect " + target.text());
        ::close(fd);
    }
    ::freeaddrinfo(found);
    return error;
}

std::string CheckpointShipper::Shared::send_syslog(const std::string& message) {
    // A kept TCP connection may have been closed by the receiver: one fresh try after a failure.
    for (int attempt = 0; attempt < 2; ++attempt) {
        const auto deadline = Clock::now() + settings.timeout;
        const bool reused = syslog_fd >= 0;
        if (!reused) {
            if (auto error = connect_syslog(deadline); !error.empty()) return error;
        }
        std::string frame;
        if (!syslog_stream) {
            frame = message;
        } else if (settings.syslog.kind == SyslogTarget::Kind::tcp) {
            frame = std::to_string(message.size()) + " " + message;  // RFC 6587 octet counting
        } else {
            frame = message + "\n";
        }
        std::size_t sent = 0;
        std::string error;
        while (sent < frame.size()) {
            if (!wait_for(syslog_fd, POLLOUT, deadline)) {
                error = errno_text("send to " + settings.syslog.text());
                break;
            }
            const auto result = ::send(syslog_fd, frame.data() + sent, frame.size() - sent,
                                       MSG_NOSIGNAL | MSG_DONTWAIT);
            if (result < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (result < 0) {
                error = errno_text("send to " + settings.syslog.text());
                break;
            }
            sent += static_cast<std::size_t>(result);
            if (!syslog_stream) break;  // a datagram goes whole or not at all
        }
        if (error.empty()) return {};
        ::close(syslog_fd);
        syslog_fd = -1;
        if (!reused) return error;
    }
    return "send to " + settings.syslog.text() + " failed";
}

std::string CheckpointShipper::Shared::write_file(const std::string& line) {
    if (file_fd < 0) {
        // O_NONBLOCK: a FIFO (or device) in its place must not hang the sender in open().
        bool created = true;
        constexpr int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NONBLOCK;
        file_fd = ::open(settings.file.c_str(), flags | O_CREAT | O_EXCL, 0600);
        if (file_fd < 0 && errno == EEXIST) {
            created = false;
            file_fd = ::open(settings.file.c_str(), flags);
        }
        if (file_fd < 0) return errno_text("open " + settings.file.string());
        struct stat info {};
        if (::fstat(file_fd, &info) != 0 || !S_ISREG(info.st_mode)) {
            ::close(file_fd);
            file_fd = -1;
            return "open " + settings.file.string() + ": not a regular file";
        }
        if (created) {
            auto parent = settings.file.parent_path();
            const int directory = ::open(parent.empty() ? "." : parent.c_str(),
                                         O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (directory >= 0) {
                ::fsync(directory);
                ::close(directory);
            }
        }
    }
    const std::string data = line + "\n";
    std::size_t written = 0;
    std::string error;
    while (written < data.size()) {
        const auto result = ::write(file_fd, data.data() + written, data.size() - written);
        if (result < 0 && errno == EINTR) continue;
        if (result <= 0) {
            error = errno_text("write " + settings.file.string());
            break;
        }
        written += static_cast<std::size_t>(result);
    }
    if (error.empty() && ::fdatasync(file_fd) != 0) error = errno_text("fdatasync " + settings.file.string());
    if (!error.empty()) {
        ::close(file_fd);
        file_fd = -1;
    }
    return error;
}

void CheckpointShipper::Shared::record(DeliveryStatus& status, const std::string& error) {
    {
        std::lock_guard lock(mutex);
        if (error.empty()) {
            ++status.delivered;
            status.last_error.clear();
            status.last_error_time.clear();
            return;
        }
        ++status.failed;
        status.last_error = error;
        status.last_error_time = utc_timestamp(std::chrono::system_clock::now());
    }
    if (settings.on_failure) {
        try {
            settings.on_failure("checkpoint not delivered to " + status.target + ": " + error);
        } catch (...) {
            // A reporting hook must not stop deliveries.
        }
    }
}

void CheckpointShipper::Shared::run() {
    for (;;) {
        std::pair<std::string, std::string> item;
        bool close_first = false;
        {
            std::unique_lock lock(mutex);
            wake.wait(lock, [this] { return stopping || reopen || !queue.empty(); });
            close_first = std::exchange(reopen, false);
            if (queue.empty() && !close_first) {
                finished = true;
                progress.notify_all();
                break;
            }
            if (!queue.empty()) {
                item = std::move(queue.front());
                queue.pop_front();
                busy = true;
            }
        }
        if (close_first) close_all();
        if (!item.second.empty()) {
            if (settings.syslog.kind != SyslogTarget::Kind::none) {
                record(syslog_status, send_syslog(syslog_message(hostname, item.first, item.second)));
            }
            if (!settings.file.empty()) record(file_status, write_file(item.second));
        }
        std::lock_guard lock(mutex);
        busy = false;
        progress.notify_all();
    }
    close_all();
}

CheckpointShipper::CheckpointShipper(ShipperSettings settings)
    : shared_(std::make_shared<Shared>()) {
    shared_->settings = std::move(settings);
    shared_->hostname = clean_hostname(shared_->settings.hostname);
    shared_->syslog_status.target = "syslog " + shared_->settings.syslog.text();
    shared_->file_status.target = "file " + shared_->settings.file.string();
    if (enabled()) {
        // The thread owns a reference: if it is still stuck in a send at stop(), it can be left
        // behind safely.
        thread_ = std::thread([shared = shared_] { shared->run(); });
    }
}

CheckpointShipper::~CheckpointShipper() { stop(shared_->settings.timeout); }

bool CheckpointShipper::enabled() const {
    return shared_->settings.syslog.kind != SyslogTarget::Kind::none || !shared_->settings.file.empty();
}

void CheckpointShipper::post(std::string timestamp, std::string line) {
    if (!enabled()) return;
    {
        std::lock_guard lock(shared_->mutex);
        if (shared_->stopping) return;
        if (shared_->queue.size() >= std::max<std::size_t>(1, shared_->settings.queue_limit)) {
            shared_->queue.pop_front();
            ++shared_->dropped;
        }
        shared_->queue.emplace_back(std::move(timestamp), std::move(line));
    }
    shared_->wake.notify_one();
}

void CheckpointShipper::reopen() {
    {
        std::lock_guard lock(shared_->mutex);
        shared_->reopen = true;
    }
    shared_->wake.notify_one();
}

void CheckpointShipper::stop(std::chrono::milliseconds grace) {
    if (!thread_.joinable()) return;
    bool finished = false;
    {
        std::unique_lock lock(shared_->mutex);
        shared_->stopping = true;
        shared_->wake.notify_one();
        finished = shared_->progress.wait_for(lock, grace, [this] { return shared_->finished; });
    }
    if (finished) {
        thread_.join();
    } else {
        thread_.detach();
    }
}

bool CheckpointShipper::wait_idle(std::chrono::milliseconds timeout) const {
    std::unique_lock lock(shared_->mutex);
    return shared_->progress.wait_for(lock, timeout, [this] {
        return (shared_->queue.empty() && !shared_->busy) || shared_->finished;
    });
}

std::vector<DeliveryStatus> CheckpointShipper::status() const {
    std::lock_guard lock(shared_->mutex);
    std::vector<DeliveryStatus> result;
    if (shared_->settings.syslog.kind != SyslogTarget::Kind::none) result.push_back(shared_->syslog_status);
    if (!shared_->settings.file.empty()) result.push_back(shared_->file_status);
    return result;
}

std::uint64_t CheckpointShipper::dropped() const {
    std::lock_guard lock(shared_->mutex);
    return shared_->dropped;
}

}  // namespace keydesk::audit
