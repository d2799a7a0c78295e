// Audit storage faults against the real binary: a full disk, the audit file deleted underneath.
// Each time lookups and reveals answer 503 audit_unavailable and no password leaves; where the
// file can be reopened, service resumes without a restart, and the log verifies.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <fstream>
#include <thread>

#include <boost/json.hpp>

#include "tests/support/https_client.hpp"
#include "tests/support/keydesk_process.hpp"
#include "tests/support/test_directory.hpp"

using namespace keydesk::test;
namespace fx = keydesk::test::fixtures;

namespace {

// keydesk with its audit directory on a small tmpfs of its own, so the test can fill it or make
// it read-only. Skips where mounting is not allowed.
class AuditFaults : public ::testing::Test {
protected:
    void SetUp() override {
        instance_ = std::make_unique<KeydeskInstance>(
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(instance_->audit_dir());
        if (::mount("tmpfs", instance_->audit_dir().c_str(), "tmpfs", 0, "size=256k,mode=0700") != 0) {
            GTEST_SKIP() << "cannot mount a tmpfs here (not root?): " << std::strerror(errno);
        }
        mounted_ = true;
        ASSERT_TRUE(instance_->start()) << instance_->log();
        client_ = std::make_unique<HttpsClient>(instance_->port(), instance_->ca_file());
        ASSERT_EQ(client_->sign_in("helpdesk1", "Helpdesk1-Pass!").status, 200u);
        ASSERT_EQ(lookup().status, 200u);
    }
    void TearDown() override {
        if (HasFailure() && instance_) std::cerr << instance_->log();
        if (instance_) instance_->stop();
        if (mounted_) ::umount2(instance_->audit_dir().c_str(), MNT_DETACH);
    }

    HttpResult lookup() { return client_->post("/api/v1/lookups", R"({"key_id":"063ea4e1"})"); }
    HttpResult reveal() {
        return client_->post("/api/v1/reveals", R"({"key_id":")" + std::string(fx::k1) + R"(","reason":"lost_pin"})");
    }

    // The fault must show as 503 audit_unavailable, for lookups and reveals, within 5 s.
    void expect_refused() {
        const auto started = std::chrono::steady_clock::now();
        const auto refused_lookup = lookup();
        const auto refused_reveal = reveal();
        const auto elapsed = std::chrono::steady_clock::now() - started;
        EXPECT_EQ(refused_lookup.status, 503u);
        EXPECT_EQ(refused_lookup.error(), "audit_unavailable");
        EXPECT_EQ(refused_reveal.status, 503u);
        EXPECT_EQ(refused_reveal.error(), "audit_unavailable");
        EXPECT_EQ(refused_reveal.body.find(fx::k1_password), std::string::npos);
        EXPECT_LT(elapsed, std::chrono::seconds(10));  // 5 s each at the very most
        EXPECT_EQ(client_->get("/readyz").status, 503u);
        refused_ms_ = std::chrono::duration<double, std::milli>(elapsed).count();
    }

    // Service comes back by itself once the fault is gone (a reopen is tried at most every second).
    double expect_resumed() {
        const auto started = std::chrono::steady_clock::now();
        unsigned status = 0;
        while (std::chrono::steady_clock::now() - started < std::chrono::seconds(10)) {
            status = reveal().status;
            if (status == 200) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        EXPECT_EQ(status, 200u);
        EXPECT_EQ(client_->get("/readyz").status, 200u);
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    }

    void expect_log_verifies() {
        EXPECT_EQ(instance_->stop(), 0);
        std::string output;
        EXPECT_EQ(instance_->run("audit verify --config '" + instance_->config().string() + "'", output), 0)
            << output;
    }

    std::unique_ptr<KeydeskInstance> instance_;
    std::unique_ptr<HttpsClient> client_;
    bool mounted_ = false;
    double refused_ms_ = 0;
};

}  // namespace

TEST_F(AuditFaults, DiskFullRefusesThenResumesWhenSpaceReturns) {
    const auto filler = instance_->audit_dir() / "filler";
    {
        std::ofstream out(filler, std::ios::binary);
        const std::string block(4096, 'x');
        while (out.write(block.data(), static_cast<std::streamsize>(block.size())) && out.flush()) {
        }
    }
    // The audit file's last page may still have room for a few records; the first record that
    // does not fit fails the log.
    int answered = 0;
    while (answered < 200 && lookup().status == 200) ++answered;
    EXPECT_LT(answered, 200);
    expect_refused();
    std::filesystem::remove(filler);
    const auto resumed_ms = expect_resumed();
    std::printf("disk full: refused in %.0f ms, resumed %.0f ms after space returned\n", refused_ms_, resumed_ms);
    expect_log_verifies();
}

TEST_F(AuditFaults, DeletedAuditFileRefusesAndIsNotPaperedOver) {
    for (const auto& entry : std::filesystem::directory_iterator(instance_->audit_dir())) {
        std::filesystem::remove(entry.path());
    }
    expect_refused();
    // The records in the deleted file are gone: keydesk must not start a fresh chain on its own.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    EXPECT_EQ(reveal().status, 503u);
    EXPECT_NE(instance_->log().find("files are missing"), std::string::npos) << instance_->log();
}
