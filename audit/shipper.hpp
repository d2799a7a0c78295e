// Sends each checkpoint off the host (RFC 5424 syslog, a second file) from its own thread, so a
// slow or dead receiver never holds up an audit append.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace keydesk::audit {

// Where syslog lines go.
struct SyslogTarget {
    enum class Kind { none, unix_socket, udp, tcp };
    Kind kind = Kind::none;
    std::string address;  // socket path, or host name / IP address
    std::string port;     // udp and tcp
    std::string text() const;  // "unix:/dev/log", "udp://127.0.0.1:514", "none"
};

// "" or "none": none. "auto": unix:/dev/log if that socket exists, else none. "unix:/path",
// "udp://host:port", "tcp://host:port" ("[::1]:514" for IPv6). Throws std::invalid_argument.
SyslogTarget parse_syslog_target(std::string_view text);

// One RFC 5424 message: "<86>1 TIMESTAMP HOSTNAME keydesk PROCID audit.checkpoint - MSG"
// (facility authpriv, severity info; MSG is the checkpoint's JSON line as written in the log).
std::string syslog_message(std::string_view hostname, std::string_view timestamp,
                           std::string_view message);

// How deliveries to one target went.
struct DeliveryStatus {
    std::string target;  // "syslog udp://127.0.0.1:514", "file /mnt/other/checkpoints.jsonl"
    std::uint64_t delivered = 0;
    std::uint64_t failed = 0;
    std::string last_error;       // empty once a delivery succeeds again
    std::string last_error_time;  // UTC
};

struct ShipperSettings {
    SyslogTarget syslog;
    std::filesystem::path file;  // empty: none
    std::string hostname;        // empty: gethostname()
    std::size_t queue_limit = 1024;
    std::chrono::milliseconds timeout{2000};  // per connect and per send
    // Called on the shipper's thread after each failed delivery; must not touch the AuditLog.
    std::function<void(std::string_view)> on_failure;
};

class CheckpointShipper {
public:
    explicit CheckpointShipper(ShipperSettings settings);
    ~CheckpointShipper();  // stop(timeout)
    CheckpointShipper(const CheckpointShipper&) = delete;
    CheckpointShipper& operator=(const CheckpointShipper&) = delete;

    bool enabled() const;
    // Queues one checkpoint line; never blocks on the network or the disk. When the queue is
    // full the oldest waiting line is dropped (a newer checkpoint supersedes it) and counted.
    void post(std::string timestamp, std::string line);
    // Closes the connection and the file; the next delivery opens them again (SIGHUP).
    void reopen();
    // Delivers what is queued for at most `grace`, then leaves the thread to finish on its own.
    void stop(std::chrono::milliseconds grace);
    // Waits until everything posted was tried; false on timeout (tests, shutdown).
    bool wait_idle(std::chrono::milliseconds timeout) const;

    std::vector<DeliveryStatus> status() const;
    std::uint64_t dropped() const;

private:
    struct Shared;
    std::shared_ptr<Shared> shared_;
    std::thread thread_;
};

}  // namespace keydesk::audit
