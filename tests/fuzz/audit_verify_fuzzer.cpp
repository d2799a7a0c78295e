// The audit verifier against edits of a valid log.
//
// At start-up AuditLog writes a small valid log (two files: a rotation in between) under
// /dev/shm. Each input is one edit of one of its files:
//   byte 0      low 2 bits: 0 overwrite, 1 insert, 2 delete, 3 flip one bit; the rest: which file
//   bytes 1-4   offset, little-endian, modulo the file's size (+1 for overwrite and insert)
//   bytes 5-    overwrite/insert: the new bytes; delete: bytes 5-6 give the length;
//               flip: byte 5 picks the bit
// then verify_log(directory, key) runs on the edited copy.
//
// Properties: it never crashes; an unchanged log verifies; a changed one never does (any changed
// byte is reported), with a damage kind and a problem text. One exception, by design of an HMAC
// chain without checkpoints: cutting whole records off the end of the newest file is not
// detectable from the log alone (the checkpoints and their off-host copies exist for that).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "audit/audit_log.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

namespace fs = std::filesystem;

const std::string hmac_key = "keydesk-fuzz-audit-key-0123456789abcdef0123456789abcdef";

struct LogFile {
    std::string name;
    std::string original;
};

std::string read_all(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_all(const fs::path& path, const std::string& content) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0, path.string());
    std::size_t done = 0;
    while (done < content.size()) {
        const auto wrote = ::write(fd, content.data() + done, content.size() - done);
        FUZZ_CHECK(wrote > 0, path.string());
        done += static_cast<std::size_t>(wrote);
    }
    ::close(fd);
}

fs::path scratch_root() {
    static const fs::path root = keydesk::fuzz::scratch_dir("keydesk-fuzz-audit");
    return root;
}

void remove_scratch() {
    std::error_code ignored;
    fs::remove_all(scratch_root(), ignored);
}

struct Fixture {
    fs::path work;
    std::vector<LogFile> files;
    std::size_t dirty = 0;  // the file of `work` that may differ from its original
    bool any_dirty = false;

    Fixture() {
        const auto root = scratch_root();
        std::error_code ignored;
        fs::remove_all(root, ignored);
        const auto original = root / "original";
        work = root / "work";
        fs::create_directories(original);
        fs::create_directories(work);
        std::atexit(remove_scratch);

        {
            keydesk::audit::AuditLog log(original, hmac_key);
            // Records shaped like keydesk's own, with the escapes a JSON writer may produce.
            auto record = [](std::string event, std::string actor) {
                boost::json::object fields;
                fields["event"] = event;
                fields["actor"] = actor;
                fields["client"] = "192.0.2.10";
                fields["request_id"] = "0123456789abcdef";
                fields["outcome"] = "success";
                return fields;
            };
            log.append(record("session.login", "alice"));
            auto lookup = record("key.lookup", "alice");
            lookup["query"] = boost::json::object{{"key_id", "063EA4E1"}};
            lookup["matches"] = boost::json::array{boost::json::object{
                {"key_id", "063EA4E1-220C-4293-BA01-4754620A96E7"}, {"computer", "PC-0042"}}};
            lookup["truncated"] = false;
            log.append(std::move(lookup));
            log.rotate();
            auto reveal = record("key.reveal", "CORP\\bob \"the builder\"");
            reveal["reason"] = "lost_pin";
            reveal["reason_text"] = "caf\xc3\xa9 \xe2\x82\xac \x01 tab\there";
            reveal["computer_dn"] = "CN=PC-0042,OU=Laptops,DC=corp,DC=example,DC=com";
            log.append(std::move(reveal));
            log.append(record("session.logout", "bob"));
        }

        for (const auto& path : keydesk::audit::log_files(original)) {
            files.push_back({path.filename().string(), read_all(path)});
            write_all(work / path.filename(), files.back().original);
        }
        const auto report = keydesk::audit::verify_log(work, hmac_key);
        FUZZ_CHECK(report.ok,
                   "the fixture log does not verify: " + keydesk::audit::describe(report));
        FUZZ_CHECK(files.size() >= 2, "expected a rotated log");
    }
};

std::uint32_t little_endian(const std::uint8_t* data) {
    return data[0] | (data[1] << 8) | (data[2] << 16) | (static_cast<std::uint32_t>(data[3]) << 24);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Fixture fixture;
    if (size < 5) return 0;

    const unsigned mode = data[0] & 3u;
    const std::size_t index = (data[0] >> 2) % fixture.files.size();
    const auto& file = fixture.files[index];
    const std::string& original = file.original;
    const std::uint32_t raw_offset = little_endian(data + 1);
    const std::string_view payload(reinterpret_cast<const char*>(data) + 5, size - 5);

    std::string edited = original;
    switch (mode) {
        case 0: {  // overwrite, growing the file if it runs past the end
            const std::size_t offset = raw_offset % (original.size() + 1);
            if (edited.size() < offset + payload.size()) edited.resize(offset + payload.size());
            std::copy(payload.begin(), payload.end(),
                      edited.begin() + static_cast<std::ptrdiff_t>(offset));
            break;
        }
        case 1: {  // insert
            const std::size_t offset = raw_offset % (original.size() + 1);
            edited.insert(offset, payload);
            break;
        }
        case 2: {  // delete
            if (original.empty()) return 0;
            const std::size_t offset = raw_offset % original.size();
            const std::size_t wanted = payload.size() >= 2
                                           ? (static_cast<unsigned char>(payload[0]) |
                                              (static_cast<unsigned char>(payload[1]) << 8))
                                           : 1;
            edited.erase(offset, 1 + wanted % (original.size() - offset));
            break;
        }
        case 3: {  // flip one bit
            if (original.empty()) return 0;
            const std::size_t offset = raw_offset % original.size();
            const unsigned bit = payload.empty() ? 0 : static_cast<unsigned char>(payload[0]) % 8;
            edited[offset] = static_cast<char>(edited[offset] ^ (1 << bit));
            break;
        }
    }

    // Put back the file the previous input changed, then write this one's edit.
    if (fixture.any_dirty && fixture.dirty != index) {
        const auto& previous = fixture.files[fixture.dirty];
        write_all(fixture.work / previous.name, previous.original);
    }
    write_all(fixture.work / file.name, edited);
    fixture.dirty = index;
    fixture.any_dirty = true;

    const auto report = keydesk::audit::verify_log(fixture.work, hmac_key);
    const auto text = keydesk::audit::describe(report);
    FUZZ_CHECK(!text.empty(), "");
    (void)boost::json::serialize(keydesk::audit::to_json(report));

    if (edited == original) {
        FUZZ_CHECK(report.ok, text);
        return 0;
    }
    const bool newest = index + 1 == fixture.files.size();
    const bool cut_whole_records = edited.size() < original.size() &&
                                   original.starts_with(edited) &&
                                   (edited.empty() || edited.back() == '\n');
    if (newest && cut_whole_records) return 0;  // undetectable without checkpoints: see above
    FUZZ_CHECK(!report.ok, "an edit of " + file.name + " went unreported:\n" + edited);
    FUZZ_CHECK(report.damage != keydesk::audit::Damage::none && !report.problem.empty(), text);
    return 0;
}
