// The Audit page's API, exports, evidence bundles and reports, through HTTPS against the real
// binary and directory: who may call what, that reading the log is audited before data leaves,
// that exports are the files' own bytes, that a bundle verifies offline, and that a 100,000-record
// export streams in constant memory.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>

#include <boost/json.hpp>

#include "audit/chain.hpp"
#include "ldap/key_id.hpp"
#include "tests/support/https_client.hpp"
#include "tests/support/keydesk_process.hpp"
#include "tests/support/test_directory.hpp"

using namespace keydesk::test;
namespace fx = keydesk::test::fixtures;
namespace json = boost::json;

namespace {

const std::map<std::string, std::string> passwords{{"helpdesk1", "Helpdesk1-Pass!"},
                                                   {"auditor1", "Auditor1-Pass!"},
                                                   {"security1", "Security1-Pass!"},
                                                   {"admin1", "Admin1-Pass!"}};

// A GUID as the directory stores it (AD's byte order), in base64 for LDIF.
std::string guid_base64(const std::string& guid) {
    const auto bytes = keydesk::ldap::KeyIdPrefix::parse(guid, 32)->guid_bytes();
    unsigned char out[32] = {};
    EVP_EncodeBlock(out, bytes.data(), static_cast<int>(bytes.size()));
    return reinterpret_cast<char*>(out);
}

std::string read_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The log's lines, oldest file first.
std::vector<std::string> log_lines(const std::filesystem::path& directory) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(directory)) {
        const auto name = entry.path().filename().string();
        if (name.starts_with("audit-") && name.ends_with(".jsonl")) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    std::vector<std::string> lines;
    for (const auto& file : files) {
        std::ifstream in(file);
        for (std::string line; std::getline(in, line);) lines.push_back(line);
    }
    return lines;
}

std::vector<json::object> records_of(const std::filesystem::path& directory, std::string_view event) {
    std::vector<json::object> records;
    for (const auto& line : log_lines(directory)) {
        auto record = json::parse(line).as_object();
        if (record.at("event").as_string() == event) records.push_back(std::move(record));
    }
    return records;
}

class AuditReview : public ::testing::Test {
protected:
    // A keydesk with signed checkpoints every 5 records, so that records get covered quickly.
    void start(const std::string& name, const std::function<void(KeydeskInstance&)>& before = {}) {
        instance_ = std::make_unique<KeydeskInstance>(name);
        auto text = read_file(instance_->config());
        const std::string anchor = "key_file = \"audit.key\"\n";
        text.replace(text.find(anchor), anchor.size(),
                     anchor + "signing_key_file = \"signing.pem\"\ncheckpoint_records = 5\n"
                              "checkpoint_syslog = \"\"\n");
        text += "\n[limits]\nreveals_per_10_minutes = 1000\nreveals_per_hour = 1000\n"
                "[reports]\ntimezone = \"UTC\"\n";
        std::ofstream(instance_->config()) << text;
        std::string output;
        ASSERT_EQ(instance_->run("audit keygen --config '" + instance_->config().string() + "'", output), 0)
            << output;
        if (before) before(*instance_);
        ASSERT_TRUE(instance_->start()) << instance_->log();
    }

    HttpsClient client(const std::string& user = "") {
        HttpsClient c(instance_->port(), instance_->ca_file());
        if (!user.empty()) {
            EXPECT_EQ(c.sign_in(user, passwords.at(user)).status, 200u) << user;
        }
        return c;
    }

    void reveal(HttpsClient& helpdesk, const std::string& key_id, const std::string& ticket = "") {
        std::string body = R"({"key_id":")" + key_id + R"(","reason":"lost_pin")";
        if (!ticket.empty()) body += R"(,"ticket":")" + ticket + "\"";
        body += "}";
        ASSERT_EQ(helpdesk.post("/api/v1/reveals", body).status, 200u);
    }

    std::unique_ptr<KeydeskInstance> instance_;
};

}  // namespace

TEST_F(AuditReview, EachRoleGetsWhatItMay) {
    start("review-roles");
    const std::vector<std::string> reads{"/api/v1/audit/records", "/api/v1/audit/records/1",
                                         "/api/v1/audit/integrity"};
    const std::vector<std::string> security_reads{"/api/v1/audit/export?format=csv",
                                                  "/api/v1/audit/bundle",
                                                  "/api/v1/reports/summary",
                                                  "/api/v1/reports/unrotated"};
    struct Expected {
        unsigned read, verify, security;
    };
    const std::map<std::string, Expected> matrix{
        {"", {401, 401, 401}},
        {"helpdesk1", {403, 403, 403}},
        {"auditor1", {200, 200, 403}},
        {"security1", {200, 200, 200}},
        {"admin1", {200, 200, 200}},
    };
    for (const auto& [user, expected] : matrix) {
        auto c = client(user);
        for (const auto& target : reads) EXPECT_EQ(c.get(target).status, expected.read) << user << " " << target;
        EXPECT_EQ(c.post("/api/v1/audit/verify", "{}").status, expected.verify) << user;
        for (const auto& target : security_reads) {
            EXPECT_EQ(c.get(target).status, expected.security) << user << " " << target;
        }
    }
    // Every refusal of a signed-in user is in the log.
    std::size_t denied = 0;
    for (const auto& record : records_of(instance_->audit_dir(), "access.denied")) {
        if (record.at("actor") == "helpdesk1" || record.at("actor") == "auditor1") ++denied;
    }
    EXPECT_EQ(denied, reads.size() + 1 + 2 * security_reads.size());
}

TEST_F(AuditReview, AuditorFindsARevealByComputerAndKeyIdAndEveryViewIsAudited) {
    start("review-find");
    auto helpdesk = client("helpdesk1");
    reveal(helpdesk, fx::k1, "INC0000042");
    reveal(helpdesk, fx::k3);
    auto auditor = client("auditor1");

    const auto by_computer = auditor.get("/api/v1/audit/records?computer=laptop-0042&event=key.reveal");
    ASSERT_EQ(by_computer.status, 200u) << by_computer.body;
    const auto found = by_computer.json();
    const auto& rows = found.at("records").as_array();
    ASSERT_EQ(rows.size(), 1u) << by_computer.body;
    EXPECT_EQ(rows[0].at("key_id"), fx::k1);
    EXPECT_EQ(rows[0].at("ticket"), "INC0000042");
    EXPECT_EQ(rows[0].at("actor"), "helpdesk1");
    const auto seq = rows[0].at("seq").as_int64();

    // A Key ID prefix, in any case and with dashes, matches the reveal and the lookup-free K3 not.
    const auto by_key = auditor.get("/api/v1/audit/records?key_id=063ea4e1-220c&outcome=success");
    ASSERT_EQ(by_key.status, 200u);
    ASSERT_EQ(by_key.json().at("records").as_array().size(), 1u) << by_key.body;
    EXPECT_EQ(by_key.json().at("records").as_array()[0].at("seq").as_int64(), seq);

    // The detail is the record as written, with its place in the chain.
    const auto detail = auditor.get("/api/v1/audit/records/" + std::to_string(seq));
    ASSERT_EQ(detail.status, 200u) << detail.body;
    const auto detail_json = detail.json();
    const auto& body = detail_json.as_object();
    const auto lines = log_lines(instance_->audit_dir());
    EXPECT_EQ(json::serialize(body.at("record")), lines.at(static_cast<std::size_t>(seq - 1)));
    EXPECT_EQ(body.at("position").at("line").as_int64(), seq);
    EXPECT_TRUE(body.at("position").at("file").as_string().starts_with("audit-"));
    EXPECT_EQ(body.at("record").at("mac").as_string().size(), 64u);
    EXPECT_EQ(detail.body.find(fx::k1_password), std::string::npos);
    EXPECT_EQ(auditor.get("/api/v1/audit/records/999999").status, 404u);
    // Reading one record is audited with the record's number.
    const auto reads = records_of(instance_->audit_dir(), "audit.query");
    ASSERT_GE(reads.size(), 2u);
    EXPECT_EQ(reads[reads.size() - 2].at("record_seq").as_int64(), seq);
    EXPECT_EQ(reads.back().at("record_seq").as_int64(), 999999);
    EXPECT_EQ(reads.back().at("outcome"), "not_found");

    // Pages of one, newest first, walk every record once.
    std::vector<std::int64_t> walked;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
        const auto result = auditor.get("/api/v1/audit/records?actor=HELPDESK1&limit=1" +
                                        (cursor.empty() ? "" : "&cursor=" + cursor));
        ASSERT_EQ(result.status, 200u) << result.body;
        const auto page_json = result.json();
        for (const auto& row : page_json.at("records").as_array()) walked.push_back(row.at("seq").as_int64());
        const auto& next = page_json.at("next_cursor");
        if (next.is_null()) break;
        cursor = std::string(next.as_string());
    }
    std::vector<std::int64_t> expected;
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
        const auto record = json::parse(*it).as_object();
        if (record.at("actor") == "helpdesk1") expected.push_back(record.at("seq").as_int64());
    }
    EXPECT_EQ(walked, expected);

    // Each of those views is in the log, with its filters.
    const auto queries = records_of(instance_->audit_dir(), "audit.query");
    ASSERT_GE(queries.size(), 2u + walked.size());
    EXPECT_EQ(queries[0].at("actor"), "auditor1");
    EXPECT_EQ(queries[0].at("filters").at("computer"), "LAPTOP-0042");
    EXPECT_EQ(queries[0].at("results").as_int64(), 1);
}

TEST_F(AuditReview, BadFiltersAre400AndWriteNothing) {
    start("review-bad");
    auto auditor = client("auditor1");
    const auto before = log_lines(instance_->audit_dir()).size();
    for (const std::string query : {"from=yesterday", "to=2026-13-01", "bogus=1", "limit=0", "limit=201",
                                    "cursor=abc", "key_id=xyz", "outcome=maybe", "event=DROP%20TABLE",
                                    "actor=a%00b", "from=2026-11-27&to=2026-11-26", "actor=a&actor=b"}) {
        const auto result = auditor.get("/api/v1/audit/records?" + query);
        EXPECT_EQ(result.status, 400u) << query << ": " << result.body;
        EXPECT_EQ(result.error(), "invalid_filter") << query;
    }
    EXPECT_EQ(auditor.get("/api/v1/audit/records/abc").status, 400u);
    EXPECT_EQ(auditor.get("/api/v1/audit/records?actor=" + std::string(300, 'a')).status, 400u);
    auto security = client("security1");
    EXPECT_EQ(security.get("/api/v1/audit/export?format=xml").status, 400u);
    EXPECT_EQ(security.get("/api/v1/reports/summary?format=csv&table=passwords").status, 400u);
    // Only the security officer's sign-in was written.
    EXPECT_EQ(log_lines(instance_->audit_dir()).size(), before + 1);
}

TEST_F(AuditReview, ExportsAreTheFilesOwnRecordsAndCsvCannotRunFormulas) {
    start("review-export");
    auto helpdesk = client("helpdesk1");
    reveal(helpdesk, fx::k1);
    // A user name a spreadsheet would run: it reaches the log through a failed sign-in.
    HttpsClient attacker(instance_->port(), instance_->ca_file());
    EXPECT_EQ(attacker.sign_in("=HYPERLINK(\"http://x\")", "x").status, 401u);
    auto security = client("security1");

    const auto csv = security.get("/api/v1/audit/export?format=csv");
    ASSERT_EQ(csv.status, 200u) << csv.body;
    EXPECT_EQ(csv.header("content-type"), "text/csv; charset=utf-8");
    EXPECT_TRUE(csv.header("content-disposition").starts_with("attachment; filename=\"keydesk-audit-"));
    EXPECT_EQ(csv.header("transfer-encoding"), "chunked");
    EXPECT_TRUE(csv.body.starts_with("seq,time,event,actor,outcome,client,computer,key_id,reason,ticket,request_id\r\n"));
    EXPECT_NE(csv.body.find(",\"'=HYPERLINK(\"\"http://x\"\")\","), std::string::npos) << csv.body;
    EXPECT_EQ(csv.body.find(fx::k1_password), std::string::npos);
    const auto csv_rows = static_cast<std::size_t>(std::count(csv.body.begin(), csv.body.end(), '\n')) - 1;

    const auto exports = records_of(instance_->audit_dir(), "audit.export");
    ASSERT_EQ(exports.size(), 1u);
    EXPECT_EQ(exports[0].at("rows").as_int64(), static_cast<std::int64_t>(csv_rows));
    EXPECT_EQ(exports[0].at("format"), "csv");
    EXPECT_EQ(exports[0].at("actor"), "security1");

    // JSON Lines: byte for byte the lines of the log, up to the snapshot.
    const auto jsonl = security.get("/api/v1/audit/export?format=json&event=key.reveal");
    ASSERT_EQ(jsonl.status, 200u);
    std::string expected;
    for (const auto& line : log_lines(instance_->audit_dir())) {
        if (json::parse(line).at("event") == "key.reveal") expected += line + "\n";
    }
    EXPECT_EQ(jsonl.body, expected);
    EXPECT_EQ(records_of(instance_->audit_dir(), "audit.export").back().at("filters").at("event"), "key.reveal");
}

TEST_F(AuditReview, AnEvidenceBundleVerifiesOfflineAndATamperedOneDoesNot) {
    start("review-bundle");
    auto helpdesk = client("helpdesk1");
    reveal(helpdesk, fx::k1);
    reveal(helpdesk, fx::k3);
    auto security = client("security1");
    const auto bundle = security.get("/api/v1/audit/bundle?computer=WS-0007");
    ASSERT_EQ(bundle.status, 200u) << bundle.body;
    EXPECT_EQ(bundle.header("content-type"), "application/gzip");
    ASSERT_GE(bundle.body.size(), 2u);
    EXPECT_EQ(static_cast<unsigned char>(bundle.body[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(bundle.body[1]), 0x8b);
    const auto file = instance_->dir() / "evidence.tar.gz";
    std::ofstream(file, std::ios::binary) << bundle.body;

    std::string output;
    ASSERT_EQ(instance_->run("audit public-key --config '" + instance_->config().string() + "' > '" +
                                 (instance_->dir() / "trusted.pem").string() + "'",
                             output),
              0);
    const auto verify = "audit verify --bundle '" + file.string() + "' --public-key '" +
                        (instance_->dir() / "trusted.pem").string() + "'";
    ASSERT_EQ(instance_->run(verify, output), 0) << output;
    EXPECT_TRUE(output.starts_with("OK bundle: 1 selected records")) << output;

    // Extracted, with one byte of the chain changed: named as an edit.
    const auto extracted = instance_->dir() / "extracted";
    std::filesystem::create_directories(extracted);
    ASSERT_EQ(std::system(("tar xzf '" + file.string() + "' -C '" + extracted.string() + "'").c_str()), 0);
    const auto folder = std::filesystem::directory_iterator(extracted)->path();
    auto chain = read_file(folder / "chain.jsonl");
    const auto at = chain.find("WS-0007");
    ASSERT_NE(at, std::string::npos);
    chain[at] = 'X';
    std::ofstream(folder / "chain.jsonl", std::ios::binary | std::ios::trunc) << chain;
    EXPECT_EQ(instance_->run("audit verify --bundle '" + folder.string() + "' --public-key '" +
                                 (instance_->dir() / "trusted.pem").string() + "'",
                             output),
              1);
    EXPECT_NE(output.find("BAD bundle: edited"), std::string::npos) << output;

    const auto exports = records_of(instance_->audit_dir(), "audit.export");
    ASSERT_EQ(exports.size(), 1u);
    EXPECT_EQ(exports[0].at("format"), "bundle");
}

TEST_F(AuditReview, ReportsCountRevealsAndListKeysStillInForce) {
    start("review-reports");
    auto helpdesk = client("helpdesk1");
    reveal(helpdesk, fx::k1);
    reveal(helpdesk, fx::k1);
    reveal(helpdesk, fx::k3);
    HttpsClient stranger(instance_->port(), instance_->ca_file());
    EXPECT_EQ(stranger.sign_in("helpdesk1", "wrong password").status, 401u);
    auto security = client("security1");

    const auto summary = security.get("/api/v1/reports/summary");
    ASSERT_EQ(summary.status, 200u) << summary.body;
    const auto summary_json = summary.json();
    const auto& report = summary_json.as_object();
    const auto& days = report.at("per_day").as_array();
    ASSERT_EQ(days.size(), 1u) << summary.body;
    EXPECT_EQ(days[0].at("reveals").as_int64(), 3);
    EXPECT_EQ(days[0].at("failed_sign_ins").as_int64(), 1);
    EXPECT_EQ(report.at("per_staff").as_array()[0].at("actor"), "helpdesk1");
    EXPECT_EQ(report.at("top_computers").as_array()[0].at("computer"), "LAPTOP-0042");
    EXPECT_EQ(report.at("top_computers").as_array()[0].at("reveals").as_int64(), 2);
    EXPECT_EQ(report.at("failed_sign_ins").as_array()[0].at("actor"), "helpdesk1");

    const auto table = security.get("/api/v1/reports/summary?format=csv&table=per_staff");
    ASSERT_EQ(table.status, 200u);
    EXPECT_EQ(table.body, "actor,lookups,reveals\r\nhelpdesk1,0,3\r\n");

    const auto unrotated = security.get("/api/v1/reports/unrotated");
    ASSERT_EQ(unrotated.status, 200u) << unrotated.body;
    const auto unrotated_json = unrotated.json();
    const auto& keys = unrotated_json.at("keys").as_array();
    ASSERT_EQ(keys.size(), 2u) << unrotated.body;
    EXPECT_EQ(keys[0].at("key_id"), fx::k1);  // oldest reveal first
    EXPECT_EQ(keys[0].at("reveals").as_int64(), 2);
    EXPECT_EQ(keys[0].at("volume_id"), fx::laptop_volume);
    EXPECT_EQ(keys[1].at("key_id"), fx::k3);
    EXPECT_EQ(unrotated.json().at("revealed").as_int64(), 2);
    EXPECT_EQ(records_of(instance_->audit_dir(), "report.view").size(), 3u);

    // LAPTOP-0042 re-keys its volume: K1 is no longer in force.
    auto& directory = TestDirectory::get();
    if (directory.has("KD_DIRECTORY_KIND") && directory["KD_DIRECTORY_KIND"] == "samba") return;
    const std::string new_key = "0BADF00D-0000-4000-8000-00000000A11A";
    const std::string dn = "CN=2099-01-01T00:00:00\\+00:00{" + new_key + "}," + std::string(fx::laptop_dn);
    ASSERT_EQ(directory.modify("dn: " + dn + "\nchangetype: add\nobjectClass: msFVE-RecoveryInformation\n"
                               "msFVE-RecoveryGuid:: " + guid_base64(new_key) + "\n"
                               "msFVE-VolumeGuid:: " + guid_base64(fx::laptop_volume) + "\n"
                               "msFVE-RecoveryPassword: 000011-000022-000033-000044-000055-000066-000077-000088\n"),
              0);
    const auto after = security.get("/api/v1/reports/unrotated");
    directory.modify("dn: " + dn + "\nchangetype: delete\n");
    ASSERT_EQ(after.status, 200u) << after.body;
    ASSERT_EQ(after.json().at("keys").as_array().size(), 1u) << after.body;
    EXPECT_EQ(after.json().at("keys").as_array()[0].at("key_id"), fx::k3);
    EXPECT_EQ(after.json().at("rotated").as_int64(), 1);
}

namespace {

std::uint64_t status_kb(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with(field + ":")) return std::stoull(line.substr(field.size() + 1));
    }
    return 0;
}

// A log of `count` sealed records written straight to disk (as keydesk would have, minus the
// fsyncs), which keydesk then continues.
void write_log(const std::filesystem::path& directory, std::size_t count) {
    std::filesystem::create_directories(directory);
    std::filesystem::permissions(directory, std::filesystem::perms::owner_all);
    std::ofstream out(directory / "audit-00000000000000000001.jsonl", std::ios::binary);
    std::string prev(64, '0');
    const std::string key = "e2e-audit-key-0123456789abcdef0123456789abcdef";
    for (std::size_t seq = 1; seq <= count; ++seq) {
        json::object record{{"seq", seq},
                            {"time", "2026-11-20T10:00:00.000Z"},
                            {"event", "key.lookup"},
                            {"actor", "helpdesk" + std::to_string(seq % 40)},
                            {"client", "10.0.0." + std::to_string(seq % 250)},
                            {"request_id", "00000000" + std::to_string(10000000 + seq)},
                            {"outcome", "success"},
                            {"query", {{"key_id", "063EA4E1"}}},
                            {"matches", json::array{json::object{{"key_id", fx::k1}, {"computer", "LAPTOP-0042"}}}},
                            {"truncated", false},
                            {"prev", prev}};
        const auto line = keydesk::audit::seal(json::serialize(record), key);
        prev = keydesk::audit::split_line(line)->mac;
        out << line << '\n';
    }
    std::filesystem::permissions(directory / "audit-00000000000000000001.jsonl",
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

}  // namespace

TEST_F(AuditReview, AnExportOf100000RecordsStreamsInConstantMemory) {
    constexpr std::size_t records = 100000;
    start("review-stream", [](KeydeskInstance& instance) { write_log(instance.audit_dir(), records); });
    auto security = client("security1");
    // The index is built by the first call (and in the background): not part of the export.
    ASSERT_EQ(security.get("/api/v1/reports/summary?from=2026-11-19").status, 200u);
    const auto pid = instance_->pid();
    std::ofstream(("/proc/" + std::to_string(pid) + "/clear_refs")) << "5";  // resets VmHWM
    const auto before_kb = status_kb(pid, "VmHWM");

    const auto started = std::chrono::steady_clock::now();
    const auto result = security.get("/api/v1/audit/export?format=json");
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    ASSERT_EQ(result.status, 200u);
    const auto lines = static_cast<std::size_t>(std::count(result.body.begin(), result.body.end(), '\n'));
    EXPECT_GE(lines, records);
    const auto peak_kb = status_kb(pid, "VmHWM");
    const auto growth_kb = peak_kb > before_kb ? peak_kb - before_kb : 0;
    std::printf("export of %zu records: %.1f MB in %.2f s; keydesk peak RSS %llu MB -> %llu MB (+%llu kB)\n",
                lines, static_cast<double>(result.body.size()) / 1e6, seconds,
                static_cast<unsigned long long>(before_kb / 1024), static_cast<unsigned long long>(peak_kb / 1024),
                static_cast<unsigned long long>(growth_kb));
    // The body is tens of megabytes; keydesk holds one page and one chunk of it at a time.
    EXPECT_LT(growth_kb * 1024, result.body.size() / 4);
    EXPECT_EQ(records_of(instance_->audit_dir(), "audit.export").back().at("rows").as_int64(),
              static_cast<std::int64_t>(lines));
}
