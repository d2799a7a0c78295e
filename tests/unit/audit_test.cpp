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
    // Without the key and without checkpoints, the chain's links are still checked and this
    // forgery passes them: the mac is what needs the key. Signed checkpoints close this gap (see
    // AuditDamage: "edited ..., no HMAC key").
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

// ---------------------------------------------------------------------------------------------
// Signed checkpoints, rotation, off-host copies and the verifier's every outcome.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <atomic>
#include <functional>

using keydesk::audit::AuditSettings;
using keydesk::audit::Checkpoint;
using keydesk::audit::Damage;
using keydesk::audit::PublicKeys;
using keydesk::audit::SigningKey;
using keydesk::audit::VerifyOptions;
using keydesk::audit::VerifyReport;

namespace {

std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t at = 0;
    while (at < text.size()) {
        const auto end = text.find('\n', at);
        if (end == std::string::npos) break;
        lines.push_back(text.substr(at, end - at));
        at = end + 1;
    }
    return lines;
}

boost::json::object record_of(const std::string& line) { return boost::json::parse(line).as_object(); }

std::string event_of(const std::string& line) {
    const auto record = record_of(line);
    return record.contains("event") ? std::string(record.at("event").as_string()) : "";
}

// `line` with `from` replaced by `to`; with `reseal`, sealed again under the HMAC key, as someone
// who stole the key would.
std::string edited(const std::string& line, const std::string& from, const std::string& to,
                   bool reseal = false) {
    auto covered = keydesk::audit::split_line(line)->covered;
    const auto at = covered.find(from);
    EXPECT_NE(at, std::string::npos) << from << " not in " << line;
    covered.replace(at, from.size(), to);
    if (reseal) return keydesk::audit::seal(covered, key);
    auto result = line;
    result.replace(result.find(from), from.size(), to);
    return result;
}

// The signature of a checkpoint line changed in its first byte (still valid base64).
std::string with_bad_signature(const std::string& line, bool reseal) {
    const std::string marker = R"("signature":")";
    const auto at = line.find(marker) + marker.size();
    const std::string old_char(1, line[at]);
    const std::string new_char = old_char == "A" ? "B" : "A";
    const auto signature = line.substr(at, 88);
    return edited(line, signature, new_char + signature.substr(1), reseal);
}

// One log file as bytes: its lines, then `tail` (a torn or cut line).
struct LogFile {
    std::string name;
    std::vector<std::string> lines;
    std::string tail;
};
using LogFiles = std::vector<LogFile>;

class AuditLogTest : public ::testing::Test {
protected:
    void SetUp() override {
        const std::string base = std::filesystem::temp_directory_path() /
                                 ("kd-audit-" + std::to_string(::getpid()) + "-" +
                                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
        dir_ = base;
        aux_ = base + "-aux";  // keys and checkpoint copies live outside the log directory
        std::filesystem::remove_all(dir_);
        std::filesystem::remove_all(aux_);
        std::filesystem::create_directories(aux_);
    }
    void TearDown() override {
        std::filesystem::remove_all(dir_);
        std::filesystem::remove_all(aux_);
    }

    std::filesystem::path signing_key() {
        const auto file = aux_ / "signing.pem";
        if (!std::filesystem::exists(file)) public_pem_ = keydesk::audit::generate_signing_key(file);
        return file;
    }

    // Signed, deterministic settings: checkpoints by count only, a second-file copy.
    AuditSettings signed_settings(std::uint64_t every = 1000) {
        AuditSettings settings;
        settings.signing_key_file = signing_key();
        settings.checkpoint_every_records = every;
        settings.checkpoint_interval = std::chrono::milliseconds(0);
        settings.checkpoint_file = aux_ / "checkpoints.jsonl";
        return settings;
    }

    VerifyOptions options(bool with_key = true, bool with_public_key = true,
                          bool with_copies = true) const {
        VerifyOptions options;
        options.directory = dir_;
        if (with_key) options.hmac_key = key;
        if (with_public_key) options.public_keys_pem = public_pem_;
        if (with_copies) options.checkpoint_files.push_back(aux_ / "checkpoints.jsonl");
        return options;
    }

    LogFiles read_files() const {
        LogFiles files;
        for (const auto& path : keydesk::audit::log_files(dir_)) {
            const auto text = read_text(path);
            LogFile file{path.filename().string(), split_lines(text), {}};
            const auto last = text.rfind('\n');
            file.tail = text.substr(last == std::string::npos ? 0 : last + 1);
            files.push_back(std::move(file));
        }
        return files;
    }

    void write_files(const LogFiles& files) const {
        for (const auto& path : keydesk::audit::log_files(dir_)) std::filesystem::remove(path);
        for (const auto& file : files) {
            std::ofstream out(dir_ / file.name, std::ios::binary | std::ios::trunc);
            for (const auto& line : file.lines) out << line << "\n";
            out << file.tail;
        }
    }

    std::vector<std::string> all_lines() const {
        std::vector<std::string> lines;
        for (const auto& file : read_files()) lines.insert(lines.end(), file.lines.begin(), file.lines.end());
        return lines;
    }

    std::vector<std::string> checkpoint_lines() const {
        std::vector<std::string> lines;
        for (const auto& line : all_lines()) {
            if (event_of(line) == "audit.checkpoint") lines.push_back(line);
        }
        return lines;
    }

    // The log every damage case starts from: two files, checkpoints by count, at rotation and at
    // shutdown, each also copied to the checkpoint file:
    //   file 0: 1-4 records, 5 checkpoint (count), 6-7 records, 8 checkpoint (rotation)
    //   file 1: 9 audit.rotate, 10-12 records, 13 checkpoint (count), 14-15 records,
    //           16 checkpoint (shutdown)
    void write_standard_log(const std::string& actor = "helpdesk1") {
        AuditLog log(dir_, key, signed_settings(4));
        for (int i = 0; i < 6; ++i) log.append({{"event", "key.lookup"}, {"actor", actor}, {"n", i}});
        log.rotate();
        for (int i = 6; i < 11; ++i) log.append({{"event", "key.reveal"}, {"actor", actor}, {"n", i}});
    }

    std::filesystem::path dir_;
    std::filesystem::path aux_;
    std::string public_pem_;
};

// Where the line with `seq` is in `files`: {file index, line index}.
std::pair<std::size_t, std::size_t> locate(const LogFiles& files, std::uint64_t seq) {
    for (std::size_t f = 0; f < files.size(); ++f) {
        for (std::size_t l = 0; l < files[f].lines.size(); ++l) {
            if (keydesk::audit::leading_seq(files[f].lines[l]) == seq) return {f, l};
        }
    }
    ADD_FAILURE() << "no seq " << seq;
    return {0, 0};
}

std::string& line_of(LogFiles& files, std::uint64_t seq) {
    const auto [f, l] = locate(files, seq);
    return files[f].lines[l];
}

void erase_seq(LogFiles& files, std::uint64_t seq) {
    const auto [f, l] = locate(files, seq);
    files[f].lines.erase(files[f].lines.begin() + static_cast<std::ptrdiff_t>(l));
}

void swap_seqs(LogFiles& files, std::uint64_t a, std::uint64_t b) { std::swap(line_of(files, a), line_of(files, b)); }

// Cuts the line with `seq` in half: it becomes the file's incomplete tail.
void cut_seq(LogFiles& files, std::uint64_t seq) {
    const auto [f, l] = locate(files, seq);
    ASSERT_EQ(l + 1, files[f].lines.size()) << "only a file's last line can be cut";
    files[f].tail = files[f].lines[l].substr(0, files[f].lines[l].size() / 2);
    files[f].lines.pop_back();
}

}  // namespace

TEST_F(AuditLogTest, SigningKeysAreGeneratedPrivateAndNeverOverwritten) {
    const auto file = signing_key();
    struct stat info {};
    ASSERT_EQ(::stat(file.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    EXPECT_TRUE(public_pem_.starts_with("-----BEGIN PUBLIC KEY-----")) << public_pem_;
    EXPECT_EQ(read_text(file).find("PUBLIC"), std::string::npos);
    EXPECT_THROW(keydesk::audit::generate_signing_key(file), keydesk::audit::SigningError);
    EXPECT_EQ(keydesk::audit::public_key_pem_of(file), public_pem_);

    const auto signer = SigningKey::load(file);
    EXPECT_EQ(signer.key_id().size(), 16u);
    const auto signature = signer.sign("checkpoint note");
    EXPECT_EQ(signature.size(), 88u);
    const auto keys = PublicKeys::parse(public_pem_);
    EXPECT_TRUE(keys.knows(signer.key_id()));
    EXPECT_TRUE(keys.verify(signer.key_id(), "checkpoint note", signature));
    EXPECT_FALSE(keys.verify(signer.key_id(), "checkpoint notE", signature));
    EXPECT_FALSE(keys.verify("0000000000000000", "checkpoint note", signature));
    EXPECT_FALSE(keys.verify(signer.key_id(), "checkpoint note", "not base64"));
    auto flipped = signature;
    flipped[3] = flipped[3] == 'x' ? 'y' : 'x';
    EXPECT_FALSE(keys.verify(signer.key_id(), "checkpoint note", flipped));
}

TEST_F(AuditLogTest, SigningKeysAreRefusedWhenExposedMissingOrNotEd25519) {
    const auto file = signing_key();
    ::chmod(file.c_str(), 0640);
    EXPECT_THROW(SigningKey::load(file), keydesk::audit::SigningError);
    try {
        SigningKey::load(aux_ / "missing.pem");
        FAIL() << "expected SigningError";
    } catch (const keydesk::audit::SigningError& error) {
        EXPECT_NE(std::string(error.what()).find("keydesk audit keygen"), std::string::npos) << error.what();
    }
    std::ofstream(aux_ / "junk.pem") << "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    ::chmod((aux_ / "junk.pem").c_str(), 0600);
    EXPECT_THROW(SigningKey::load(aux_ / "junk.pem"), keydesk::audit::SigningError);

    // The log refuses to start with a key it cannot use, naming the fix.
    AuditSettings settings;
    settings.signing_key_file = aux_ / "missing.pem";
    try {
        AuditLog log(dir_, key, settings);
        FAIL() << "expected AuditUnavailable";
    } catch (const AuditUnavailable& error) {
        EXPECT_NE(std::string(error.what()).find("keygen"), std::string::npos) << error.what();
    }
}

TEST_F(AuditLogTest, PublicKeysHoldSeveralKeysAndRefusePrivateOnes) {
    signing_key();
    const auto second = keydesk::audit::generate_signing_key(aux_ / "second.pem");
    const auto keys = PublicKeys::parse(public_pem_ + "\n" + second);
    EXPECT_EQ(keys.key_ids().size(), 2u);
    EXPECT_THROW(PublicKeys::parse(read_text(aux_ / "signing.pem")), keydesk::audit::SigningError);
    EXPECT_THROW(PublicKeys::parse("hello"), keydesk::audit::SigningError);
    EXPECT_THROW(PublicKeys::parse("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
                 keydesk::audit::SigningError);
}

TEST(AuditCheckpointFormat, TheSignedNoteIsDocumentedTextAndRoundTrips) {
    Checkpoint checkpoint;
    checkpoint.seq = 1001;
    checkpoint.time = "2026-11-26T00:23:40.123Z";
    checkpoint.reason = "count";
    checkpoint.covers_seq = 1000;
    checkpoint.covers_mac = std::string(64, 'a');
    checkpoint.from_seq = 1;
    checkpoint.sha256 = std::string(64, 'b');
    checkpoint.key_id = "0123456789abcdef";
    checkpoint.signature = "sig";
    EXPECT_EQ(keydesk::audit::checkpoint_note(checkpoint),
              "keydesk audit checkpoint v1\nseq 1001\ntime 2026-11-26T00:23:40.123Z\nreason count\n"
              "covers_seq 1000\ncovers_mac " + std::string(64, 'a') + "\nfrom_seq 1\nsha256 " +
                  std::string(64, 'b') + "\nkey_id 0123456789abcdef\n");
    auto record = keydesk::audit::checkpoint_fields(checkpoint);
    record["seq"] = 1001;
    record["time"] = checkpoint.time;
    const auto parsed = keydesk::audit::checkpoint_from_record(
        boost::json::parse(boost::json::serialize(record)).as_object());
    ASSERT_TRUE(parsed);
    EXPECT_EQ(keydesk::audit::checkpoint_note(*parsed), keydesk::audit::checkpoint_note(checkpoint));
    EXPECT_EQ(parsed->signature, "sig");
    record.erase("sha256");
    EXPECT_FALSE(keydesk::audit::checkpoint_from_record(record));

    EXPECT_EQ(keydesk::audit::leading_seq(R"({"seq":42,"time":"x"})"), 42u);
    EXPECT_FALSE(keydesk::audit::leading_seq(R"({"time":"x","seq":42})"));
    EXPECT_FALSE(keydesk::audit::leading_seq(R"({"seq":4x2})"));
}

TEST_F(AuditLogTest, WritesTheStandardLayoutWithCheckpointsAtCountRotationAndShutdown) {
    write_standard_log();
    const auto files = read_files();
    ASSERT_EQ(files.size(), 2u);
    EXPECT_EQ(files[0].name, "audit-00000000000000000001.jsonl");
    EXPECT_EQ(files[1].name, "audit-00000000000000000009.jsonl");
    ASSERT_EQ(files[0].lines.size(), 8u);
    ASSERT_EQ(files[1].lines.size(), 8u);

    std::vector<std::string> reasons;
    for (const auto& line : checkpoint_lines()) reasons.emplace_back(record_of(line).at("reason").as_string());
    EXPECT_EQ(reasons, (std::vector<std::string>{"count", "rotation", "count", "shutdown"}));

    const auto checkpoint = record_of(files[0].lines[4]);
    EXPECT_EQ(checkpoint.at("seq").as_int64(), 5);
    EXPECT_EQ(checkpoint.at("event").as_string(), "audit.checkpoint");
    EXPECT_EQ(checkpoint.at("covers_seq").as_int64(), 4);
    EXPECT_EQ(checkpoint.at("covers_mac").as_string(), record_of(files[0].lines[3]).at("mac").as_string());
    EXPECT_EQ(checkpoint.at("prev").as_string(), checkpoint.at("covers_mac").as_string());
    EXPECT_EQ(checkpoint.at("from_seq").as_int64(), 1);
    EXPECT_EQ(checkpoint.at("key_id").as_string(), SigningKey::load(signing_key()).key_id());
    // The keyless hash is plain SHA-256 over the covered lines: anyone can recompute it.
    keydesk::audit::LineHasher hasher;
    for (int i = 0; i < 4; ++i) hasher.add_line(files[0].lines[static_cast<std::size_t>(i)]);
    EXPECT_EQ(checkpoint.at("sha256").as_string(), hasher.hex());
    // The next segment starts with the checkpoint's own line.
    EXPECT_EQ(record_of(files[0].lines[7]).at("from_seq").as_int64(), 5);

    // The new file's first record names the previous file and its last hash.
    const auto rotated = record_of(files[1].lines[0]);
    EXPECT_EQ(rotated.at("event").as_string(), "audit.rotate");
    EXPECT_EQ(rotated.at("reason").as_string(), "requested");
    EXPECT_EQ(rotated.at("previous_file").as_string(), files[0].name);
    EXPECT_EQ(rotated.at("previous_mac").as_string(), record_of(files[0].lines[7]).at("mac").as_string());

    // Every checkpoint went to the second file too, byte for byte.
    EXPECT_EQ(split_lines(read_text(aux_ / "checkpoints.jsonl")), checkpoint_lines());
    struct stat info {};
    ASSERT_EQ(::stat((aux_ / "checkpoints.jsonl").c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);

    const auto report = verify_log(options());
    EXPECT_TRUE(report.ok) << keydesk::audit::describe(report);
    EXPECT_EQ(report.records, 16u);
    EXPECT_EQ(report.files, 2u);
    EXPECT_EQ(report.checkpoints, 4u);
    EXPECT_EQ(report.covered_seq, 15u);
    EXPECT_EQ(report.external_checkpoints, 4u);
    EXPECT_EQ(report.newest_external_seq, 16u);
    EXPECT_TRUE(report.macs_checked);
    EXPECT_TRUE(report.signatures_checked);
    EXPECT_TRUE(report.notes.empty()) << keydesk::audit::describe(report);
    // An auditor without the HMAC key: the files and the public key are enough.
    EXPECT_TRUE(verify_log(options(false, true, false)).ok);
}

TEST_F(AuditLogTest, VerifyNamesEveryKindOfDamageInEveryPosition) {
    write_standard_log();
    const auto pristine = read_files();
    const auto other_key = keydesk::audit::generate_signing_key(aux_ / "other.pem");
    (void)other_key;

    struct Case {
        std::string name;
        std::function<void(LogFiles&)> damage;
        bool with_key;
        Damage expected;  // none: verifies (a limit of what can be detected)
        std::size_t file;
        std::uint64_t line;
        std::uint64_t seq;
    };
    const std::vector<Case> cases{
        {"edited first", [](LogFiles& f) { line_of(f, 1) = edited(line_of(f, 1), "helpdesk1", "helpdesk2"); },
         true, Damage::edited, 0, 1, 1},
        {"edited middle", [](LogFiles& f) { line_of(f, 6) = edited(line_of(f, 6), "helpdesk1", "helpdesk2"); },
         true, Damage::edited, 0, 6, 6},
        {"edited last record", [](LogFiles& f) { line_of(f, 15) = edited(line_of(f, 15), "helpdesk1", "helpdesk2"); },
         true, Damage::edited, 1, 7, 15},
        {"edited last line (a checkpoint)", [](LogFiles& f) { line_of(f, 16) = edited(line_of(f, 16), "shutdown", "shutdowN"); },
         true, Damage::edited, 1, 8, 16},
        {"edited across rotation", [](LogFiles& f) { line_of(f, 9) = edited(line_of(f, 9), "requested", "requesteD"); },
         true, Damage::edited, 1, 1, 9},
        // Without the HMAC key the signed SHA-256 of the segment finds the edit; it names the
        // segment (from its first seq) at the checkpoint that covers it.
        {"edited first, no HMAC key", [](LogFiles& f) { line_of(f, 1) = edited(line_of(f, 1), "helpdesk1", "helpdesk2"); },
         false, Damage::edited, 0, 5, 1},
        {"edited middle, no HMAC key", [](LogFiles& f) { line_of(f, 6) = edited(line_of(f, 6), "helpdesk1", "helpdesk2"); },
         false, Damage::edited, 0, 8, 5},
        {"edited last record, no HMAC key", [](LogFiles& f) { line_of(f, 15) = edited(line_of(f, 15), "helpdesk1", "helpdesk2"); },
         false, Damage::edited, 1, 8, 13},
        {"edited across rotation, no HMAC key", [](LogFiles& f) { line_of(f, 9) = edited(line_of(f, 9), "requested", "requesteD"); },
         false, Damage::edited, 1, 5, 8},
        {"edited and re-sealed with a stolen HMAC key", [](LogFiles& f) { line_of(f, 6) = edited(line_of(f, 6), "helpdesk1", "helpdesk2", true); },
         true, Damage::edited, 0, 6, 6},
        {"checkpoint given a member its signature does not cover", [](LogFiles& f) { line_of(f, 13) = edited(line_of(f, 13), R"("outcome":"success")", R"("outcome":"success","note":"x")", true); },
         true, Damage::edited, 1, 5, 13},
        {"missing first", [](LogFiles& f) { erase_seq(f, 1); }, true, Damage::missing, 0, 1, 2},
        {"missing middle", [](LogFiles& f) { erase_seq(f, 6); }, true, Damage::missing, 0, 6, 7},
        {"missing middle, no HMAC key", [](LogFiles& f) { erase_seq(f, 6); }, false, Damage::missing, 0, 6, 7},
        {"missing across rotation", [](LogFiles& f) { erase_seq(f, 8); }, true, Damage::missing, 1, 1, 9},
        // The last record gone: only the copy kept outside can tell (next cases).
        {"missing last: the log ends before its newest checkpoint copy", [](LogFiles& f) { erase_seq(f, 16); },
         true, Damage::truncated, 1, 0, 16},
        {"missing newest file", [](LogFiles& f) { f.pop_back(); }, true, Damage::truncated, 0, 0, 9},
        {"reordered first", [](LogFiles& f) { swap_seqs(f, 1, 2); }, true, Damage::reordered, 0, 1, 2},
        {"reordered middle", [](LogFiles& f) { swap_seqs(f, 6, 7); }, true, Damage::reordered, 0, 6, 7},
        {"reordered last", [](LogFiles& f) { swap_seqs(f, 15, 16); }, true, Damage::reordered, 1, 7, 16},
        {"reordered across rotation", [](LogFiles& f) { swap_seqs(f, 8, 9); }, true, Damage::reordered, 0, 8, 9},
        {"reordered, no HMAC key", [](LogFiles& f) { swap_seqs(f, 1, 2); }, false, Damage::reordered, 0, 1, 2},
        {"truncated: a closed file cut mid-line", [](LogFiles& f) { cut_seq(f, 8); }, true, Damage::truncated, 0, 8, 8},
        {"torn: the newest file's last line cut by a crash", [](LogFiles& f) { cut_seq(f, 16); }, true, Damage::torn, 1, 8, 16},
        {"torn, no HMAC key", [](LogFiles& f) { cut_seq(f, 16); }, false, Damage::torn, 1, 8, 16},
        {"bad signature first", [](LogFiles& f) { line_of(f, 5) = with_bad_signature(line_of(f, 5), true); },
         true, Damage::bad_signature, 0, 5, 5},
        {"bad signature middle (at rotation)", [](LogFiles& f) { line_of(f, 8) = with_bad_signature(line_of(f, 8), true); },
         true, Damage::bad_signature, 0, 8, 8},
        {"bad signature last", [](LogFiles& f) { line_of(f, 16) = with_bad_signature(line_of(f, 16), true); },
         true, Damage::bad_signature, 1, 8, 16},
        {"bad signature, no HMAC key", [](LogFiles& f) { line_of(f, 13) = with_bad_signature(line_of(f, 13), false); },
         false, Damage::bad_signature, 1, 5, 13},
        {"checkpoint re-signed with another key", [this](LogFiles& f) {
             auto record = record_of(line_of(f, 13));
             auto checkpoint = *keydesk::audit::checkpoint_from_record(record);
             const auto other = SigningKey::load(aux_ / "other.pem");
             checkpoint.key_id = other.key_id();
             checkpoint.signature = other.sign(keydesk::audit::checkpoint_note(checkpoint));
             boost::json::object forged{{"seq", checkpoint.seq}, {"time", checkpoint.time}};
             for (auto& [name, value] : keydesk::audit::checkpoint_fields(checkpoint)) forged[name] = value;
             forged["prev"] = record.at("prev");
             line_of(f, 13) = keydesk::audit::seal(boost::json::serialize(forged), key);
         },
         true, Damage::bad_signature, 1, 5, 13},
        {"malformed middle", [](LogFiles& f) { line_of(f, 6) = "not json"; }, true, Damage::malformed, 0, 6, 6},
    };
    for (const auto& test : cases) {
        SCOPED_TRACE(test.name);
        auto files = pristine;
        test.damage(files);
        write_files(files);
        const auto report = verify_log(options(test.with_key));
        if (test.expected == Damage::none) {
            EXPECT_TRUE(report.ok) << keydesk::audit::describe(report);
            continue;
        }
        EXPECT_FALSE(report.ok);
        EXPECT_EQ(report.damage, test.expected) << keydesk::audit::describe(report);
        EXPECT_TRUE(report.problem.starts_with(keydesk::audit::damage_name(test.expected)))
            << report.problem;
        EXPECT_EQ(report.seq, test.seq) << keydesk::audit::describe(report);
        EXPECT_EQ(report.line, test.line) << keydesk::audit::describe(report);
        EXPECT_EQ(std::filesystem::path(report.file).filename(),
                  test.file < files.size() ? files[test.file].name : files.back().name)
            << keydesk::audit::describe(report);
    }

    // The limit, stated: a cut at the very end goes unseen without a checkpoint kept outside.
    auto files = pristine;
    erase_seq(files, 16);
    erase_seq(files, 15);
    write_files(files);
    EXPECT_TRUE(verify_log(options(true, true, false)).ok);
    EXPECT_FALSE(verify_log(options(true, true, true)).ok);
}

TEST_F(AuditLogTest, VerifyFindsContradictingCheckpoints) {
    // Another history signed with the same keys: the server (or whoever holds its keys) wrote
    // two different logs. Its checkpoints contradict the log under test.
    const auto real_dir = dir_;
    dir_ = aux_ / "fork";
    write_standard_log("helpdesk9");
    std::filesystem::rename(aux_ / "checkpoints.jsonl", aux_ / "fork-checkpoints.jsonl");
    dir_ = real_dir;
    write_standard_log();

    auto with_fork = options();
    with_fork.checkpoint_files = {aux_ / "fork-checkpoints.jsonl"};
    auto report = verify_log(with_fork);
    EXPECT_FALSE(report.ok);
    EXPECT_EQ(report.damage, Damage::contradiction) << keydesk::audit::describe(report);
    EXPECT_EQ(report.seq, 5u);  // the first checkpoint of the fork
    EXPECT_NE(report.problem.find("fork-checkpoints.jsonl line 1"), std::string::npos) << report.problem;

    // Two copies outside that disagree with each other.
    with_fork.checkpoint_files = {aux_ / "checkpoints.jsonl", aux_ / "fork-checkpoints.jsonl"};
    report = verify_log(with_fork);
    EXPECT_EQ(report.damage, Damage::contradiction) << keydesk::audit::describe(report);
    EXPECT_NE(report.problem.find("disagree"), std::string::npos) << report.problem;
    EXPECT_EQ(std::filesystem::path(report.file).filename(), "fork-checkpoints.jsonl");

    // A copy outside with a forged signature is reported as such, in that file.
    auto copies = split_lines(read_text(aux_ / "checkpoints.jsonl"));
    copies[2] = with_bad_signature(copies[2], true);
    {
        std::ofstream out(aux_ / "forged.jsonl");
        for (const auto& line : copies) out << line << "\n";
    }
    with_fork.checkpoint_files = {aux_ / "forged.jsonl"};
    report = verify_log(with_fork);
    EXPECT_EQ(report.damage, Damage::bad_signature) << keydesk::audit::describe(report);
    EXPECT_EQ(report.line, 3u);

    // An unknown public key: every checkpoint is refused.
    auto wrong_key = options();
    wrong_key.public_keys_pem = keydesk::audit::generate_signing_key(aux_ / "stranger.pem");
    report = verify_log(wrong_key);
    EXPECT_EQ(report.damage, Damage::bad_signature) << keydesk::audit::describe(report);
    EXPECT_NE(report.problem.find("not among the given public keys"), std::string::npos);

    auto unreadable = options();
    unreadable.public_keys_pem = "not a key";
    EXPECT_EQ(verify_log(unreadable).damage, Damage::unreadable);
    unreadable = options();
    unreadable.checkpoint_files = {aux_ / "absent.jsonl"};
    EXPECT_EQ(verify_log(unreadable).damage, Damage::unreadable);
}

TEST_F(AuditLogTest, CheckpointCopiesAreFoundInsideSyslogLines) {
    write_standard_log();
    {
        // What a SIEM export or /var/log/auth.log holds: a prefix, the record, other lines.
        std::ofstream out(aux_ / "siem.log");
        out << "Nov 26 00:00:01 dc1 sshd[12]: Accepted publickey for root\n";
        for (const auto& line : checkpoint_lines()) {
            out << "<86>1 2026-11-26T00:23:40.123Z host keydesk 42 audit.checkpoint - " << line << "\r\n";
        }
        out << R"(Nov 26 00:00:02 host keydesk[42]: {"seq":3,"event":"key.lookup"} not a checkpoint)" << "\n";
    }
    auto siem = options();
    siem.checkpoint_files = {aux_ / "siem.log"};
    const auto report = verify_log(siem);
    EXPECT_TRUE(report.ok) << keydesk::audit::describe(report);
    EXPECT_EQ(report.external_checkpoints, 4u);
}

TEST_F(AuditLogTest, VerifyReportsNotesAndDescribesItself) {
    {
        AuditLog log(dir_, key, signed_settings(3));
        for (int i = 0; i < 4; ++i) log.append({{"event", "key.lookup"}, {"n", i}});
        // Still open: seq 5 is after the newest checkpoint (seq 4).
        auto live = options(true, true, false);
        live.live = true;
        const auto report = verify_log(live);
        EXPECT_TRUE(report.ok) << keydesk::audit::describe(report);
        ASSERT_EQ(report.notes.size(), 1u) << keydesk::audit::describe(report);
        EXPECT_NE(report.notes[0].find("record 5 came after the newest checkpoint"), std::string::npos)
            << report.notes[0];
    }
    // Without keys: links and hashes only, and the report says what was not checked.
    auto report = verify_log(options(false, false, false));
    EXPECT_TRUE(report.ok);
    EXPECT_FALSE(report.macs_checked);
    EXPECT_FALSE(report.signatures_checked);
    EXPECT_EQ(report.checkpoints, 2u);
    auto text = keydesk::audit::describe(report);
    EXPECT_TRUE(text.starts_with("OK 6 records\n")) << text;
    EXPECT_NE(text.find("macs not checked"), std::string::npos) << text;
    EXPECT_NE(text.find("signatures not checked"), std::string::npos) << text;
    const auto json = keydesk::audit::to_json(report);
    EXPECT_TRUE(json.at("ok").as_bool());
    EXPECT_EQ(json.at("checkpoints").as_uint64(), 2u);

    // A live writer's incomplete last line is not a torn record; after a crash it is.
    std::ofstream(keydesk::audit::log_files(dir_).back(), std::ios::app) << R"({"seq":7,"ti)";
    auto live = options();
    live.live = true;
    EXPECT_TRUE(verify_log(live).ok);
    report = verify_log(options());
    EXPECT_EQ(report.damage, Damage::torn);
    text = keydesk::audit::describe(report);
    EXPECT_TRUE(text.starts_with("BAD " + keydesk::audit::log_files(dir_).back().string() + " line 7 seq 7: torn: "))
        << text;
    EXPECT_EQ(keydesk::audit::to_json(report).at("damage").as_string(), "torn");

    // Repaired on the next start: the torn bytes are kept aside and the report says where.
    { AuditLog log(dir_, key, signed_settings(3)); }
    report = verify_log(options());
    EXPECT_TRUE(report.ok) << keydesk::audit::describe(report);
    ASSERT_FALSE(report.notes.empty());
    EXPECT_NE(report.notes.back().find(".torn-"), std::string::npos) << report.notes.back();
}

TEST_F(AuditLogTest, CheckpointsResumeAcrossRestarts) {
    {
        AuditLog log(dir_, key, signed_settings(3));
        for (int i = 0; i < 5; ++i) log.append({{"event", "key.lookup"}, {"n", i}});
    }  // 1-3, 4 checkpoint, 5-6, 7 checkpoint (shutdown)
    {
        AuditLog log(dir_, key, signed_settings(3));
        EXPECT_EQ(log.checkpoint_status().seq, 7u);  // found again on start
        for (int i = 0; i < 2; ++i) log.append({{"event", "key.lookup"}, {"n", i}});
        log.rotate();  // 10 checkpoint (rotation); new file: 11 audit.rotate
        log.append({{"event", "key.lookup"}});  // 12
    }  // 13 checkpoint (shutdown)
    {
        // A crash before the shutdown checkpoint: the newest file has none of its own, and the
        // unsigned segment starts at the checkpoint closing the previous file.
        auto files = read_files();
        ASSERT_EQ(files.size(), 2u);
        files.back().lines.pop_back();
        write_files(files);
        AuditLog log(dir_, key, signed_settings(3));
        EXPECT_EQ(log.checkpoint_status().seq, 10u);
        log.append({{"event", "key.lookup"}});  // 13
    }  // 14 checkpoint (shutdown), from seq 10
    EXPECT_EQ(record_of(all_lines().back()).at("from_seq").as_int64(), 10);
    const auto report = verify_log(options(true, true, false));  // the copies hold the cut 13
    EXPECT_TRUE(report.ok) << keydesk::audit::describe(report);
    EXPECT_TRUE(report.notes.empty()) << keydesk::audit::describe(report);
    EXPECT_EQ(report.checkpoints, 4u);
    EXPECT_EQ(report.covered_seq + 1, report.last_seq);  // the log ends with a checkpoint
}

TEST_F(AuditLogTest, ALogStartedWithoutSigningIsSignedFromWhenTheKeyArrives) {
    {
        AuditLog log(dir_, key);
        log.append({{"event", "key.lookup"}});
        log.rotate();  // no key: a new file without a checkpoint
        log.append({{"event", "key.lookup"}});
        EXPECT_FALSE(log.checkpoint_status().signing);
        EXPECT_EQ(log.public_key_pem(), "");
    }
    {
        AuditLog log(dir_, key, signed_settings());
        log.append({{"event", "key.lookup"}});
    }
    const auto report = verify_log(options(true, true, false));
    EXPECT_TRUE(report.ok) << keydesk::audit::describe(report);
    EXPECT_EQ(report.checkpoints, 1u);
    ASSERT_EQ(report.notes.size(), 1u);
    EXPECT_NE(report.notes[0].find("record 1 is covered by no checkpoint"), std::string::npos)
        << report.notes[0];
}

TEST_F(AuditLogTest, CheckpointsEveryIntervalOnlyWithActivity) {
    auto settings = signed_settings();
    settings.checkpoint_interval = std::chrono::milliseconds(150);
    AuditLog log(dir_, key, settings);
    EXPECT_EQ(log.checkpoint_status().seq, 0u);
    log.append({{"event", "key.lookup"}});
    for (int i = 0; i < 100 && log.checkpoint_status().seq == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const auto status = log.checkpoint_status();
    EXPECT_EQ(status.seq, 2u);
    EXPECT_EQ(status.covers_seq, 1u);
    EXPECT_TRUE(status.signing);
    EXPECT_EQ(status.key_id.size(), 16u);
    // Idle: no new checkpoint without new records.
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    EXPECT_EQ(log.checkpoint_status().seq, 2u);
    EXPECT_EQ(record_of(checkpoint_lines().at(0)).at("reason").as_string(), "interval");
    // On request, only if something happened since.
    EXPECT_EQ(log.checkpoint(), 2u);
    log.append({{"event", "key.lookup"}});
    EXPECT_EQ(log.checkpoint(), 4u);
    EXPECT_EQ(log.public_key_pem(), public_pem_);
}

TEST_F(AuditLogTest, CloseWritesTheShutdownCheckpointOnceAndThenRefusesAppends) {
    AuditLog log(dir_, key, signed_settings());
    log.append({{"event", "service.stop"}});
    log.close();
    log.close();
    EXPECT_THROW(log.append({{"event", "key.lookup"}}), AuditUnavailable);
    const auto lines = all_lines();
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(record_of(lines[1]).at("reason").as_string(), "shutdown");
}

TEST_F(AuditLogTest, TheLogsOwnEventsCannotBeAppended) {
    AuditLog log(dir_, key, signed_settings());
    EXPECT_THROW(log.append({{"event", "audit.checkpoint"}}), std::invalid_argument);
    EXPECT_THROW(log.append({{"event", "audit.rotate"}}), std::invalid_argument);
    EXPECT_EQ(log.append({{"event", "key.lookup"}}), 1u);
}

TEST_F(AuditLogTest, RotatingAnEmptyFileDoesNothing) {
    AuditLog log(dir_, key, signed_settings());
    EXPECT_EQ(log.rotate(), 0u);
    EXPECT_TRUE(log.healthy());
    EXPECT_EQ(log.append({{"event", "key.lookup"}}), 1u);
    EXPECT_EQ(read_files().size(), 1u);
}

TEST_F(AuditLogTest, RotatesBySize) {
    auto settings = signed_settings(1000);
    settings.max_file_bytes = 1500;
    {
        AuditLog log(dir_, key, settings);
        for (int i = 0; i < 20; ++i) log.append({{"event", "key.lookup"}, {"n", i}});
    }
    const auto files = read_files();
    ASSERT_GE(files.size(), 3u);
    for (std::size_t i = 0; i < files.size(); ++i) {
        struct stat info {};
        ASSERT_EQ(::stat((dir_ / files[i].name).c_str(), &info), 0);
        EXPECT_EQ(info.st_mode & 0777, 0600u);
        const auto first_seq = *keydesk::audit::leading_seq(files[i].lines.front());
        char expected_name[64];
        std::snprintf(expected_name, sizeof expected_name, "audit-%020llu.jsonl",
                      static_cast<unsigned long long>(first_seq));
        EXPECT_EQ(files[i].name, expected_name);
        if (i == 0) continue;
        EXPECT_EQ(event_of(files[i - 1].lines.back()), "audit.checkpoint");  // closed with a checkpoint
        const auto first = record_of(files[i].lines.front());
        EXPECT_EQ(first.at("event").as_string(), "audit.rotate");
        EXPECT_EQ(first.at("reason").as_string(), "size");
        EXPECT_EQ(first.at("previous_file").as_string(), files[i - 1].name);
        EXPECT_EQ(first.at("previous_mac").as_string(), record_of(files[i - 1].lines.back()).at("mac").as_string());
    }
    const auto report = verify_log(options());
    EXPECT_TRUE(report.ok) << keydesk::audit::describe(report);
    EXPECT_EQ(report.files, files.size());
}

TEST_F(AuditLogTest, RotatesAtTheUtcDayBoundary) {
    auto settings = signed_settings();
    auto clock = std::make_shared<std::atomic<std::int64_t>>(1795737000);  // 2026-11-26T23:50:00Z
    settings.clock = [clock] {
        return std::chrono::system_clock::time_point(std::chrono::seconds(clock->load()));
    };
    {
        AuditLog log(dir_, key, settings);
        log.append({{"event", "key.lookup"}});
        log.append({{"event", "key.lookup"}});
        clock->fetch_add(3 * 3600);  // past midnight UTC
        log.append({{"event", "key.lookup"}});
    }
    const auto files = read_files();
    ASSERT_EQ(files.size(), 2u);
    EXPECT_TRUE(record_of(files[0].lines.front()).at("time").as_string().starts_with("2026-11-26"));
    const auto rotated = record_of(files[1].lines.front());
    EXPECT_EQ(rotated.at("reason").as_string(), "day");
    EXPECT_TRUE(rotated.at("time").as_string().starts_with("2026-11-27"));
    EXPECT_EQ(record_of(files[0].lines.back()).at("reason").as_string(), "rotation");

    // A restart the next day continues in a new file too.
    {
        clock->fetch_add(24 * 3600);
        AuditLog log(dir_, key, settings);
        log.append({{"event", "key.lookup"}});
    }
    EXPECT_EQ(read_files().size(), 3u);
    EXPECT_TRUE(verify_log(options()).ok);
}

TEST_F(AuditLogTest, ReopenContinuesOrStartsANewFileWhenTheOldOneWasMoved) {
    AuditLog log(dir_, key, signed_settings());
    log.append({{"event", "key.lookup"}});
    log.reopen();  // same file: a checkpoint, then the same path again
    log.append({{"event", "key.lookup"}});
    EXPECT_EQ(read_files().size(), 1u);
    EXPECT_EQ(record_of(all_lines().at(1)).at("reason").as_string(), "reopen");

    // An operator moved the file away (e.g. to archive it): a new file, linked to the old.
    const auto moved = aux_ / log.current_file().filename();
    std::filesystem::rename(log.current_file(), moved);
    log.reopen();
    EXPECT_EQ(log.append({{"event", "key.lookup"}}), 6u);
    ASSERT_EQ(read_files().size(), 1u);
    const auto first = record_of(read_files()[0].lines.front());
    EXPECT_EQ(first.at("event").as_string(), "audit.rotate");
    EXPECT_EQ(first.at("reason").as_string(), "reopen");
    EXPECT_EQ(first.at("previous_file").as_string(), moved.filename().string());
    log.close();
    std::filesystem::rename(moved, dir_ / moved.filename());
    const auto report = verify_log(options());
    EXPECT_TRUE(report.ok) << keydesk::audit::describe(report);
    EXPECT_EQ(report.records, 7u);
}

TEST_F(AuditLogTest, AnEmptyNewestFileContinuesTheChainFromTheFileBefore) {
    {
        AuditLog log(dir_, key, signed_settings());
        log.append({{"event", "key.lookup"}});
    }  // 1 record, 2 checkpoint
    // A crash right after a rotation created the next file, before its first write.
    { std::ofstream(dir_ / "audit-00000000000000000003.jsonl"); }
    {
        AuditLog log(dir_, key, signed_settings());
        ASSERT_EQ(log.warnings().size(), 1u);
        EXPECT_NE(log.warnings()[0].find("was empty"), std::string::npos);
        EXPECT_EQ(log.append({{"event", "key.lookup"}}), 4u);
    }
    const auto files = read_files();
    ASSERT_EQ(files.size(), 2u);
    const auto first = record_of(files[1].lines.front());
    EXPECT_EQ(first.at("event").as_string(), "audit.rotate");
    EXPECT_EQ(first.at("reason").as_string(), "resume");
    EXPECT_EQ(first.at("seq").as_int64(), 3);
    const auto report = verify_log(options());
    EXPECT_TRUE(report.ok) << keydesk::audit::describe(report);
}

TEST_F(AuditLogTest, RefusesAnUnusableSyslogTarget) {
    auto settings = signed_settings();
    settings.checkpoint_syslog = "syslog.example.com";
    EXPECT_THROW(AuditLog(dir_, key, settings), AuditUnavailable);
}

TEST(AuditSyslog, ParsesTargetsAndFormatsRfc5424) {
    using Kind = keydesk::audit::SyslogTarget::Kind;
    using keydesk::audit::parse_syslog_target;
    EXPECT_EQ(parse_syslog_target("").kind, Kind::none);
    EXPECT_EQ(parse_syslog_target("none").kind, Kind::none);
    const auto local = parse_syslog_target("auto");  // /dev/log if this host has it
    EXPECT_EQ(local.kind == Kind::unix_socket, std::filesystem::exists("/dev/log"));
    EXPECT_EQ(parse_syslog_target("unix:/run/log.sock").address, "/run/log.sock");
    const auto udp = parse_syslog_target("udp://127.0.0.1:514");
    EXPECT_EQ(udp.kind, Kind::udp);
    EXPECT_EQ(udp.port, "514");
    EXPECT_EQ(udp.text(), "udp://127.0.0.1:514");
    const auto v6 = parse_syslog_target("tcp://[::1]:6514");
    EXPECT_EQ(v6.kind, Kind::tcp);
    EXPECT_EQ(v6.address, "::1");
    EXPECT_EQ(v6.text(), "tcp://[::1]:6514");
    for (const char* bad : {"unix:relative", "udp://host", "udp://host:0", "udp://host:99999",
                            "http://host:80", "tcp://:514", "udp://::1:514"}) {
        EXPECT_THROW(parse_syslog_target(bad), std::invalid_argument) << bad;
    }
    const auto message = keydesk::audit::syslog_message("kd1", "2026-11-26T00:23:40.123Z", R"({"seq":5})");
    EXPECT_EQ(message, "<86>1 2026-11-26T00:23:40.123Z kd1 keydesk " + std::to_string(::getpid()) +
                           R"( audit.checkpoint - {"seq":5})");
}

namespace {

// A tiny syslog receiver: a bound datagram socket (UDP on loopback, or a unix socket).
class DatagramReceiver {
public:
    explicit DatagramReceiver(const std::filesystem::path& unix_path = {}) {
        if (unix_path.empty()) {
            fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            sockaddr_in address{};
            address.sin_family = AF_INET;
            address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
            socklen_t length = sizeof address;
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
            target_ = "udp://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
        } else {
            fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            sockaddr_un address{};
            address.sun_family = AF_UNIX;
            std::strncpy(address.sun_path, unix_path.c_str(), sizeof address.sun_path - 1);
            EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
            target_ = "unix:" + unix_path.string();
        }
        timeval timeout{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    }
    ~DatagramReceiver() { ::close(fd_); }

    const std::string& target() const { return target_; }

    std::string receive() {
        char buffer[65536];
        const auto got = ::recv(fd_, buffer, sizeof buffer, 0);
        return got > 0 ? std::string(buffer, static_cast<std::size_t>(got)) : "";
    }

private:
    int fd_ = -1;
    std::string target_;
};

}  // namespace

TEST_F(AuditLogTest, SendsEachCheckpointToAUdpSyslogReceiver) {
    DatagramReceiver receiver;
    auto settings = signed_settings(2);
    settings.checkpoint_syslog = receiver.target();
    settings.syslog_hostname = "kd-test";
    AuditLog log(dir_, key, settings);
    log.append({{"event", "key.lookup"}});
    log.append({{"event", "key.lookup"}});  // seq 3: a checkpoint
    const auto message = receiver.receive();
    ASSERT_FALSE(message.empty());
    EXPECT_TRUE(message.starts_with("<86>1 ")) << message;
    EXPECT_NE(message.find(" kd-test keydesk " + std::to_string(::getpid()) + " audit.checkpoint - {\"seq\":3,"),
              std::string::npos)
        << message;
    EXPECT_EQ(message.substr(message.find("{\"seq\"")), checkpoint_lines().at(0));
    ASSERT_TRUE(log.wait_for_deliveries(std::chrono::seconds(5)));
    const auto status = log.checkpoint_status();
    ASSERT_EQ(status.deliveries.size(), 2u);  // syslog and the second file
    EXPECT_EQ(status.deliveries[0].target, "syslog " + receiver.target());
    EXPECT_EQ(status.deliveries[0].delivered, 1u);
    EXPECT_EQ(status.deliveries[0].failed, 0u);
    EXPECT_EQ(status.deliveries[1].delivered, 1u);

    // What the receiver kept is what an auditor hands to verify.
    log.append({{"event", "key.lookup"}});  // 4, then 5: the shutdown checkpoint
    log.close();
    std::ofstream(aux_ / "received.log") << message << "\n" << receiver.receive() << "\n";
    auto from_syslog = options();
    from_syslog.checkpoint_files = {aux_ / "received.log"};
    const auto report = verify_log(from_syslog);
    EXPECT_TRUE(report.ok) << keydesk::audit::describe(report);
    EXPECT_EQ(report.external_checkpoints, 2u);  // seq 3 and the shutdown checkpoint
}

TEST_F(AuditLogTest, SendsEachCheckpointToAUnixDatagramSyslogReceiver) {
    DatagramReceiver receiver(aux_ / "log.sock");
    auto settings = signed_settings(1);
    settings.checkpoint_syslog = receiver.target();
    AuditLog log(dir_, key, settings);
    log.append({{"event", "key.lookup"}});
    const auto message = receiver.receive();
    EXPECT_NE(message.find("audit.checkpoint - {\"seq\":2,"), std::string::npos) << message;
    EXPECT_TRUE(log.wait_for_deliveries(std::chrono::seconds(5)));
    EXPECT_EQ(log.checkpoint_status().deliveries.at(0).delivered, 1u);
}

TEST_F(AuditLogTest, SendsOctetCountedFramesOverTcp) {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(::listen(listener, 4), 0);
    socklen_t length = sizeof address;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);

    auto settings = signed_settings(1);
    settings.checkpoint_syslog = "tcp://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
    {
        AuditLog log(dir_, key, settings);
        log.append({{"event", "key.lookup"}});
        log.append({{"event", "key.lookup"}});
        EXPECT_TRUE(log.wait_for_deliveries(std::chrono::seconds(5)));
        EXPECT_EQ(log.checkpoint_status().deliveries.at(0).delivered, 2u);
    }
    const int connection = ::accept(listener, nullptr, nullptr);
    ASSERT_GE(connection, 0);
    std::string received;
    char buffer[4096];
    for (ssize_t got; (got = ::recv(connection, buffer, sizeof buffer, 0)) > 0;) {
        received.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(connection);
    ::close(listener);
    // RFC 6587 octet counting: "<length> <message>" back to back.
    std::vector<std::string> messages;
    for (std::size_t at = 0; at < received.size();) {
        const auto space = received.find(' ', at);
        ASSERT_NE(space, std::string::npos);
        const auto size = std::stoul(received.substr(at, space - at));
        messages.push_back(received.substr(space + 1, size));
        at = space + 1 + size;
    }
    ASSERT_EQ(messages.size(), 2u) << received;
    EXPECT_TRUE(messages[1].starts_with("<86>1 ")) << messages[1];
    EXPECT_NE(messages[1].find("{\"seq\":4,"), std::string::npos) << messages[1];
}

TEST_F(AuditLogTest, DeliveryFailuresAreReportedNotFatal) {
    auto settings = signed_settings(1);
    settings.checkpoint_syslog = "unix:" + (aux_ / "nobody-listens.sock").string();
    auto failures = std::make_shared<std::atomic<int>>(0);
    settings.on_delivery_failure = [failures](std::string_view) { ++*failures; };
    AuditLog log(dir_, key, settings);
    EXPECT_EQ(log.append({{"event", "key.lookup"}}), 1u);
    EXPECT_EQ(log.append({{"event", "key.lookup"}}), 3u);
    ASSERT_TRUE(log.wait_for_deliveries(std::chrono::seconds(5)));
    EXPECT_TRUE(log.healthy());
    const auto status = log.checkpoint_status();
    EXPECT_EQ(status.deliveries.at(0).failed, 2u);
    EXPECT_NE(status.deliveries.at(0).last_error.find("nobody-listens.sock"), std::string::npos)
        << status.deliveries.at(0).last_error;
    EXPECT_FALSE(status.deliveries.at(0).last_error_time.empty());
    EXPECT_EQ(status.deliveries.at(1).delivered, 2u);  // the second file still got them
    EXPECT_EQ(failures->load(), 2);
}

TEST_F(AuditLogTest, AStuckTargetNeverHoldsUpAppendsOrShutdown) {
    // A syslog socket nobody reads: after max_dgram_qlen datagrams every send waits its timeout.
    DatagramReceiver receiver(aux_ / "stuck.sock");
    auto settings = signed_settings(1);
    settings.checkpoint_syslog = receiver.target();
    settings.send_queue_limit = 4;
    settings.send_timeout = std::chrono::milliseconds(200);
    const auto start = std::chrono::steady_clock::now();
    {
        AuditLog log(dir_, key, settings);
        for (int i = 0; i < 40; ++i) log.append({{"event", "key.lookup"}});
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
        EXPECT_FALSE(log.wait_for_deliveries(std::chrono::milliseconds(50)));
        EXPECT_GE(log.checkpoint_status().dropped, 1u);  // the queue stays bounded
    }
    // Shutdown waits for the sender at most its timeout, then leaves it behind.
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    EXPECT_TRUE(verify_log(options(true, true, false)).ok);
}

TEST_F(AuditLogTest, ACheckpointFileThatIsNotARegularFileIsRefusedNotWaitedOn) {
    ASSERT_EQ(::mkfifo((aux_ / "fifo").c_str(), 0600), 0);
    auto settings = signed_settings(1);
    settings.checkpoint_file = aux_ / "fifo";
    AuditLog log(dir_, key, settings);
    log.append({{"event", "key.lookup"}});
    ASSERT_TRUE(log.wait_for_deliveries(std::chrono::seconds(5)));
    const auto status = log.checkpoint_status();
    EXPECT_EQ(status.deliveries.at(0).failed, 1u);
    EXPECT_NE(status.deliveries.at(0).last_error.find("No such device"), std::string::npos)
        << status.deliveries.at(0).last_error;
}
