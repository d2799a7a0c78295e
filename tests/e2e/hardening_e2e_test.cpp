// Abuse limits and hardening, against the real binary: rate limits, session rotation and
// re-checks, the role x endpoint matrix, TLS versions and ciphers, a directory that hangs, a crash
// during reveals, and a thousand half-open connections.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include "tests/support/https_client.hpp"
#include "tests/support/keydesk_process.hpp"
#include "tests/support/test_directory.hpp"

using namespace keydesk::test;
namespace fx = keydesk::test::fixtures;
using boost::beast::http::verb;

namespace {

std::vector<boost::json::object> audit_records(const KeydeskInstance& instance) {
    std::vector<boost::json::object> records;
    for (const auto& entry : std::filesystem::directory_iterator(instance.audit_dir())) {
        std::ifstream in(entry.path());
        for (std::string line; std::getline(in, line);) {
            boost::system::error_code error;
            auto value = boost::json::parse(line, error);
            if (!error) records.push_back(value.as_object());
        }
    }
    return records;
}

std::string reveal_body(const std::string& key_id) {
    return R"({"key_id":")" + key_id + R"(","reason":"lost_pin"})";
}

HttpsClient signed_in(const KeydeskInstance& instance, const std::string& user, const std::string& password) {
    HttpsClient client(instance.port(), instance.ca_file());
    const auto result = client.sign_in(user, password);
    EXPECT_EQ(result.status, 200u) << user << ": " << result.body;
    return client;
}

std::string password_of(const std::string& user) {
    static const std::map<std::string, std::string> passwords{
        {"helpdesk1", "Helpdesk1-Pass!"}, {"auditor1", "Auditor1-Pass!"},
        {"security1", "Security1-Pass!"}, {"admin1", "Admin1-Pass!"}};
    return passwords.at(user);
}

}  // namespace

TEST(Hardening, BurstsOfLookupsAndRevealsAreRateLimitedAndAudited) {
    KeydeskInstance instance("rate", "[limits]\nlookups_per_minute = 3\nreveals_per_10_minutes = 2\n");
    ASSERT_TRUE(instance.start()) << instance.log();
    auto c = signed_in(instance, "helpdesk1", "Helpdesk1-Pass!");
    for (int i = 0; i < 3; ++i) EXPECT_EQ(c.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})").status, 200u);
    const auto limited = c.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})");
    EXPECT_EQ(limited.status, 429u);
    EXPECT_EQ(limited.error(), "rate_limited");
    EXPECT_GT(std::stoi(limited.header("retry-after")), 0);

    for (int i = 0; i < 2; ++i) EXPECT_EQ(c.post("/api/v1/reveals", reveal_body(fx::k1)).status, 200u);
    const auto refused = c.post("/api/v1/reveals", reveal_body(fx::k1));
    EXPECT_EQ(refused.status, 429u);
    EXPECT_EQ(refused.body.find(fx::k1_password), std::string::npos);

    int audited = 0;
    for (const auto& record : audit_records(instance)) {
        if (record.contains("reason") && record.at("reason") == "rate_limited") ++audited;
    }
    EXPECT_EQ(audited, 2);
    EXPECT_NE(instance.log().find("ALERT"), std::string::npos);
}

TEST(Hardening, SignInRotatesTheSessionAndSignOutClearsSiteData) {
    KeydeskInstance instance("rotate");
    ASSERT_TRUE(instance.start()) << instance.log();
    auto c = signed_in(instance, "helpdesk1", "Helpdesk1-Pass!");
    const auto first = c.cookie;
    ASSERT_EQ(c.sign_in("helpdesk1", "Helpdesk1-Pass!").status, 200u);  // sent with the old cookie
    EXPECT_NE(c.cookie, first);
    HttpsClient stale(instance.port(), instance.ca_file());
    stale.cookie = first;
    EXPECT_EQ(stale.get("/api/v1/session").status, 401u);

    const auto out = c.del("/api/v1/session");
    EXPECT_EQ(out.status, 204u);
    EXPECT_EQ(out.header("clear-site-data"), R"("cache", "cookies", "storage")");
    EXPECT_NE(out.header("set-cookie").find("Max-Age=0"), std::string::npos);
    EXPECT_EQ(c.get("/api/v1/session").status, 401u);
}

TEST(Hardening, ARemovedGroupMembershipEndsAccessAtTheNextLookup) {
    KeydeskInstance instance("recheck", "[limits]\nsession_recheck_seconds = 0\n");
    ASSERT_TRUE(instance.start()) << instance.log();
    const auto& directory = TestDirectory::get();
    // plainuser becomes helpdesk for a moment, through the nested Tier1 group.
    const std::string change = std::string("dn: ") + fx::tier1_group + "\nchangetype: modify\n";
    {
        HttpsClient c(instance.port(), instance.ca_file());
        ASSERT_EQ(c.sign_in("plainuser", "Plain1-Pass!").status, 403u);  // no role yet
    }
    const std::string member = "member: CN=Pat Plain,OU=Staff," + directory["KD_BASE_DN"] + "\n";
    ASSERT_EQ(directory.modify(change + "add: member\n" + member), 0);
    HttpsClient c(instance.port(), instance.ca_file());
    const auto signed_in_result = c.sign_in("plainuser", "Plain1-Pass!");
    const auto before = c.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})");
    directory.modify(change + "delete: member\n" + member);
    const auto after = c.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})");
    EXPECT_EQ(signed_in_result.status, 200u) << signed_in_result.body;
    EXPECT_EQ(before.status, 200u);
    EXPECT_EQ(after.status, 403u);
    EXPECT_EQ(after.error(), "forbidden");
}

TEST(Hardening, RoleByEndpointMatrix) {
    KeydeskInstance instance("matrix");
    ASSERT_TRUE(instance.start()) << instance.log();
    struct Expected {
        unsigned get_session, lookup, reveal, delete_session;
    };
    const std::map<std::string, Expected> matrix{
        {"", {401, 401, 401, 401}},
        {"helpdesk1", {200, 200, 200, 204}},
        {"admin1", {200, 200, 200, 204}},
        {"auditor1", {200, 403, 403, 204}},
        {"security1", {200, 403, 403, 204}},
    };
    for (const auto& [user, expected] : matrix) {
        HttpsClient c(instance.port(), instance.ca_file());
        if (!user.empty()) {
            ASSERT_EQ(c.sign_in(user, password_of(user)).status, 200u) << user;
        }
        EXPECT_EQ(c.get("/api/v1/session").status, expected.get_session) << user;
        EXPECT_EQ(c.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})").status, expected.lookup) << user;
        EXPECT_EQ(c.post("/api/v1/reveals", reveal_body(fx::k1)).status, expected.reveal) << user;
        EXPECT_EQ(c.get("/healthz").status, 200u) << user;
        EXPECT_EQ(c.get("/readyz").status, 200u) << user;
        EXPECT_EQ(c.get("/").status, 200u) << user;
        EXPECT_EQ(c.del("/api/v1/session").status, expected.delete_session) << user;
    }
}

namespace {

// What `openssl s_client` negotiates with the server, or "" if the handshake fails.
std::string negotiate(std::uint16_t port, const std::string& options) {
    const std::string command = "echo | timeout 10 openssl s_client -connect 127.0.0.1:" +
                                std::to_string(port) + " " + options + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    std::string output;
    char buffer[4096];
    while (auto got = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, got);
    ::pclose(pipe);
    const auto at = output.find("Cipher is ");
    if (at == std::string::npos || output.compare(at, 16, "Cipher is (NONE)") == 0) return "";
    return output.substr(at + 10, output.find('\n', at) - at - 10);
}

}  // namespace

TEST(Hardening, OnlyTls12And13WithForwardSecretAeadCiphers) {
    KeydeskInstance instance("tls");
    ASSERT_TRUE(instance.start()) << instance.log();
    const auto port = instance.port();
    EXPECT_NE(negotiate(port, "-tls1_3"), "");
    EXPECT_EQ(negotiate(port, "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256"), "ECDHE-ECDSA-AES128-GCM-SHA256");
    EXPECT_EQ(negotiate(port, "-tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305"), "ECDHE-ECDSA-CHACHA20-POLY1305");
    // Old protocols, even when the client offers them.
    EXPECT_EQ(negotiate(port, "-tls1_1 -cipher DEFAULT@SECLEVEL=0"), "");
    EXPECT_EQ(negotiate(port, "-tls1 -cipher DEFAULT@SECLEVEL=0"), "");
    // Weak TLS 1.2 suites: CBC, no forward secrecy, 3DES.
    EXPECT_EQ(negotiate(port, "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA"), "");
    EXPECT_EQ(negotiate(port, "-tls1_2 -cipher ECDHE-ECDSA-AES256-SHA384"), "");
    EXPECT_EQ(negotiate(port, "-tls1_2 -cipher AES128-GCM-SHA256"), "");
    EXPECT_EQ(negotiate(port, "-tls1_2 -cipher DES-CBC3-SHA@SECLEVEL=0"), "");
}

TEST(Hardening, ADirectoryThatAcceptsButNeverAnswersIsATimeoutNotAHang) {
    // A listener that accepts TCP connections and then says nothing.
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(::listen(listener, 64), 0);
    socklen_t length = sizeof address;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
    const auto hung_uri = "ldaps://localhost:" + std::to_string(ntohs(address.sin_port));

    // Only the hung DC: keydesk refuses to start, within its timeout (2 s), with a message.
    KeydeskInstance alone("hung-alone");
    {
        std::ifstream in(alone.config());
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto uri = TestDirectory::get()["KD_LDAPS_URI"];
        text.replace(text.find("\"" + uri + "\""), uri.size() + 2, "\"" + hung_uri + "\"");
        std::ofstream(alone.config(), std::ios::trunc) << text;
    }
    std::string output;
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(alone.run("serve --config '" + alone.config().string() + "'", output), 1);
    const auto refused_after = std::chrono::steady_clock::now() - started;
    EXPECT_LT(refused_after, std::chrono::seconds(8));
    EXPECT_NE(output.find("cannot bind to the directory"), std::string::npos) << output;

    // The hung DC first, a good one second: keydesk fails over and serves.
    KeydeskInstance failover("hung-first");
    {
        std::ifstream in(failover.config());
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto uri = TestDirectory::get()["KD_LDAPS_URI"];
        text.replace(text.find("\"" + uri + "\""), uri.size() + 2, "\"" + hung_uri + "\", \"" + uri + "\"");
        std::ofstream(failover.config(), std::ios::trunc) << text;
    }
    ASSERT_TRUE(failover.start()) << failover.log();
    auto c = signed_in(failover, "helpdesk1", "Helpdesk1-Pass!");
    EXPECT_EQ(c.post("/api/v1/lookups", R"({"key_id":"a1b2c3d4"})").status, 200u);
    ::close(listener);
    std::printf("hung directory: keydesk refused to start after %.1f s\n",
                std::chrono::duration<double>(refused_after).count());
}

TEST(Hardening, AKilledServerLosesNoRecordOfAnAnsweredReveal) {
    KeydeskInstance instance("crash", "[limits]\nreveals_per_10_minutes = 100000\nreveals_per_hour = 100000\n");
    ASSERT_TRUE(instance.start()) << instance.log();
    std::mutex mutex;
    std::set<std::string> answered;  // request ids of reveals that got their password
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int i = 0; i < 4; ++i) {
        clients.emplace_back([&] {
            HttpsClient c(instance.port(), instance.ca_file());
            if (c.sign_in("helpdesk1", "Helpdesk1-Pass!").status != 200) return;
            while (!stop) {
                try {
                    const auto result = c.post("/api/v1/reveals", reveal_body(fx::k1));
                    if (result.status == 200) {
                        std::lock_guard lock(mutex);
                        answered.insert(result.header("x-request-id"));
                    }
                } catch (const std::exception&) {
                    return;  // the server is gone
                }
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_EQ(instance.stop(SIGKILL), 128 + SIGKILL);
    stop = true;
    for (auto& client : clients) client.join();
    ASSERT_GT(answered.size(), 5u);

    // Restart (repairs a torn tail if the kill cut a write), stop cleanly, verify.
    ASSERT_TRUE(instance.start()) << instance.log();
    EXPECT_EQ(instance.stop(), 0);
    std::string output;
    EXPECT_EQ(instance.run("audit verify --config '" + instance.config().string() + "'", output), 0) << output;
    std::set<std::string> recorded;
    for (const auto& record : audit_records(instance)) {
        if (record.at("event") == "key.reveal" && record.at("outcome") == "success") {
            recorded.insert(std::string(record.at("request_id").as_string()));
        }
    }
    std::size_t missing = 0;
    for (const auto& id : answered) missing += recorded.contains(id) ? 0 : 1;
    EXPECT_EQ(missing, 0u);
    std::printf("SIGKILL during reveals: %zu answered, %zu recorded, %zu missing\n", answered.size(),
                recorded.size(), missing);
}

TEST(Hardening, AThousandHalfOpenConnectionsDoNotStopAHelpdeskUser) {
    rlimit files{};
    ::getrlimit(RLIMIT_NOFILE, &files);
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
    KeydeskInstance instance("slowloris", "[limits]\nmax_connections = 4096\n");
    ASSERT_TRUE(instance.start()) << instance.log();

    // 1,000 connections that never finish a TLS handshake, from 20 loopback addresses
    // (50 each, under the per-address cap), the helpdesk user from 127.0.0.1.
    std::vector<int> attackers;
    for (int i = 0; i < 1000; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in source{};
        source.sin_family = AF_INET;
        source.sin_addr.s_addr = htonl(0x7F000002 + static_cast<unsigned>(i % 20));
        ::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source);
        sockaddr_in target{};
        target.sin_family = AF_INET;
        target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        target.sin_port = htons(instance.port());
        if (::connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof target) == 0) {
            ::send(fd, "\x16\x03\x01", 3, MSG_NOSIGNAL);  // the start of a ClientHello, no more
            attackers.push_back(fd);
        } else {
            ::close(fd);
        }
    }
    EXPECT_EQ(attackers.size(), 1000u);
    const auto started = std::chrono::steady_clock::now();
    auto c = signed_in(instance, "helpdesk1", "Helpdesk1-Pass!");
    const auto lookup = c.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})");
    const auto elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started);
    EXPECT_EQ(lookup.status, 200u);
    EXPECT_LT(elapsed.count(), 5000.0);
    std::printf("1000 half-open connections: sign-in + lookup took %.0f ms\n", elapsed.count());
    for (int fd : attackers) ::close(fd);
}

namespace {

std::string certificate_serial(std::uint16_t port) {
    const std::string command = "echo | timeout 10 openssl s_client -connect 127.0.0.1:" +
                                std::to_string(port) +
                                " 2>/dev/null | openssl x509 -noout -serial 2>/dev/null";
    FILE* pipe = ::popen(command.c_str(), "r");
    std::string output;
    char buffer[512];
    while (auto got = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, got);
    ::pclose(pipe);
    return output;
}

}  // namespace

// One TLS connection kept open across requests (HttpsClient opens one per request).
class KeepAliveConnection {
public:
    KeepAliveConnection(std::uint16_t port, const std::filesystem::path& ca_file)
        : tls_(boost::asio::ssl::context::tls_client), stream_(io_, tls_) {
        tls_.load_verify_file(ca_file.string());
        stream_.set_verify_mode(boost::asio::ssl::verify_peer);
        boost::beast::get_lowest_layer(stream_).connect(
            {boost::asio::ip::make_address("127.0.0.1"), port});
        stream_.handshake(boost::asio::ssl::stream_base::client);
    }
    unsigned get(const std::string& target) {
        namespace http = boost::beast::http;
        http::request<http::empty_body> request{http::verb::get, target, 11};
        request.set(http::field::host, "localhost");
        request.keep_alive(true);
        http::write(stream_, request);
        http::response<http::string_body> response;
        http::read(stream_, buffer_, response);
        return response.result_int();
    }

private:
    boost::asio::io_context io_;
    boost::asio::ssl::context tls_;
    boost::beast::ssl_stream<boost::beast::tcp_stream> stream_;
    boost::beast::flat_buffer buffer_;
};

TEST(Hardening, SighupReloadsTheCertificateAndKeepsABrokenOneOut) {
    KeydeskInstance instance("reload");
    ASSERT_TRUE(instance.start()) << instance.log();
    const auto before = certificate_serial(instance.port());
    ASSERT_NE(before.find("serial="), std::string::npos);
    // A connection made before the reload, on the old certificate.
    KeepAliveConnection open_before(instance.port(), instance.ca_file());
    ASSERT_EQ(open_before.get("/healthz"), 200u);

    // A renewed certificate (from a new CA, as a renewal may well be).
    const auto tls = instance.dir() / "tls";
    for (const char* file : {"server.pem", "server.key", "ca.pem", "ca.key"}) std::filesystem::remove(tls / file);
    ASSERT_EQ(std::system(("'" + std::string(KEYDESK_SOURCE_DIR) + "/tests/support/make-tls-cert.sh' '" +
                           tls.string() + "'").c_str()),
              0);
    ::kill(instance.pid(), SIGHUP);
    std::string after;
    for (int i = 0; i < 50; ++i) {
        after = certificate_serial(instance.port());
        if (after != before) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_NE(after, before);
    auto c = signed_in(instance, "helpdesk1", "Helpdesk1-Pass!");  // verifies against the new CA
    EXPECT_EQ(c.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})").status, 200u);
    // The connection opened before the reload was not dropped: it still answers, on its old TLS.
    EXPECT_EQ(open_before.get("/healthz"), 200u);
    EXPECT_EQ(open_before.get("/readyz"), 200u);

    // A broken file: the current certificate stays in service.
    std::ofstream(tls / "server.pem", std::ios::trunc) << "not a certificate";
    ::kill(instance.pid(), SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(certificate_serial(instance.port()), after);
    EXPECT_NE(instance.log().find("keeping the current TLS certificate"), std::string::npos);
    EXPECT_EQ(instance.stop(), 0);
}

TEST(Hardening, MoreRequestsThanWorkersAreRefusedAtOnceNotQueuedForever) {
    const auto& directory = TestDirectory::get();
    if (!directory.has("KD_SLAPD_PID")) GTEST_SKIP() << "pauses the OpenLDAP test directory";
    KeydeskInstance instance("overload", "[limits]\nmax_pending_requests = 2\nlookups_per_minute = 1000\n");
    {
        std::ifstream in(instance.config());
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        text.replace(text.find("worker_threads = 4"), 18, "worker_threads = 1");
        std::ofstream(instance.config(), std::ios::trunc) << text;
    }
    ASSERT_TRUE(instance.start()) << instance.log();
    auto c = signed_in(instance, "helpdesk1", "Helpdesk1-Pass!");
    const pid_t slapd = std::stoi(directory["KD_SLAPD_PID"]);

    // The directory stops answering: the one worker waits out its timeout on each request.
    ::kill(slapd, SIGSTOP);
    std::mutex mutex;
    std::map<std::string, int> outcomes;
    std::vector<double> overloaded_ms;
    std::vector<std::thread> clients;
    for (int i = 0; i < 12; ++i) {
        clients.emplace_back([&, cookie = c.cookie, csrf = c.csrf_token] {
            HttpsClient client(instance.port(), instance.ca_file());
            client.cookie = cookie;
            client.csrf_token = csrf;
            const auto started = std::chrono::steady_clock::now();
            const auto result = client.post("/api/v1/lookups", R"({"key_id":"a1b2c3d4"})");
            const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
            std::lock_guard lock(mutex);
            ++outcomes[std::to_string(result.status) + " " + result.error()];
            if (result.error() == "overloaded") {
                overloaded_ms.push_back(ms);
                EXPECT_EQ(result.header("retry-after"), "1");
            }
        });
    }
    for (auto& client : clients) client.join();
    ::kill(slapd, SIGCONT);

    EXPECT_GE(outcomes["503 overloaded"], 6) << instance.log();
    EXPECT_EQ(outcomes["200 "], 0);
    for (double ms : overloaded_ms) EXPECT_LT(ms, 1500.0);
    // And once the directory answers again, so does keydesk.
    std::this_thread::sleep_for(std::chrono::seconds(3));
    EXPECT_EQ(c.post("/api/v1/lookups", R"({"key_id":"a1b2c3d4"})").status, 200u);
    std::printf("overload: %d refused at once (503 overloaded), %d waited for the directory timeout\n",
                outcomes["503 overloaded"], outcomes["503 directory_unavailable"]);
}

TEST(Hardening, ASecondDirectoryTakesOverWhenTheFirstDies) {
    const auto& directory = TestDirectory::get();
    if (!directory.has("KD_SLAPD_PID")) GTEST_SKIP() << "starts a second OpenLDAP directory";
    // A second directory with the same data, listed first.
    const auto second = std::filesystem::temp_directory_path() / ("kd-second-dc-" + std::to_string(::getpid()));
    const auto ctl = directory["KD_SLAPDCTL"];
    std::system(("'" + ctl + "' stop '" + second.string() + "' >/dev/null 2>&1; rm -rf '" + second.string() + "'").c_str());
    ASSERT_EQ(std::system(("'" + ctl + "' start '" + second.string() + "' >/dev/null").c_str()), 0);
    std::map<std::string, std::string> env;
    {
        std::ifstream in(second / "env");
        for (std::string line; std::getline(in, line);) {
            env[line.substr(0, line.find('='))] = line.substr(line.find('=') + 1);
        }
    }
    KeydeskInstance instance("failover", "[limits]\nlookups_per_minute = 100000\nlookups_per_hour = 1000000\n");
    {
        // Both CAs in one bundle; the second DC's service password is the same account, another
        // directory: use its own file.
        std::ifstream first_ca(directory["KD_CA_FILE"]), second_ca(env["KD_CA_FILE"]);
        std::ofstream bundle(instance.dir() / "directory-cas.pem");
        bundle << first_ca.rdbuf() << second_ca.rdbuf();
    }
    {
        std::ifstream in(instance.config());
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto uri = directory["KD_LDAPS_URI"];
        text.replace(text.find("\"" + uri + "\""), uri.size() + 2, "\"" + env["KD_LDAPS_URI"] + "\", \"" + uri + "\"");
        const auto ca = directory["KD_CA_FILE"];
        text.replace(text.find(ca), ca.size(), (instance.dir() / "directory-cas.pem").string());
        std::ofstream(instance.config(), std::ios::trunc) << text;
    }
    // The second directory's service account has its own random password: give it the first's.
    std::string password;
    {
        std::ifstream in(directory["KD_BIND_PASSWORD_FILE"]);
        std::getline(in, password);
    }
    ASSERT_EQ(std::system(("LDAPTLS_CACERT='" + env["KD_CA_FILE"] + "' ldappasswd -x -H '" + env["KD_LDAPS_URI"] +
                           "' -D '" + env["KD_ADMIN_DN"] + "' -y '" + env["KD_ADMIN_PASSWORD_FILE"] + "' -s '" +
                           password + "' '" + env["KD_BIND_DN"] + "' >/dev/null").c_str()),
              0);
    ASSERT_TRUE(instance.start()) << instance.log();

    std::atomic<bool> stop{false};
    std::atomic<int> ok{0}, failed_after{0};
    std::atomic<bool> killed{false};
    std::vector<std::thread> clients;
    for (int i = 0; i < 4; ++i) {
        clients.emplace_back([&] {
            auto c = signed_in(instance, "helpdesk1", "Helpdesk1-Pass!");
            while (!stop) {
                const bool after_kill = killed;
                const auto status = c.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})").status;
                if (status == 200) {
                    ++ok;
                } else if (after_kill) {
                    ++failed_after;  // only requests started after the first DC died count
                }
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    std::system(("'" + ctl + "' stop '" + second.string() + "' >/dev/null").c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    killed = true;
    const int ok_at_kill = ok;
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    stop = true;
    for (auto& client : clients) client.join();
    std::system(("rm -rf '" + second.string() + "'").c_str());
    EXPECT_GT(ok.load(), ok_at_kill + 10);
    EXPECT_EQ(failed_after.load(), 0);
    std::printf("failover: %d lookups answered, %d failed after the first directory died\n", ok.load(),
                failed_after.load());
}

TEST(Hardening, OneAddressCannotFloodTheAuditLogWithRefusals) {
    KeydeskInstance instance("audit-flood", "[limits]\naudited_refusals_per_minute = 5\n");
    ASSERT_TRUE(instance.start()) << instance.log();
    const auto records_before = audit_records(instance).size();
    // Unknown user names (the sign-in throttle does not count them, so as not to lock anyone
    // out) and forged origins: every one refused, at most 5 of them written.
    unsigned refused = 0;
    for (int i = 0; i < 30; ++i) {  // (15 failed sign-ins: below the per-address throttle of 20)
        HttpsClient c(instance.port(), instance.ca_file());
        const auto result = i % 2 ? c.sign_in("nobody-" + std::to_string(i), "guess")
                                  : c.request(verb::post, "/api/v1/session", R"({"username":"x","password":"y"})",
                                              {{"Origin", "https://evil.example"}});
        if (result.status == 401 || result.status == 403 || result.status == 429) ++refused;
    }
    EXPECT_EQ(refused, 30u);
    const auto written = audit_records(instance).size() - records_before;
    EXPECT_EQ(written, 5u);
    EXPECT_NE(instance.log().find("exceeded 5 audited refusals a minute"), std::string::npos) << instance.log();
    // A member of staff at the same address still signs in, and that is audited.
    HttpsClient staff(instance.port(), instance.ca_file());
    EXPECT_EQ(staff.sign_in("helpdesk1", "Helpdesk1-Pass!").status, 200u);
    EXPECT_EQ(audit_records(instance).back().at("event"), "session.login");
}
