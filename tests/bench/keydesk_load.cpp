// keydesk_load: N concurrent signed-in helpdesk clients against a running keydesk, over HTTPS
// with keep-alive (Boost.Beast, synchronous, one thread and one connection per client; a client
// reconnects when keydesk closes the connection, e.g. after its per-connection request cap).
//   --mode lookup   POST /api/v1/lookups {"key_id": <first 8 chars of a random sampled key>}
//   --mode reveal   the lookup, then POST /api/v1/reveals {"key_id": <full id>, "reason": "tpm_reset"}
//                   (one operation = the pair; each call's own latency is reported too)
// Every client signs in first (not measured). With --pid, keydesk's peak RSS during the run is
// read from /proc/PID/status (VmHWM, reset first through /proc/PID/clear_refs when allowed;
// VmRSS is also sampled every 100 ms as a fallback).
// Prints a human summary and one "RESULT key=value ..." line for tests/bench/run.sh.
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "tests/bench/bench_common.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using namespace keydesk::bench;

constexpr const char* usage =
    "usage: keydesk_load --port P --ca CA.pem --keys KEYFILE [--mode lookup|reveal]\n"
    "         [--clients 16] [--duration 10] [--warmup 1] [--pid KEYDESK_PID] [--host localhost]\n"
    "         [--username helpdesk1] [--password Helpdesk1-Pass!] [--prefix-chars 8] [--seed 1]\n"
    "         [--max-wait 300]\n"
    "  Closed loop: operations completing after the warm-up count; a client stops after the\n"
    "  window once it has one result (at most max-wait s late), so slow scans still give figures.\n"
    "  KEYFILE: one full Key ID per line (raw_ldap_bench --mode sample makes it)\n";

long status_kb(int pid, const char* field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    const std::string prefix = std::string(field) + ":";
    while (std::getline(in, line)) {
        if (line.rfind(prefix, 0) == 0) return std::stol(line.substr(prefix.size()));
    }
    return -1;
}

bool reset_peak_rss(int pid) {
    std::ofstream out("/proc/" + std::to_string(pid) + "/clear_refs");
    out << "5";
    out.flush();
    return static_cast<bool>(out);
}

struct Reply {
    unsigned status = 0;
    std::string body;
    std::string set_cookie;
};

class Client {
public:
    Client(asio::ssl::context& tls, std::string host, std::uint16_t port)
        : tls_(tls), host_(std::move(host)), port_(port) {}

    // Connects if needed; any failure throws (the caller counts it and reconnects).
    Reply call(const std::string& target, const std::string& body) {
        if (!stream_) connect();
        http::request<http::string_body> request{http::verb::post, target, 11};
        request.set(http::field::host, host_ + ":" + std::to_string(port_));
        request.set(http::field::content_type, "application/json");
        request.keep_alive(true);
        if (!cookie.empty()) request.set(http::field::cookie, cookie);
        if (!csrf.empty()) request.set("X-CSRF-Token", csrf);
        request.body() = body;
        request.prepare_payload();
        http::response<http::string_body> response;
        try {
            http::write(*stream_, request);
            http::read(*stream_, buffer_, response);
        } catch (...) {
            drop();
            throw;
        }
        Reply reply{response.result_int(), std::move(response.body()),
                    std::string(response[http::field::set_cookie])};
        if (!response.keep_alive()) {
            drop();
            ++reconnects;
        }
        return reply;
    }

    void drop() {
        fd.store(-1);
        stream_.reset();
        io_.restart();
        buffer_.clear();
    }

    // The watchdog's way to unblock a synchronous read that would never end.
    std::atomic<int> fd{-1};
    std::string cookie, csrf;
    std::size_t reconnects = 0;

private:
    void connect() {
        stream_.emplace(io_, tls_);
        stream_->set_verify_callback(asio::ssl::host_name_verification(host_));
        SSL_set_tlsext_host_name(stream_->native_handle(), host_.c_str());
        asio::ip::tcp::resolver resolver(io_);
        asio::connect(stream_->next_layer(), resolver.resolve("127.0.0.1", std::to_string(port_)));
        stream_->next_layer().set_option(asio::ip::tcp::no_delay(true));
        fd.store(stream_->next_layer().native_handle());
        stream_->handshake(asio::ssl::stream_base::client);
    }

    asio::io_context io_;
    asio::ssl::context& tls_;
    std::string host_;
    std::uint16_t port_;
    std::optional<asio::ssl::stream<asio::ip::tcp::socket>> stream_;
    beast::flat_buffer buffer_;
};

struct ClientResult {
    std::vector<std::uint32_t> op_micros, lookup_micros, reveal_micros;
    std::map<std::string, std::size_t> errors;
    std::size_t misses = 0;
    Clock::time_point last_done{};
};

std::string error_code(const Reply& reply) {
    boost::system::error_code ec;
    auto value = json::parse(reply.body, ec);
    std::string code = "http_" + std::to_string(reply.status);
    if (!ec && value.is_object() && value.as_object().contains("error") &&
        value.at("error").is_string()) {
        code += "_" + std::string(value.at("error").as_string());
    }
    return code;
}

}  // namespace

int main(int argc, char** argv) try {
    Options opt(argc, argv,
                {{"port", "0"}, {"ca", ""}, {"keys", ""}, {"mode", "lookup"}, {"clients", "16"},
                 {"duration", "10"}, {"warmup", "1"}, {"pid", "0"}, {"host", "localhost"},
                 {"username", "helpdesk1"}, {"password", "Helpdesk1-Pass!"},
                 {"prefix-chars", "8"}, {"seed", "1"}, {"max-wait", "300"}},
                usage);
    const auto mode = opt.str("mode");
    if (opt.integer("port") <= 0 || opt.str("ca").empty() || opt.str("keys").empty() ||
        (mode != "lookup" && mode != "reveal")) {
        std::fputs(usage, stderr);
        return 2;
    }
    const auto keys = read_key_file(opt.str("keys"));
    const auto port = static_cast<std::uint16_t>(opt.integer("port"));
    const int clients = static_cast<int>(opt.integer("clients"));
    const int pid = static_cast<int>(opt.integer("pid"));
    const auto prefix_chars = static_cast<std::size_t>(opt.integer("prefix-chars"));
    const auto warmup = std::chrono::duration<double>(opt.number("warmup"));
    const auto duration = std::chrono::duration<double>(opt.number("duration"));
    const auto max_wait = std::chrono::seconds(opt.integer("max-wait"));

    asio::ssl::context tls(asio::ssl::context::tls_client);
    tls.load_verify_file(opt.str("ca"));
    tls.set_verify_mode(asio::ssl::verify_peer);

    std::vector<std::unique_ptr<Client>> conns;
    for (int i = 0; i < clients; ++i) conns.push_back(std::make_unique<Client>(tls, opt.str("host"), port));
    std::vector<ClientResult> results(static_cast<std::size_t>(clients));
    std::atomic<bool> go{false};
    std::atomic<bool> finished{false};
    Clock::time_point window_start, window_end;

    const std::string sign_in_body = json::serialize(
        json::object{{"username", opt.str("username")}, {"password", opt.str("password")}});

    // One after the other: keydesk's sign-in throttle counts attempts in flight against the
    // account's 4 allowed failures, so 16 concurrent sign-ins of one account would be refused.
    for (auto& client : conns) {
        const auto reply = client->call("/api/v1/session", sign_in_body);
        if (reply.status != 200) throw std::runtime_error("a client could not sign in: " + error_code(reply));
        client->cookie = reply.set_cookie.substr(0, reply.set_cookie.find(';'));
        client->csrf = std::string(json::parse(reply.body).at("csrf_token").as_string());
    }

    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            auto& client = *conns[static_cast<std::size_t>(c)];
            auto& r = results[static_cast<std::size_t>(c)];
            std::mt19937_64 rng(static_cast<unsigned>(opt.integer("seed")) * 104729u + static_cast<unsigned>(c));
            while (!go) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            std::size_t counted = 0;
            // Closed loop: operations that complete after the warm-up count; after the window each
            // client stops once it has at least one result (slow scans still give a figure).
            for (auto now = Clock::now(); now < window_end || counted == 0; now = Clock::now()) {
                if (now > window_end + max_wait) break;
                const auto& key = keys[rng() % keys.size()];
                const auto op_start = Clock::now();
                std::string failure;
                std::uint32_t lookup_us = 0, reveal_us = 0;
                bool miss = false;
                try {
                    const auto body = json::serialize(json::object{{"key_id", key.substr(0, prefix_chars)}});
                    auto reply = client.call("/api/v1/lookups", body);
                    lookup_us = micros_since(op_start);
                    if (reply.status != 200) {
                        failure = "lookup_" + error_code(reply);
                    } else {
                        bool found = false;
                        const auto parsed = json::parse(reply.body);
                        for (const auto& m : parsed.at("matches").as_array()) {
                            if (m.at("key_id").as_string() == key) found = true;
                        }
                        miss = !found;
                    }
                    if (failure.empty() && mode == "reveal") {
                        const auto reveal_start = Clock::now();
                        const auto reveal_body = json::serialize(json::object{{"key_id", key}, {"reason", "tpm_reset"}});
                        reply = client.call("/api/v1/reveals", reveal_body);
                        reveal_us = micros_since(reveal_start);
                        if (reply.status != 200) {
                            failure = "reveal_" + error_code(reply);
                        } else if (json::parse(reply.body).at("recovery_password").as_string().size() != 55) {
                            failure = "reveal_bad_password";
                        }
                    }
                } catch (const std::exception& e) {
                    failure = std::string("transport: ") + e.what();
                }
                const auto done = Clock::now();
                if (done < window_start) continue;
                ++counted;
                r.last_done = std::max(r.last_done, done);
                if (!failure.empty()) {
                    ++r.errors[failure];
                    continue;
                }
                if (miss) ++r.misses;
                r.op_micros.push_back(micros_since(op_start));
                r.lookup_micros.push_back(lookup_us);
                if (mode == "reveal") r.reveal_micros.push_back(reveal_us);
            }
        });
    }

    const long idle_rss_kb = pid > 0 ? status_kb(pid, "VmRSS") : -1;
    const bool hwm_reset = pid > 0 && reset_peak_rss(pid);
    const auto now = Clock::now();
    window_start = now + std::chrono::duration_cast<Clock::duration>(warmup);
    window_end = window_start + std::chrono::duration_cast<Clock::duration>(duration);
    go = true;

    // RSS sampler and watchdog: a request still blocked max-wait + 30 s after the window gets its
    // socket shut.
    long sampled_peak_kb = idle_rss_kb;
    std::thread sampler([&] {
        while (!finished) {
            if (pid > 0) sampled_peak_kb = std::max(sampled_peak_kb, status_kb(pid, "VmRSS"));
            if (Clock::now() > window_end + max_wait + std::chrono::seconds(30)) {
                for (auto& conn : conns) {
                    const int fd = conn->fd.load();
                    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
                }
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    });
    for (auto& t : threads) t.join();
    finished = true;
    sampler.join();
    const long hwm_kb = pid > 0 ? status_kb(pid, "VmHWM") : -1;
    const long after_rss_kb = pid > 0 ? status_kb(pid, "VmRSS") : -1;
    const long peak_kb = hwm_reset ? std::max(hwm_kb, sampled_peak_kb) : sampled_peak_kb;

    std::vector<std::uint32_t> ops, lookups, reveals;
    std::map<std::string, std::size_t> errors;
    std::size_t misses = 0, error_count = 0, reconnects = 0;
    auto last_done = window_end;
    for (std::size_t i = 0; i < results.size(); ++i) {
        auto& r = results[i];
        last_done = std::max(last_done, r.last_done);
        ops.insert(ops.end(), r.op_micros.begin(), r.op_micros.end());
        lookups.insert(lookups.end(), r.lookup_micros.begin(), r.lookup_micros.end());
        reveals.insert(reveals.end(), r.reveal_micros.begin(), r.reveal_micros.end());
        for (auto& [k, v] : r.errors) {
            errors[k] += v;
            error_count += v;
        }
        misses += r.misses;
        reconnects += conns[i]->reconnects;
    }
    const auto s = summarize(ops);
    const auto l = summarize(lookups);
    const auto v = summarize(reveals);
    const double secs = std::chrono::duration<double>(last_done - window_start).count();
    std::ostringstream error_text;
    for (auto& [k, n] : errors) error_text << " [" << k << "]=" << n;
    std::printf("keydesk %s: %d clients, %.1f s: %zu ops, %.1f/s, p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, "
                "max %.3f ms; lookup p50 %.3f p99 %.3f ms", mode.c_str(), clients, secs, s.count,
                static_cast<double>(s.count) / secs, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, l.p50_ms, l.p99_ms);
    if (mode == "reveal") std::printf("; reveal p50 %.3f p99 %.3f ms", v.p50_ms, v.p99_ms);
    std::printf("; %zu misses, %zu errors%s, %zu reconnects", misses, error_count, error_text.str().c_str(), reconnects);
    if (pid > 0) {
        std::printf("; RSS before %.1f MB, peak %.1f MB (%s), after %.1f MB", idle_rss_kb / 1024.0,
                    peak_kb / 1024.0, hwm_reset ? "VmHWM" : "sampled VmRSS", after_rss_kb / 1024.0);
    }
    std::printf("\n");
    std::printf("RESULT mode=%s clients=%d seconds=%.3f requests=%zu rps=%.3f p50_ms=%.3f p90_ms=%.3f "
                "p99_ms=%.3f max_ms=%.3f mean_ms=%.3f lookup_p50_ms=%.3f lookup_p99_ms=%.3f "
                "reveal_p50_ms=%.3f reveal_p99_ms=%.3f misses=%zu errors=%zu reconnects=%zu "
                "rss_before_kb=%ld peak_rss_kb=%ld rss_after_kb=%ld peak_source=%s\n",
                mode.c_str(), clients, secs, s.count, static_cast<double>(s.count) / secs, s.p50_ms,
                s.p90_ms, s.p99_ms, s.max_ms, s.mean_ms, l.p50_ms, l.p99_ms, v.p50_ms, v.p99_ms,
                misses, error_count, reconnects, idle_rss_kb, peak_kb, after_rss_kb,
                hwm_reset ? "VmHWM" : "sampled");
    return error_count > 0 && s.count == 0 ? 1 : 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "keydesk_load: %s\n", e.what());
    return 1;
}
