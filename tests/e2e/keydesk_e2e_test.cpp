// End to end: the real keydesk binary over real TLS against the real slapd — the helpdesk flow,
// refusals, the audit trail it leaves, and tampering detected by `keydesk audit verify`.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include <boost/json.hpp>

#include "ldap/directory.hpp"
#include "tests/support/https_client.hpp"
#include "tests/support/keydesk_process.hpp"
#include "tests/support/test_directory.hpp"

using namespace keydesk::test;
namespace fx = keydesk::test::fixtures;
using boost::beast::http::verb;

namespace {

class KeydeskE2E : public ::testing::Test {
protected:
    void SetUp() override {
        instance_ = std::make_unique<KeydeskInstance>(
            ::testing::UnitTest::GetInstance()->current_test_info()->name(), extra_lookup());
        ASSERT_TRUE(instance_->start()) << instance_->log();
    }
    void TearDown() override {
        if (HasFailure()) std::cerr << "keydesk log:\n" << instance_->log();
    }
    virtual std::string extra_lookup() const { return ""; }

    HttpsClient client() const { return HttpsClient(instance_->port(), instance_->ca_file()); }

    HttpsClient signed_in(const std::string& username, const std::string& password) const {
        auto c = client();
        const auto result = c.sign_in(username, password);
        EXPECT_EQ(result.status, 200u) << result.body;
        return c;
    }

    std::vector<boost::json::object> audit_records() const {
        std::vector<boost::json::object> records;
        for (const auto& entry : std::filesystem::directory_iterator(instance_->audit_dir())) {
            std::ifstream in(entry.path());
            for (std::string line; std::getline(in, line);) {
                records.push_back(boost::json::parse(line).as_object());
            }
        }
        std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
            return a.at("seq").as_int64() < b.at("seq").as_int64();
        });
        return records;
    }

    std::string audit_text() const {
        std::string text;
        for (const auto& entry : std::filesystem::directory_iterator(instance_->audit_dir())) {
            std::ifstream in(entry.path());
            text.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
        return text;
    }

    std::unique_ptr<KeydeskInstance> instance_;
};

std::string reveal_body(const std::string& key_id, const std::string& reason,
                        const std::string& extra = "") {
    return R"({"key_id":")" + key_id + R"(","reason":")" + reason + "\"" + extra + "}";
}

}  // namespace

TEST_F(KeydeskE2E, ServesTheUiWithSecurityHeaders) {
    auto c = client();
    auto page = c.get("/");
    EXPECT_EQ(page.status, 200u);
    EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
    EXPECT_NE(page.body.find("<script type=\"module\" src=\"/assets/app.js\""), std::string::npos);
    EXPECT_EQ(page.header("content-security-policy").find("default-src 'self'; object-src 'none'; "
                                                           "base-uri 'none'; frame-ancestors 'none'"),
              0u);
    EXPECT_NE(page.header("strict-transport-security").find("max-age="), std::string::npos);
    EXPECT_EQ(page.header("x-content-type-options"), "nosniff");
    EXPECT_EQ(page.header("referrer-policy"), "no-referrer");

    auto script = c.get("/assets/app.js");
    EXPECT_EQ(script.status, 200u);
    EXPECT_EQ(script.header("content-type"), "text/javascript; charset=utf-8");
    const auto etag = script.header("etag");
    ASSERT_FALSE(etag.empty());
    auto cached = c.request(verb::get, "/assets/app.js", std::nullopt, {{"If-None-Match", etag}});
    EXPECT_EQ(cached.status, 304u);
    EXPECT_TRUE(cached.body.empty());

    EXPECT_EQ(c.get("/assets/nothing.js").status, 404u);
    EXPECT_EQ(c.get("/api/v1/nothing").error(), "not_found");
    auto wrong_method = c.request(verb::put, "/api/v1/lookups");
    EXPECT_EQ(wrong_method.status, 405u);
    EXPECT_EQ(wrong_method.header("allow"), "POST");
    EXPECT_EQ(c.get("/healthz").status, 200u);
    EXPECT_EQ(c.get("/readyz").status, 200u);
}

TEST_F(KeydeskE2E, HelpdeskFlow) {
    auto c = client();
    auto signed_in = c.sign_in("CORP\\helpdesk1", "Helpdesk1-Pass!");
    ASSERT_EQ(signed_in.status, 200u) << signed_in.body;
    const auto user = signed_in.json().at("user");
    EXPECT_EQ(user.at("name").as_string(), "helpdesk1");
    EXPECT_EQ(user.at("display_name").as_string(), "Hana Helpdesk");
    EXPECT_EQ(user.at("roles").as_array(), boost::json::array{"helpdesk"});
    const auto set_cookie = signed_in.header("set-cookie");
    EXPECT_TRUE(set_cookie.starts_with("__Host-keydesk=")) << set_cookie;
    for (const char* attribute : {"; Secure", "; HttpOnly", "; SameSite=Strict", "; Path=/"}) {
        EXPECT_NE(set_cookie.find(attribute), std::string::npos) << attribute;
    }
    EXPECT_EQ(c.get("/api/v1/session").json().at("user").at("name").as_string(), "helpdesk1");

    // A Key ID as read off the screen: lower case, a brace, a dash.
    auto lookup = c.post("/api/v1/lookups", R"({"key_id":"{063ea4e1-"})");
    ASSERT_EQ(lookup.status, 200u) << lookup.body;
    EXPECT_EQ(lookup.header("cache-control"), "no-store");
    const auto lookup_json = lookup.json();
    const auto& matches = lookup_json.at("matches").as_array();
    ASSERT_EQ(matches.size(), 2u);
    EXPECT_EQ(matches[0].at("key_id").as_string(), fx::k2);
    EXPECT_EQ(matches[1].at("key_id").as_string(), fx::k1);
    EXPECT_EQ(matches[1].at("computer").as_string(), "LAPTOP-0042");
    EXPECT_EQ(matches[1].at("created").as_string(), "2023-01-10T08:00:00Z");
    EXPECT_EQ(matches[1].at("volume_id").as_string(), fx::laptop_volume);
    EXPECT_EQ(lookup.body.find("recovery_password"), std::string::npos);
    EXPECT_EQ(lookup.body.find(fx::k1_password), std::string::npos);

    auto by_computer = c.post("/api/v1/lookups", R"({"computer":"SRV-0003"})");
    ASSERT_EQ(by_computer.status, 200u);
    EXPECT_EQ(by_computer.json().at("matches").as_array().at(0).at("key_id").as_string(), fx::k4);
    EXPECT_TRUE(c.post("/api/v1/lookups", R"({"key_id":"DEADBEEF"})").json().at("matches").as_array().empty());

    auto reveal = c.post("/api/v1/reveals", reveal_body(fx::k1, "tpm_reset", R"(,"ticket":"INC0001234")"));
    ASSERT_EQ(reveal.status, 200u) << reveal.body;
    EXPECT_EQ(reveal.json().at("recovery_password").as_string(), fx::k1_password);
    EXPECT_EQ(reveal.json().at("computer").as_string(), "LAPTOP-0042");
    EXPECT_EQ(reveal.header("cache-control"), "no-store");

    auto with_computer = c.post("/api/v1/reveals",
        reveal_body(fx::k1, "other", std::string(R"(,"reason_text":"user forgot PIN","computer_dn":")") +
                                         matches[1].at("computer_dn").as_string().c_str() + "\""));
    EXPECT_EQ(with_computer.status, 200u) << with_computer.body;

    EXPECT_EQ(c.del("/api/v1/session").status, 204u);
    auto after = c.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})");
    EXPECT_EQ(after.status, 401u);
    EXPECT_EQ(after.error(), "not_signed_in");

    // The audit trail: every step, in order, chained, and never a password.
    const auto records = audit_records();
    std::vector<std::string> events;
    for (const auto& record : records) events.emplace_back(record.at("event").as_string());
    EXPECT_EQ(events, (std::vector<std::string>{"service.start", "session.login", "key.lookup",
                                                "key.lookup", "key.lookup", "key.reveal",
                                                "key.reveal", "session.logout"}));
    const auto& reveal_record = records[5];
    EXPECT_EQ(reveal_record.at("actor").as_string(), "helpdesk1");
    EXPECT_EQ(reveal_record.at("outcome").as_string(), "success");
    EXPECT_EQ(reveal_record.at("key_id").as_string(), fx::k1);
    EXPECT_EQ(reveal_record.at("reason").as_string(), "tpm_reset");
    EXPECT_EQ(reveal_record.at("ticket").as_string(), "INC0001234");
    EXPECT_EQ(reveal_record.at("computer").as_string(), "LAPTOP-0042");
    EXPECT_EQ(reveal_record.at("client").as_string(), "127.0.0.1");
    EXPECT_EQ(reveal_record.at("request_id").as_string(), reveal.header("x-request-id"));
    EXPECT_EQ(records[2].at("query").at("key_id").as_string(), "063EA4E1");
    EXPECT_EQ(records[4].at("outcome").as_string(), "not_found");
    const auto text = audit_text();
    EXPECT_EQ(text.find(fx::k1_password), std::string::npos);
    EXPECT_EQ(text.find("Helpdesk1-Pass!"), std::string::npos);
    EXPECT_EQ(instance_->log().find(fx::k1_password), std::string::npos);
    EXPECT_EQ(instance_->log().find("Helpdesk1-Pass!"), std::string::npos);
}

TEST_F(KeydeskE2E, SignInFailuresLookAlike) {
    auto c = client();
    const auto wrong = c.sign_in("helpdesk1", "not-the-password");
    const auto unknown = c.sign_in("nobody-at-all", "whatever");
    const auto empty = c.sign_in("admin1", "");
    for (const auto* result : {&wrong, &unknown, &empty}) {
        EXPECT_EQ(result->status, 401u);
        EXPECT_EQ(result->body, R"({"error":"invalid_credentials"})");
        EXPECT_TRUE(result->header("set-cookie").empty());
    }
    // The reason goes to the audit log, not to the browser.
    std::vector<std::string> reasons;
    for (const auto& record : audit_records()) {
        if (record.at("event").as_string() == "session.login_failed") {
            reasons.emplace_back(record.at("reason").as_string());
        }
    }
    EXPECT_EQ(reasons, (std::vector<std::string>{"invalid_credentials", "unknown_user", "empty_password"}));

    EXPECT_EQ(c.request(verb::post, "/api/v1/session", R"({"username":"helpdesk1"})").error(), "invalid_request");
    EXPECT_EQ(c.request(verb::post, "/api/v1/session", "not json").status, 400u);
    EXPECT_EQ(c.request(verb::post, "/api/v1/session", R"({"username":"a","password":"b","x":"y"})").status, 400u);
    EXPECT_EQ(c.request(verb::post, "/api/v1/session", R"({"username":1,"password":"b"})").status, 400u);
    auto wrong_type = c.request(verb::post, "/api/v1/session", R"({"username":"a","password":"b"})",
                                {{"Content-Type", "text/plain"}});
    EXPECT_EQ(wrong_type.status, 415u);
}

TEST_F(KeydeskE2E, RepeatedFailuresAreThrottledBeforeADLocksTheAccount) {
    auto c = client();
    for (int i = 0; i < 4; ++i) EXPECT_EQ(c.sign_in("security1", "wrong").status, 401u);
    const auto throttled = c.sign_in("security1", "Security1-Pass!");
    EXPECT_EQ(throttled.status, 429u);
    EXPECT_EQ(throttled.error(), "too_many_attempts");
    EXPECT_GT(std::stoi(throttled.header("retry-after")), 0);
    // Other accounts are unaffected.
    EXPECT_EQ(c.sign_in("auditor1", "Auditor1-Pass!").status, 200u);
}

TEST_F(KeydeskE2E, RolesDecideWhatStaffMayDo) {
    auto auditor = signed_in("auditor1", "Auditor1-Pass!");
    auto lookup = auditor.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})");
    EXPECT_EQ(lookup.status, 403u);
    EXPECT_EQ(lookup.error(), "forbidden");
    auto reveal = auditor.post("/api/v1/reveals", reveal_body(fx::k1, "tpm_reset"));
    EXPECT_EQ(reveal.status, 403u);
    EXPECT_EQ(reveal.body.find(fx::k1_password), std::string::npos);

    auto admin = signed_in("admin1", "Admin1-Pass!");
    EXPECT_EQ(admin.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})").status, 200u);

    const auto plain = client().sign_in("plainuser", "Plain1-Pass!");
    EXPECT_EQ(plain.status, 403u);
    EXPECT_EQ(plain.error(), "no_role");

    std::size_t denied = 0;
    for (const auto& record : audit_records()) {
        if (record.at("event").as_string() == "access.denied") {
            ++denied;
            EXPECT_EQ(record.at("actor").as_string(), "auditor1");
        }
    }
    EXPECT_EQ(denied, 2u);
}

TEST_F(KeydeskE2E, CsrfAndOriginAreChecked) {
    auto c = signed_in("helpdesk1", "Helpdesk1-Pass!");
    const auto token = c.csrf_token;
    c.csrf_token.clear();
    EXPECT_EQ(c.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})").error(), "csrf_failed");
    c.csrf_token = token + "x";
    EXPECT_EQ(c.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})").error(), "csrf_failed");
    c.csrf_token = token;
    auto cross_site = c.request(verb::post, "/api/v1/lookups", R"({"key_id":"063ea4e1"})",
                                {{"X-CSRF-Token", token}, {"Origin", "https://evil.example"}});
    EXPECT_EQ(cross_site.error(), "csrf_failed");
    EXPECT_EQ(c.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})").status, 200u);
    // A stolen CSRF token without the session cookie is worth nothing.
    auto other = client();
    other.csrf_token = token;
    EXPECT_EQ(other.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})").status, 401u);
}

TEST_F(KeydeskE2E, BadLookupAndRevealInputGetsAClearError) {
    auto c = signed_in("helpdesk1", "Helpdesk1-Pass!");
    const std::vector<std::pair<std::string, std::string>> lookups{
        {R"({"key_id":"063EA4E"})", "invalid_key_id"},
        {R"({"key_id":"063EA4E1*"})", "invalid_key_id"},
        {R"({"key_id":"063EA4E1)(cn=*"})", "invalid_key_id"},
        {R"({"key_id":"063EA4E1-220C-4293-BA01-4754620A96E7-00"})", "invalid_key_id"},
        {R"({"computer":"LAPTOP*"})", "invalid_computer"},
        {R"({"computer":""})", "invalid_computer"},
        {R"({"key_id":"063EA4E1","computer":"X"})", "invalid_request"},
        {R"({})", "invalid_request"},
        {R"([1,2])", "invalid_request"},
        {R"({"key_id":42})", "invalid_request"},
    };
    for (const auto& [body, code] : lookups) {
        const auto result = c.post("/api/v1/lookups", body);
        EXPECT_EQ(result.status, 400u) << body;
        EXPECT_EQ(result.error(), code) << body;
    }
    const std::vector<std::pair<std::string, std::string>> reveals{
        {reveal_body("063EA4E1", "tpm_reset"), "invalid_key_id"},
        {reveal_body(fx::k1, "because"), "invalid_reason"},
        {reveal_body(fx::k1, ""), "invalid_reason"},
        {R"({"key_id":")" + std::string(fx::k1) + R"("})", "invalid_reason"},
        {reveal_body(fx::k1, "other"), "reason_text_required"},
        {reveal_body(fx::k1, "tpm_reset", R"(,"ticket":")" + std::string(65, 'T') + "\""), "invalid_ticket"},
    };
    for (const auto& [body, code] : reveals) {
        const auto result = c.post("/api/v1/reveals", body);
        EXPECT_EQ(result.status, 400u) << body;
        EXPECT_EQ(result.error(), code) << body;
        EXPECT_EQ(result.body.find(fx::k1_password), std::string::npos);
    }
    auto missing = c.post("/api/v1/reveals", reveal_body("063EA4E1-220C-4293-BA01-000000000000", "tpm_reset"));
    EXPECT_EQ(missing.status, 404u);
    EXPECT_EQ(missing.error(), "key_not_found");

    auto too_big = c.post("/api/v1/lookups", R"({"key_id":")" + std::string(20000, 'A') + "\"}");
    EXPECT_EQ(too_big.status, 413u);
}

class KeydeskE2ETicketRequired : public KeydeskE2E {
protected:
    std::string extra_lookup() const override {
        return "require_ticket = true\nticket_pattern = \"^INC[0-9]{7}$\"";
    }
};

TEST_F(KeydeskE2ETicketRequired, TicketsAreRequiredAndChecked) {
    auto c = signed_in("helpdesk1", "Helpdesk1-Pass!");
    EXPECT_EQ(c.post("/api/v1/reveals", reveal_body(fx::k1, "lost_pin")).error(), "ticket_required");
    EXPECT_EQ(c.post("/api/v1/reveals", reveal_body(fx::k1, "lost_pin", R"(,"ticket":"INC12")")).error(),
              "invalid_ticket");
    EXPECT_EQ(c.post("/api/v1/reveals", reveal_body(fx::k1, "lost_pin", R"(,"ticket":"INC1234567")")).status,
              200u);
}

TEST_F(KeydeskE2E, DirectoryOutageAnswers503AndRecovers) {
    const auto& directory = TestDirectory::get();
    auto c = signed_in("helpdesk1", "Helpdesk1-Pass!");
    ASSERT_EQ(c.post("/api/v1/lookups", R"({"key_id":"a1b2c3d4"})").status, 200u);

    ASSERT_EQ(directory.control("stop"), 0);
    const auto started = std::chrono::steady_clock::now();
    const auto down = c.post("/api/v1/lookups", R"({"key_id":"a1b2c3d4"})");
    const auto elapsed = std::chrono::steady_clock::now() - started;
    const auto not_ready = c.get("/readyz");
    const auto reveal_down = c.post("/api/v1/reveals", reveal_body(fx::k5, "tpm_reset"));
    ASSERT_EQ(directory.control("start"), 0);

    EXPECT_EQ(down.status, 503u);
    EXPECT_EQ(down.error(), "directory_unavailable");
    EXPECT_LT(elapsed, std::chrono::seconds(5));  // timeout_seconds = 2, never a hang
    EXPECT_EQ(not_ready.status, 503u);
    EXPECT_EQ(reveal_down.status, 503u);

    // Back without a restart of keydesk.
    EXPECT_EQ(c.post("/api/v1/lookups", R"({"key_id":"a1b2c3d4"})").status, 200u);
    EXPECT_EQ(c.get("/readyz").status, 200u);
}

TEST_F(KeydeskE2E, AuditLogVerifiesAndTamperingIsDetected) {
    auto c = signed_in("helpdesk1", "Helpdesk1-Pass!");
    ASSERT_EQ(c.post("/api/v1/lookups", R"({"key_id":"1f5a63b3"})").status, 200u);
    ASSERT_EQ(c.post("/api/v1/reveals", reveal_body(fx::k3, "bios_changed")).status, 200u);
    ASSERT_EQ(instance_->stop(SIGTERM), 0) << instance_->log();

    const auto records = audit_records();
    ASSERT_FALSE(records.empty());
    EXPECT_EQ(records.back().at("event").as_string(), "service.stop");

    std::string output;
    EXPECT_EQ(instance_->run("audit verify --config '" + instance_->config().string() + "'", output), 0);
    EXPECT_EQ(output, "OK " + std::to_string(records.size()) + " records\n");

    // Change one byte of the reveal record: "bios_changed" -> "bios_chaNged".
    const auto file = std::filesystem::directory_iterator(instance_->audit_dir())->path();
    std::string text;
    {
        std::ifstream in(file);
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    const auto at = text.find("bios_changed");
    ASSERT_NE(at, std::string::npos);
    text[at + 8] = 'N';
    std::ofstream(file, std::ios::trunc) << text;
    EXPECT_EQ(instance_->run("audit verify --config '" + instance_->config().string() + "'", output), 1);
    EXPECT_NE(output.find("edited"), std::string::npos) << output;
}

TEST(KeydeskStartup, RefusesToStartWithAClearMessage) {
    std::string output;
    KeydeskInstance bad_config("bad-config");
    {
        std::ofstream(bad_config.config(), std::ios::app) << "surprise = 1\n";
    }
    EXPECT_EQ(bad_config.run("serve --config '" + bad_config.config().string() + "'", output), 2);
    EXPECT_NE(output.find("lookup.surprise: unknown key"), std::string::npos) << output;

    KeydeskInstance no_directory("no-directory");
    {
        std::ifstream in(no_directory.config());
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto uri = TestDirectory::get()["KD_LDAPS_URI"];
        text.replace(text.find(uri), uri.size(), "ldaps://localhost:1");
        std::ofstream(no_directory.config(), std::ios::trunc) << text;
    }
    EXPECT_EQ(no_directory.run("serve --config '" + no_directory.config().string() + "'", output), 1);
    EXPECT_NE(output.find("cannot bind to the directory"), std::string::npos) << output;

    KeydeskInstance no_audit("no-audit");
    std::ofstream(no_audit.dir() / "audit") << "a file where the audit directory should be";
    EXPECT_EQ(no_audit.run("serve --config '" + no_audit.config().string() + "'", output), 1);
    EXPECT_NE(output.find("cannot open the audit log"), std::string::npos) << output;
}

namespace {

// Replaces `from` with `to` in a KeydeskInstance's config.
void edit_config(const KeydeskInstance& instance, const std::string& from, const std::string& to) {
    std::ifstream in(instance.config());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    std::ofstream(instance.config(), std::ios::trunc) << text;
}

std::string doctor(const KeydeskInstance& instance, int& status) {
    std::string output;
    status = instance.run("doctor --config '" + instance.config().string() + "'", output);
    return output;
}

}  // namespace

bool on_active_directory() {
    const auto& directory = TestDirectory::get();
    return directory.has("KD_DIRECTORY_KIND") && directory["KD_DIRECTORY_KIND"] == "samba";
}

std::string lower(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

TEST(KeydeskDoctor, ChecksEverythingAndNamesTheOuWithoutRights) {
    KeydeskInstance instance("doctor-ok");
    int status = -1;
    const auto output = doctor(instance, status);
    for (const char* check : {"OK   config", "OK   TLS certificate", "OK   audit directory",
                              "OK   service account", "OK   role helpdesk", "OK   role admin"}) {
        EXPECT_NE(output.find(check), std::string::npos) << check << "\n" << output;
    }
    EXPECT_NE(output.find("TLS verified"), std::string::npos) << output;
    if (on_active_directory()) {
        // The test domain delegates nothing on OU=Restricted: the doctor must say so, and only that.
        EXPECT_EQ(status, 1) << output;
        const auto failing = output.substr(output.find("FAIL"));
        EXPECT_TRUE(failing.starts_with("FAIL recovery password access")) << output;
        EXPECT_NE(lower(failing).find("ou=restricted,dc=corp"), std::string::npos) << output;
        EXPECT_EQ(lower(failing).find("ou=laptops"), std::string::npos) << output;
        EXPECT_EQ(failing.find("FAIL", 4), std::string::npos) << output;
    } else {
        EXPECT_EQ(status, 0) << output;
        EXPECT_EQ(output.find("FAIL"), std::string::npos) << output;
        EXPECT_NE(output.find("OK   recovery password access"), std::string::npos) << output;
    }
}

TEST(KeydeskDoctor, NamesWhatIsMissingAndHowToFixIt) {
    // An account that can bind and see recovery objects but not read their passwords: the
    // doctor names the OUs and the missing right.
    KeydeskInstance instance("doctor-rights");
    const auto& directory = TestDirectory::get();
    std::string bind_dn, password;
    if (directory.has("KD_NODELEGATION_DN")) {
        bind_dn = directory["KD_NODELEGATION_DN"];
        std::ifstream in(directory["KD_NODELEGATION_PASSWORD_FILE"]);
        std::getline(in, password);
    } else {
        const auto staff = keydesk::ldap::Directory(service_settings()).sign_in("helpdesk1", "Helpdesk1-Pass!");
        ASSERT_TRUE(staff.staff);
        bind_dn = staff.staff->dn;
        password = "Helpdesk1-Pass!";
    }
    const auto password_file = instance.dir() / "staff-password";
    std::ofstream(password_file) << password;
    std::filesystem::permissions(password_file, std::filesystem::perms::owner_read);
    edit_config(instance, "bind_dn = \"" + directory["KD_BIND_DN"] + "\"", "bind_dn = \"" + bind_dn + "\"");
    edit_config(instance, directory["KD_BIND_PASSWORD_FILE"], password_file.string());
    edit_config(instance, fx::security_group, "CN=No-Such-Group,OU=Groups," + directory["KD_BASE_DN"]);

    int status = -1;
    const auto output = doctor(instance, status);
    EXPECT_EQ(status, 1) << output;
    EXPECT_NE(output.find("OK   service account"), std::string::npos) << output;
    const auto access = lower(output.substr(output.find("recovery password access")));
    EXPECT_TRUE(output.find("FAIL recovery password access") != std::string::npos) << output;
    if (on_active_directory()) {
        // AD hides recovery objects entirely from an account without delegated rights.
        EXPECT_NE(access.find("read property on descendant msfve-recoveryinformation"), std::string::npos)
            << output;
    } else {
        EXPECT_NE(access.find("control access on msfve-recoverypassword"), std::string::npos) << output;
        EXPECT_NE(access.find("ou=laptops,dc=corp"), std::string::npos) << output;  // names the OU
    }
    EXPECT_NE(output.find("FAIL role security: no group CN=No-Such-Group"), std::string::npos) << output;
}

TEST(KeydeskDoctor, WrongCaFailsWithTheFix) {
    KeydeskInstance instance("doctor-ca");
    const auto& directory = TestDirectory::get();
    edit_config(instance, directory["KD_CA_FILE"], directory["KD_WRONG_CA_FILE"]);
    int status = -1;
    const auto output = doctor(instance, status);
    EXPECT_EQ(status, 1) << output;
    EXPECT_NE(output.find("FAIL directory " + directory["KD_LDAPS_URI"]), std::string::npos) << output;
    EXPECT_NE(output.find("tls_ca_file"), std::string::npos) << output;
}

TEST_F(KeydeskE2E, ADBindFailuresAreOne401ButTheAuditNamesTheReason) {
    if (!on_active_directory()) GTEST_SKIP() << "needs Active Directory (Samba's AD DC)";
    auto c = client();
    const std::vector<std::pair<std::string, std::string>> accounts{
        {"disabled1", "Disabled1-Pass!"}, {"mustchange1", "Change1-Pass!"},
        {"expired1", "Expired1-Pass!"},   {"accexpired1", "AccExp1-Pass!"},
        {"locked1", "Locked1-Pass!"}};
    for (const auto& [user, password] : accounts) {
        const auto result = c.sign_in(user, password);
        EXPECT_EQ(result.status, 401u) << user;
        EXPECT_EQ(result.body, R"({"error":"invalid_credentials"})") << user;
    }
    std::vector<std::string> reasons;
    for (const auto& record : audit_records()) {
        if (record.at("event").as_string() == "session.login_failed") {
            reasons.emplace_back(record.at("reason").as_string());
        }
    }
    EXPECT_EQ(reasons, (std::vector<std::string>{"account_disabled", "must_change_password",
                                                 "password_expired", "account_expired", "locked_out"}));
    const auto log = instance_->log();
    EXPECT_NE(log.find("data 775"), std::string::npos);  // the DC's own diagnostic, for admins
}

TEST_F(KeydeskE2E, AKeyTheServiceAccountMayNotReadIsNotPermittedNotMissing) {
    if (!on_active_directory()) GTEST_SKIP() << "needs Active Directory (Samba's AD DC)";
    auto c = signed_in("helpdesk1", "Helpdesk1-Pass!");
    const auto key = TestDirectory::get()["KD_RESTRICTED_KEY"];
    auto lookup = c.post("/api/v1/lookups", R"({"key_id":")" + key.substr(0, 8) + "\"}");
    ASSERT_EQ(lookup.status, 200u);
    EXPECT_EQ(lookup.json().at("matches").as_array().size(), 1u);
    auto reveal = c.post("/api/v1/reveals", reveal_body(key, "tpm_reset"));
    EXPECT_EQ(reveal.status, 403u);
    EXPECT_EQ(reveal.error(), "not_permitted");
    const auto records = audit_records();
    const auto& last = records.back();
    EXPECT_EQ(last.at("event").as_string(), "key.reveal");
    EXPECT_EQ(last.at("outcome").as_string(), "denied");
    EXPECT_EQ(last.at("reason_code").as_string(), "not_permitted");
    EXPECT_NE(lower(std::string(last.at("dn").as_string())).find("ou=restricted"), std::string::npos);
}

TEST(KeydeskStartup, TurningTlsVerificationOffIsNeverSilent) {
    KeydeskInstance instance("no-verify");
    edit_config(instance, "timeout_seconds = 2", "timeout_seconds = 2\ntls_verify = false");
    ASSERT_TRUE(instance.start()) << instance.log();
    EXPECT_EQ(instance.stop(), 0);
    EXPECT_NE(instance.log().find("directory.tls_verify = false"), std::string::npos) << instance.log();
    std::ifstream in(std::filesystem::directory_iterator(instance.audit_dir())->path());
    std::string first;
    std::getline(in, first);
    const auto start = boost::json::parse(first).as_object();
    EXPECT_EQ(start.at("event").as_string(), "service.start");
    EXPECT_FALSE(start.at("directory_tls_verify").as_bool());
    int status = -1;
    const auto output = doctor(instance, status);
    EXPECT_EQ(status, 1);
    EXPECT_NE(output.find("FAIL directory TLS: tls_verify = false"), std::string::npos) << output;
}

TEST(KeydeskAudit, AnAuditorVerifiesWithThePublicKeyAndDetectsTruncationFromOutsideCheckpoints) {
    KeydeskInstance instance("signed");
    const auto outside = instance.dir() / "outside";  // stands for another mount or the SIEM
    std::filesystem::create_directories(outside);
    edit_config(instance, "key_file = \"audit.key\"",
                "key_file = \"audit.key\"\nsigning_key_file = \"signing.pem\"\n"
                "checkpoint_file = \"outside/checkpoints.jsonl\"\ncheckpoint_syslog = \"\"\n"
                "checkpoint_records = 3");
    std::string output;
    ASSERT_EQ(instance.run("audit keygen --config '" + instance.config().string() + "'", output), 0) << output;
    ASSERT_TRUE(instance.start()) << instance.log();
    auto c = HttpsClient(instance.port(), instance.ca_file());
    ASSERT_EQ(c.sign_in("helpdesk1", "Helpdesk1-Pass!").status, 200u);
    for (int i = 0; i < 4; ++i) ASSERT_EQ(c.post("/api/v1/lookups", R"({"key_id":"063ea4e1"})").status, 200u);
    ASSERT_EQ(c.post("/api/v1/reveals", reveal_body(fx::k1, "lost_pin")).status, 200u);
    ASSERT_EQ(instance.stop(), 0) << instance.log();

    ASSERT_EQ(instance.run("audit public-key --config '" + instance.config().string() + "'", output), 0);
    const auto public_key = instance.dir() / "public.pem";
    std::ofstream(public_key) << output;
    const std::string auditor = "audit verify --dir '" + instance.audit_dir().string() +
                                "' --public-key '" + public_key.string() + "' --checkpoint '" +
                                (outside / "checkpoints.jsonl").string() + "'";
    // No HMAC key: the auditor needs only the files, the public key and the outside checkpoints.
    EXPECT_EQ(instance.run(auditor, output), 0) << output;

    // Cut the last records off the log (a whole-line truncation keeps the chain intact): the
    // checkpoints kept outside still reveal it.
    const auto file = std::filesystem::directory_iterator(instance.audit_dir())->path();
    std::vector<std::string> lines;
    {
        std::ifstream in(file);
        for (std::string line; std::getline(in, line);) lines.push_back(line);
    }
    ASSERT_GT(lines.size(), 6u);
    {
        std::ofstream out(file, std::ios::trunc);
        for (std::size_t i = 0; i + 4 < lines.size(); ++i) out << lines[i] << "\n";
    }
    EXPECT_EQ(instance.run(auditor, output), 1) << output;
    EXPECT_NE(output.find("truncated"), std::string::npos) << output;
}
