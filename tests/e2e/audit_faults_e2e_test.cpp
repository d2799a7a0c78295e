// Audit storage faults against the real binary: a full disk, the audit file deleted underneath.
// Each time lookups and reveals answer 503 audit_unavailable and no password leaves; where the
// file can be reopened, service resumes without a restart, and the log verifies.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

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

TEST_F(AuditFaults, AFileReplacedUnderneathIsRefusedThenContinuedFromTheReplacement) {
    // An operator's "cp + mv" over the live file: a record keydesk appends would go to an
    // unlinked inode, so that request is refused; the replacement holds the same records, so
    // the reopened log continues from it, nothing lost.
    std::filesystem::path file;
    for (const auto& entry : std::filesystem::directory_iterator(instance_->audit_dir())) {
        if (entry.path().extension() == ".jsonl") file = entry.path();
    }
    ASSERT_FALSE(file.empty());
    const auto copy = instance_->audit_dir() / "copy.tmp";
    std::filesystem::copy_file(file, copy);
    std::filesystem::rename(copy, file);
    // The record that went to the replaced inode is not trusted: that request is refused.
    const auto refused = lookup();
    EXPECT_EQ(refused.status, 503u);
    EXPECT_EQ(refused.error(), "audit_unavailable");
    // The next one reopens the log on the replacement, which holds every record so far.
    const auto resumed_ms = expect_resumed();
    std::printf("audit file replaced: one request refused, resumed %.0f ms later\n", resumed_ms);
    expect_log_verifies();
}

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

int run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()); }

// The fault tests below, seen by one signed-in helpdesk member who reveals K1: refused during
// the fault, answered again after it, and never an answered reveal missing from the log.
class RevealingClient {
public:
    explicit RevealingClient(KeydeskInstance& instance)
        : instance_(instance), client_(instance.port(), instance.ca_file()) {
        EXPECT_EQ(client_.sign_in("helpdesk1", "Helpdesk1-Pass!").status, 200u);
    }

    HttpResult reveal() {
        auto result = client_.post("/api/v1/reveals",
                                   R"({"key_id":")" + std::string(fx::k1) + R"(","reason":"lost_pin"})");
        if (result.status == 200) ++answered_;
        return result;
    }

    // One reveal during the fault: 503 audit_unavailable and no password. Returns its time.
    double expect_refused() {
        const auto started = Clock::now();
        const auto result = reveal();
        const auto elapsed = ms_since(started);
        EXPECT_EQ(result.status, 503u);
        EXPECT_EQ(result.error(), "audit_unavailable");
        EXPECT_EQ(result.body.find(fx::k1_password), std::string::npos);
        return elapsed;
    }

    unsigned ready() { return client_.get("/readyz").status; }

    // Reveals until one is answered (at most 10 s); returns how long that took.
    double until_resumed() {
        const auto started = Clock::now();
        unsigned status = 0;
        while (Clock::now() - started < std::chrono::seconds(10)) {
            status = reveal().status;
            if (status == 200) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        EXPECT_EQ(status, 200u) << instance_.log();
        EXPECT_EQ(ready(), 200u);
        return ms_since(started);
    }

    // After a clean stop: the log verifies, and every reveal answered 200 has its record (a
    // refused one may have one too: fail closed).
    void expect_nothing_lost() {
        EXPECT_EQ(instance_.stop(), 0);
        std::string output;
        EXPECT_EQ(instance_.run("audit verify --config '" + instance_.config().string() + "'", output), 0)
            << output;
        unsigned recorded = 0;
        for (const auto& entry : std::filesystem::directory_iterator(instance_.audit_dir())) {
            if (entry.path().extension() != ".jsonl") continue;
            std::ifstream in(entry.path());
            for (std::string line; std::getline(in, line);) {
                const auto record = boost::json::parse(line).as_object();
                if (record.at("event") == "key.reveal" && record.at("outcome") == "success") ++recorded;
            }
        }
        EXPECT_GE(recorded, answered_);
    }

private:
    KeydeskInstance& instance_;
    HttpsClient client_;
    unsigned answered_ = 0;
};

const std::string many_reveals = "[limits]\nreveals_per_10_minutes = 1000\nreveals_per_hour = 1000\n";

}  // namespace

// A disk whose fsync hangs (LD_PRELOAD'ed shim): the first request waits out the append timeout,
// later ones are refused at once, /readyz says so, and service resumes when the disk does.
TEST(AuditHungDisk, AHungFsyncIsRefusedWithinTheTimeoutAndServiceResumes) {
    KeydeskInstance instance("hung-fsync", many_reveals);
    const auto flag = instance.dir() / "disk-hangs";
    ::setenv("KD_HANG_FSYNC_WHILE", flag.c_str(), 1);
    ::setenv("LD_PRELOAD", KD_HANG_FSYNC_LIB, 1);
    const bool started = instance.start();
    ::unsetenv("LD_PRELOAD");
    ::unsetenv("KD_HANG_FSYNC_WHILE");
    ASSERT_TRUE(started) << instance.log();
    RevealingClient helpdesk(instance);
    ASSERT_EQ(helpdesk.reveal().status, 200u);

    std::ofstream(flag) << "hung\n";
    const auto first_ms = helpdesk.expect_refused();
    EXPECT_LT(first_ms, 6500);  // the 5 s append timeout, and no more
    // The writer is still stuck: refused at once, and not ready.
    EXPECT_LT(helpdesk.expect_refused(), 1000);
    EXPECT_EQ(helpdesk.ready(), 503u);

    std::filesystem::remove(flag);
    const auto resumed_ms = helpdesk.until_resumed();
    std::printf("hung fsync: first refusal after %.0f ms, the next at once; resumed %.0f ms after the disk did\n",
                first_ms, resumed_ms);
    helpdesk.expect_nothing_lost();
}

// The audit directory taken away from keydesk's user (a wrong chown by a configuration tool). An
// open file keeps working (the records are still durable); once keydesk must open a file (SIGHUP
// here, or a rotation) it cannot, refuses, and resumes when the directory is given back. Root
// ignores permissions and ownership, so keydesk runs without the capabilities that let it.
TEST(AuditStoragePermissions, RemovedPermissionsRefuseWhenAFileMustBeOpenedAndServiceResumes) {
    if (::geteuid() != 0) GTEST_SKIP() << "changes the audit directory's owner";
    KeydeskInstance instance("no-permission", many_reveals);
    instance.command_prefix = {"setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner,-chown"};
    ASSERT_TRUE(instance.start()) << instance.log();
    RevealingClient helpdesk(instance);
    ASSERT_EQ(helpdesk.reveal().status, 200u);

    ASSERT_EQ(::chown(instance.audit_dir().c_str(), 65534, 65534), 0);  // nobody's now, mode 0700
    EXPECT_EQ(helpdesk.reveal().status, 200u);  // the open file still takes durable records
    ::kill(instance.pid(), SIGHUP);             // reopen by name: now impossible
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const auto refused_ms = helpdesk.expect_refused();
    EXPECT_EQ(helpdesk.ready(), 503u);

    ASSERT_EQ(::chown(instance.audit_dir().c_str(), 0, 0), 0);
    const auto resumed_ms = helpdesk.until_resumed();
    std::printf("audit directory taken away: refused in %.0f ms; resumed %.0f ms after it was given back\n",
                refused_ms, resumed_ms);
    helpdesk.expect_nothing_lost();
}

// The audit file system remounted read-only by the kernel, as ext4 does on an I/O error
// (errors=remount-ro), with keydesk's file open: a loop-mounted ext4 whose error is triggered
// through sysfs. Refused within the timeout; after the operator's repair (unmount, fsck, mount
// again) service resumes without a restart, and the log verifies.
TEST(AuditReadOnlyRemount, AnEmergencyReadOnlyRemountRefusesAndServiceResumesAfterRepair) {
    KeydeskInstance instance("remount-ro", many_reveals);
    const auto image = instance.dir() / "audit.ext4";
    const auto audit = instance.audit_dir().string();
    std::filesystem::create_directories(instance.audit_dir());
    if (run("truncate -s 32M '" + image.string() + "' && mkfs.ext4 -q -F '" + image.string() + "'") != 0 ||
        run("mount -o loop,errors=remount-ro '" + image.string() + "' '" + audit + "'") != 0) {
        GTEST_SKIP() << "cannot loop-mount an ext4 image here (not root, or no loop devices)";
    }
    struct Unmount {
        std::string path;
        ~Unmount() { run("umount -l '" + path + "'"); }
    } unmount{audit};
    ::chmod(audit.c_str(), 0700);
    ASSERT_TRUE(instance.start()) << instance.log();
    RevealingClient helpdesk(instance);
    ASSERT_EQ(helpdesk.reveal().status, 200u);

    // The kernel's own emergency remount (what an I/O error does), through ext4's sysfs trigger.
    std::string device;
    {
        FILE* pipe = ::popen(("findmnt -n -o SOURCE '" + audit + "'").c_str(), "r");
        char buffer[256] = {};
        if (std::fgets(buffer, sizeof buffer, pipe)) device = buffer;
        ::pclose(pipe);
        device = std::filesystem::path(device.substr(0, device.find('\n'))).filename().string();
    }
    ASSERT_FALSE(device.empty());
    {
        std::ofstream trigger("/sys/fs/ext4/" + device + "/trigger_fs_error");
        trigger << "keydesk test: I/O error\n";
        ASSERT_TRUE(trigger.flush()) << "no ext4 error trigger for " << device;
    }
    const auto refused_ms = helpdesk.expect_refused();
    EXPECT_LT(refused_ms, 5500);
    EXPECT_EQ(helpdesk.ready(), 503u);

    // The operator's repair: a read-only ext4 cannot go back to read-write in place.
    ASSERT_EQ(run("umount -l '" + audit + "'"), 0);
    EXPECT_LE(run("e2fsck -fy '" + image.string() + "'"), 1 << 8);  // 0 or 1: clean, or fixed
    ASSERT_EQ(run("mount -o loop,errors=remount-ro '" + image.string() + "' '" + audit + "'"), 0);
    const auto resumed_ms = helpdesk.until_resumed();
    std::printf("read-only remount: refused in %.0f ms; resumed %.0f ms after the repaired mount\n", refused_ms,
                resumed_ms);
    helpdesk.expect_nothing_lost();
}
