// The audit log: append, group commit, verify, and detection of every kind of tampering.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "audit/audit_log.hpp"
#include "audit/chain.hpp"

using keydesk::audit::AuditLog;
using keydesk::audit::AuditUnavailable;
using keydesk::audit::verify_log;

namespace {

const std::string key = "0123456789abcdef0123456789abcdef-test-key";

class AuditTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("kd-audit-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    void write_records(int count) {
        AuditLog log(dir_, key);
        for (int i = 0; i < count; ++i) {
            log.append({{"event", "key.lookup"}, {"actor", "helpdesk1"}, {"n", i}});
        }
    }

    std::vector<std::string> lines() const {
        std::ifstream in(keydesk::audit::log_files(dir_).back());
        std::vector<std::string> result;
        for (std::string line; std::getline(in, line);) result.push_back(line);
        return result;
    }

    void rewrite(const std::vector<std::string>& new_lines) const {
        std::ofstream out(keydesk::audit::log_files(dir_).back(), std::ios::trunc);
        for (const auto& line : new_lines) out << line << "\n";
    }

    std::filesystem::path dir_;
};

}  // namespace

TEST_F(AuditTest, AppendsContiguousSealedRecords) {
    write_records(5);
    const auto all = lines();
    ASSERT_EQ(all.size(), 5u);
    for (std::size_t i = 0; i < all.size(); ++i) {
        const auto record = boost::json::parse(all[i]).as_object();
        EXPECT_EQ(record.at("seq").as_int64(), static_cast<std::int64_t>(i + 1));
        EXPECT_EQ(record.at("event").as_string(), "key.lookup");
        EXPECT_EQ(record.at("mac").as_string().size(), 64u);
        EXPECT_TRUE(record.contains("time"));
        EXPECT_TRUE(record.at("time").as_string().ends_with("Z"));
    }
    EXPECT_EQ(boost::json::parse(all[0]).at("prev").as_string(), keydesk::audit::genesis_mac);
    const auto report = verify_log(dir_, key);
    EXPECT_TRUE(report.ok) << report.problem;
    EXPECT_EQ(report.records, 5u);
}

TEST_F(AuditTest, FilesAreOwnerOnly) {
    write_records(1);
    struct stat info {};
    ASSERT_EQ(::stat(keydesk::audit::log_files(dir_).back().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST_F(AuditTest, ContinuesTheChainAfterReopening) {
    write_records(3);
    write_records(2);
    const auto report = verify_log(dir_, key);
    EXPECT_TRUE(report.ok) << report.problem;
    EXPECT_EQ(report.records, 5u);
}

TEST_F(AuditTest, ConcurrentAppendsShareSyncsAndStayContiguous) {
    AuditLog log(dir_, key);
    std::vector<std::thread> threads;
    std::mutex mutex;
    std::set<std::uint64_t> seqs;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 25; ++i) {
                const auto seq = log.append({{"event", "key.lookup"}, {"thread", t}});
                std::lock_guard lock(mutex);
                seqs.insert(seq);
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(seqs.size(), 200u);
    EXPECT_EQ(*seqs.begin(), 1u);
    EXPECT_EQ(*seqs.rbegin(), 200u);
    EXPECT_TRUE(verify_log(dir_, key).ok);
}

TEST_F(AuditTest, DetectsAnEditedRecord) {
    write_records(4);
    auto all = lines();
    const auto at = all[1].find("helpdesk1");
    all[1].replace(at, 9, "helpdesk2");
    rewrite(all);
    const auto report = verify_log(dir_, key);
    EXPECT_FALSE(report.ok);
    EXPECT_EQ(report.seq, 2u);
    EXPECT_EQ(report.line, 2u);
    EXPECT_TRUE(report.problem.starts_with("edited")) << report.problem;
}

TEST_F(AuditTest, DetectsARemovedRecord) {
    write_records(4);
    auto all = lines();
    all.erase(all.begin() + 2);
    rewrite(all);
    const auto report = verify_log(dir_, key);
    EXPECT_FALSE(report.ok);
    EXPECT_EQ(report.seq, 4u);
    EXPECT_TRUE(report.problem.starts_with("missing")) << report.problem;
}

TEST_F(AuditTest, DetectsReorderedRecords) {
    write_records(4);
    auto all = lines();
    std::swap(all[1], all[2]);
    rewrite(all);
    const auto report = verify_log(dir_, key);
    EXPECT_FALSE(report.ok);
    EXPECT_TRUE(report.problem.starts_with("missing") || report.problem.starts_with("reordered"))
        << report.problem;
    EXPECT_EQ(report.line, 2u);
}

TEST_F(AuditTest, DetectsARecordForgedWithoutTheKey) {
    write_records(2);
    auto all = lines();
    // Recompute the mac with another key: the chain links hold, the mac does not.
    const auto split = keydesk::audit::split_line(all[1]);
    ASSERT_TRUE(split);
    auto forged = split->covered;
    forged.replace(forged.find("helpdesk1"), 9, "mallory00");
    all[1] = keydesk::audit::seal(forged, "another key of at least thirty-two bytes");
    rewrite(all);
    const auto report = verify_log(dir_, key);
    EXPECT_FALSE(report.ok);
    EXPECT_TRUE(report.problem.starts_with("edited")) << report.problem;
    // Without the key, the chain's links are still checked and this forgery passes them: the
    // mac is what needs the key. (Signed checkpoints close this gap later.)
    EXPECT_TRUE(verify_log(dir_, "").ok);
}

TEST_F(AuditTest, DetectsTruncatedLineAndRepairsItOnOpen) {
    write_records(3);
    {
        std::ofstream out(keydesk::audit::log_files(dir_).back(), std::ios::app);
        out << R"({"seq":4,"time":"2026-)";
    }
    auto report = verify_log(dir_, key);
    EXPECT_FALSE(report.ok);
    EXPECT_TRUE(report.problem.starts_with("torn")) << report.problem;

    AuditLog log(dir_, key);
    ASSERT_EQ(log.warnings().size(), 1u);
    EXPECT_NE(log.warnings()[0].find("torn"), std::string::npos);
    // The repair is itself on the record (seq 4), before anything else is appended.
    EXPECT_EQ(log.append({{"event", "service.start"}}), 5u);
    report = verify_log(dir_, key);
    EXPECT_TRUE(report.ok) << report.problem;
    const auto repair = boost::json::parse(lines().at(3)).as_object();
    EXPECT_EQ(repair.at("event").as_string(), "audit.repair");
    EXPECT_EQ(repair.at("torn_bytes").as_int64(), 22);
    // The torn bytes are kept aside, not dropped.
    bool kept = false;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
        kept = kept || entry.path().string().find(".torn-") != std::string::npos;
    }
    EXPECT_TRUE(kept);
}

TEST_F(AuditTest, ALastRecordMissingOnlyItsNewlineIsCompletedNotMovedAside) {
    write_records(3);
    auto all = lines();
    {
        std::ofstream out(keydesk::audit::log_files(dir_).back(), std::ios::trunc);
        out << all[0] << "\n" << all[1] << "\n" << all[2];  // no final newline
    }
    AuditLog log(dir_, key);
    EXPECT_EQ(log.append({{"event", "service.start"}}), 4u);
    EXPECT_TRUE(verify_log(dir_, key).ok);
    EXPECT_EQ(lines().size(), 4u);
}

TEST_F(AuditTest, AFileHoldingOnlyANewlineIsNotRead) {
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "audit-00000000000000000001.jsonl") << "\n";
    EXPECT_THROW(AuditLog(dir_, key), AuditUnavailable);
}

TEST_F(AuditTest, FailsClosedWhenTheDiskIsFull) {
    // /dev/full accepts the open and fails every write with ENOSPC: a real disk-full error.
    std::filesystem::create_directories(dir_);
    std::filesystem::create_symlink("/dev/full", dir_ / "audit-00000000000000000001.jsonl");
    AuditLog log(dir_, key);
    EXPECT_THROW(log.append({{"event", "key.reveal"}}), AuditUnavailable);
    EXPECT_FALSE(log.healthy());
    EXPECT_NE(log.failure().find("No space left"), std::string::npos) << log.failure();
    // Once failed, it stays failed: a failed write is never retried and trusted.
    EXPECT_THROW(log.append({{"event", "key.reveal"}}), AuditUnavailable);
}

TEST_F(AuditTest, RefusesAShortKey) {
    EXPECT_THROW(AuditLog(dir_, "short"), AuditUnavailable);
}

TEST_F(AuditTest, CallerCannotOverrideChainFields) {
    {
        AuditLog log(dir_, key);
        log.append({{"event", "x"}, {"seq", 99}, {"prev", "forged"}, {"mac", "forged"}});
    }
    const auto record = boost::json::parse(lines().at(0)).as_object();
    EXPECT_EQ(record.at("seq").as_int64(), 1);
    EXPECT_EQ(record.at("prev").as_string(), keydesk::audit::genesis_mac);
    EXPECT_TRUE(verify_log(dir_, key).ok);
}
