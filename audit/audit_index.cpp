// The SQLite index of the audit log. Two connections: one writer that follows the files, one
// reader for queries; WAL lets queries run while the writer catches up.
#include "audit/audit_index.hpp"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <regex>
#include <set>
#include <stdexcept>

#include <boost/json/parse.hpp>

#include "audit/audit_log.hpp"

namespace keydesk::audit {
namespace {

namespace json = boost::json;

// Bumped when the schema or what is extracted changes: an older index is rebuilt.
constexpr std::string_view schema_version = "2";
constexpr std::size_t max_filter_value = 256;
constexpr std::uint64_t batch_lines = 20000;

class IndexError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

void check(sqlite3* db, int code, std::string_view what) {
    if (code != SQLITE_OK && code != SQLITE_DONE && code != SQLITE_ROW) {
        throw IndexError(std::string(what) + ": " + sqlite3_errmsg(db));
    }
}

void exec(sqlite3* db, const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message ? message : "unknown error";
        sqlite3_free(message);
        throw IndexError(std::string("audit index: ") + text);
    }
}

// A prepared statement, finalized on scope exit.
class Statement {
public:
    Statement(sqlite3* db, std::string_view sql) : db_(db) {
        check(db, sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &statement_, nullptr),
              "audit index: prepare");
    }
    ~Statement() { sqlite3_finalize(statement_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, std::string_view text) {
        check(db_, sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()),
                                     SQLITE_TRANSIENT),
              "audit index: bind");
        return *this;
    }
    Statement& bind_or_null(int index, std::string_view text) {
        if (text.empty()) {
            check(db_, sqlite3_bind_null(statement_, index), "audit index: bind");
            return *this;
        }
        return bind(index, text);
    }
    Statement& bind(int index, std::int64_t value) {
        check(db_, sqlite3_bind_int64(statement_, index, value), "audit index: bind");
        return *this;
    }
    // True while there is a row.
    bool step() {
        const int code = sqlite3_step(statement_);
        check(db_, code, "audit index: step");
        return code == SQLITE_ROW;
    }
    void reset() {
        sqlite3_reset(statement_);
        sqlite3_clear_bindings(statement_);
    }
    std::string text(int column) const {
        const auto* value = sqlite3_column_text(statement_, column);
        return value ? std::string(reinterpret_cast<const char*>(value),
                                   static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)))
                     : std::string();
    }
    std::int64_t integer(int column) const { return sqlite3_column_int64(statement_, column); }
    int columns() const { return sqlite3_column_count(statement_); }

private:
    sqlite3* db_;
    sqlite3_stmt* statement_ = nullptr;
};

const char* const schema = R"sql(
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,
    indexed_bytes INTEGER NOT NULL, lines INTEGER NOT NULL,
    last_offset INTEGER NOT NULL, last_length INTEGER NOT NULL, last_digest TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records(
    seq INTEGER PRIMARY KEY, time TEXT NOT NULL, event TEXT NOT NULL,
    actor TEXT NOT NULL COLLATE NOCASE, outcome TEXT NOT NULL, client TEXT, computer TEXT,
    key_id TEXT, reason TEXT, reason_code TEXT, ticket TEXT, request_id TEXT,
    file_id INTEGER NOT NULL, line INTEGER NOT NULL, offset INTEGER NOT NULL,
    length INTEGER NOT NULL, digest TEXT NOT NULL);
-- Every computer and Key ID a record names (a lookup names many): what the filters match.
CREATE TABLE IF NOT EXISTS subjects(seq INTEGER NOT NULL, computer TEXT, key_id TEXT);
)sql";

const char* const secondary_indexes = R"sql(
CREATE INDEX IF NOT EXISTS records_time ON records(time);
CREATE INDEX IF NOT EXISTS records_actor ON records(actor, seq);
CREATE INDEX IF NOT EXISTS records_event ON records(event, seq);
CREATE INDEX IF NOT EXISTS records_ticket ON records(ticket, seq);
CREATE INDEX IF NOT EXISTS records_reason ON records(reason, seq);
CREATE INDEX IF NOT EXISTS subjects_computer ON subjects(computer, seq);
CREATE INDEX IF NOT EXISTS subjects_key ON subjects(key_id, seq);
)sql";

const char* const drop_everything = R"sql(
DROP INDEX IF EXISTS records_time; DROP INDEX IF EXISTS records_actor;
DROP INDEX IF EXISTS records_event; DROP INDEX IF EXISTS records_ticket;
DROP INDEX IF EXISTS records_reason; DROP INDEX IF EXISTS subjects_computer;
DROP INDEX IF EXISTS subjects_key;
DROP TABLE IF EXISTS subjects; DROP TABLE IF EXISTS records; DROP TABLE IF EXISTS files;
DROP TABLE IF EXISTS meta;
)sql";

constexpr std::string_view record_columns =
    "r.seq, r.time, r.event, r.actor, r.outcome, r.client, r.computer, r.key_id, "
    "coalesce(r.reason, r.reason_code), r.ticket, r.request_id, f.name, r.line, r.offset, "
    "r.length, r.digest";

IndexedRecord record_from(const Statement& row) {
    IndexedRecord record;
    record.seq = static_cast<std::uint64_t>(row.integer(0));
    record.time = row.text(1);
    record.event = row.text(2);
    record.actor = row.text(3);
    record.outcome = row.text(4);
    record.client = row.text(5);
    record.computer = row.text(6);
    record.key_id = row.text(7);
    record.reason = row.text(8);
    record.ticket = row.text(9);
    record.request_id = row.text(10);
    record.file = row.text(11);
    record.line = static_cast<std::uint64_t>(row.integer(12));
    record.offset = static_cast<std::uint64_t>(row.integer(13));
    record.length = static_cast<std::uint64_t>(row.integer(14));
    record.digest = row.text(15);
    return record;
}

std::string string_of(const json::object& object, std::string_view name) {
    const auto* value = object.if_contains(name);
    return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

std::string upper(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
}

// A Key ID (or typed prefix) as stored: upper-case hex digits only.
std::string key_hex(std::string_view text) {
    std::string hex;
    for (const char c : text) {
        if (std::isxdigit(static_cast<unsigned char>(c))) {
            hex += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
    }
    return hex;
}

// What the index keeps of one parsed record.
struct Extracted {
    std::string time, event, actor, outcome, client, computer, key_id, reason, reason_code, ticket,
        request_id;
    std::set<std::string> computers;
    std::set<std::string> key_ids;
};

Extracted extract(const json::object& record) {
    Extracted out;
    out.time = string_of(record, "time");
    out.event = string_of(record, "event");
    out.actor = string_of(record, "actor");
    out.outcome = string_of(record, "outcome");
    out.client = string_of(record, "client");
    out.reason = string_of(record, "reason");
    out.reason_code = string_of(record, "reason_code");
    out.ticket = string_of(record, "ticket");
    out.request_id = string_of(record, "request_id");
    out.computer = string_of(record, "computer");
    out.key_id = string_of(record, "key_id");
    const auto note = [&](const std::string& computer, const std::string& key_id) {
        if (!computer.empty()) out.computers.insert(upper(computer));
        if (const auto hex = key_hex(key_id); !hex.empty()) out.key_ids.insert(hex);
    };
    note(out.computer, out.key_id);
    if (const auto* query = record.if_contains("query"); query && query->is_object()) {
        const auto& object = query->get_object();
        const auto computer = string_of(object, "computer");
        const auto key_id = string_of(object, "key_id");
        if (out.computer.empty()) out.computer = computer;
        if (out.key_id.empty()) out.key_id = key_id;
        note(computer, key_id);
    }
    if (const auto* matches = record.if_contains("matches"); matches && matches->is_array()) {
        for (const auto& match : matches->get_array()) {
            if (!match.is_object()) continue;
            const auto computer = string_of(match.get_object(), "computer");
            const auto key_id = string_of(match.get_object(), "key_id");
            if (out.computer.empty()) out.computer = computer;
            if (out.key_id.empty()) out.key_id = key_id;
            note(computer, key_id);
        }
    }
    return out;
}

// The parts of the log the index has seen, per file.
struct FileState {
    std::int64_t id = 0;
    std::string name;
    std::uint64_t indexed_bytes = 0;
    std::uint64_t lines = 0;
    std::uint64_t last_offset = 0;
    std::uint64_t last_length = 0;
    std::string last_digest;
};

std::optional<std::string> pread_exact(int fd, std::uint64_t offset, std::uint64_t length) {
    std::string data(length, '\0');
    std::size_t done = 0;
    while (done < length) {
        const auto n = ::pread(fd, data.data() + done, length - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return std::nullopt;
        done += static_cast<std::size_t>(n);
    }
    return data;
}

// What the index keeps to recognise a line: the first 128 bits of its SHA-256, in hex. A line
// read back is the indexed one only if its digest is the same (any edit shows, not only one
// that changes the length or the mac).
std::string line_digest(std::string_view line) {
    unsigned char hash[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(line.data()), line.size(), hash);
    static constexpr char hex[] = "0123456789abcdef";
    std::string text;
    for (std::size_t i = 0; i < 16; ++i) {
        text += hex[hash[i] >> 4];
        text += hex[hash[i] & 0x0F];
    }
    return text;
}

}  // namespace

IndexedRecord summarize_record(const boost::json::object& record) {
    const auto fields = extract(record);
    IndexedRecord summary;
    if (const auto* seq = record.if_contains("seq"); seq && seq->is_uint64()) summary.seq = seq->get_uint64();
    if (const auto* seq = record.if_contains("seq"); seq && seq->is_int64() && seq->get_int64() > 0) {
        summary.seq = static_cast<std::uint64_t>(seq->get_int64());
    }
    summary.time = fields.time;
    summary.event = fields.event;
    summary.actor = fields.actor;
    summary.outcome = fields.outcome;
    summary.client = fields.client;
    summary.computer = fields.computer;
    summary.key_id = fields.key_id;
    summary.reason = fields.reason.empty() ? fields.reason_code : fields.reason;
    summary.ticket = fields.ticket;
    summary.request_id = fields.request_id;
    return summary;
}

// ---------------------------------------------------------------------------------------------
// Filters

boost::json::object AuditFilter::to_json() const {
    json::object out;
    const std::array<std::pair<std::string_view, const std::string*>, 9> members{{
        {"from", &from}, {"to", &to}, {"actor", &actor}, {"computer", &computer},
        {"key_id", &key_id}, {"event", &event}, {"outcome", &outcome}, {"reason", &reason},
        {"ticket", &ticket},
    }};
    for (const auto& [name, value] : members) {
        if (!value->empty()) out[name] = *value;
    }
    return out;
}

std::optional<std::string> normalize_time(std::string_view text, bool end_of_day) {
    static const std::regex form(
        R"(^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?Z?)?$)");
    std::cmatch match;
    if (text.size() > 40 || !std::regex_match(text.begin(), text.end(), match, form)) return std::nullopt;
    const int year = std::stoi(match[1].str());
    const unsigned month = static_cast<unsigned>(std::stoi(match[2].str()));
    const unsigned day = static_cast<unsigned>(std::stoi(match[3].str()));
    std::chrono::year_month_day date{std::chrono::year{year}, std::chrono::month{month},
                                     std::chrono::day{day}};
    if (!date.ok()) return std::nullopt;
    const bool has_time = match[4].matched;
    const int hour = has_time ? std::stoi(match[4].str()) : 0;
    const int minute = has_time ? std::stoi(match[5].str()) : 0;
    const int second = match[6].matched ? std::stoi(match[6].str()) : 0;
    if (hour > 23 || minute > 59 || second > 59) return std::nullopt;
    std::string millis = match[7].matched ? match[7].str() : "";
    millis.resize(3, '0');
    if (!has_time && end_of_day) date = std::chrono::sys_days(date) + std::chrono::days(1);
    if (static_cast<int>(date.year()) > 9999) return std::nullopt;
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%sZ",
                  static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                  static_cast<unsigned>(date.day()), hour, minute, second, millis.c_str());
    return std::string(buffer);
}

std::optional<AuditFilter> parse_filter(const std::vector<std::pair<std::string, std::string>>& params,
                                        const std::vector<std::string_view>& also_allowed,
                                        std::string& problem) {
    AuditFilter filter;
    std::set<std::string> seen;
    for (const auto& [name, value] : params) {
        if (std::find(also_allowed.begin(), also_allowed.end(), name) != also_allowed.end()) continue;
        if (!seen.insert(name).second) {
            problem = name + ": given more than once";
            return std::nullopt;
        }
        if (value.size() > max_filter_value) {
            problem = name + ": longer than 256 characters";
            return std::nullopt;
        }
        if (value.empty()) continue;
        const bool printable = std::all_of(value.begin(), value.end(), [](char c) {
            return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
        });
        if (!printable) {
            problem = name + ": control characters are not allowed";
            return std::nullopt;
        }
        if (name == "from" || name == "to") {
            const auto time = normalize_time(value, name == "to");
            if (!time) {
                problem = name + ": expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.mmm]][Z] (UTC)";
                return std::nullopt;
            }
            (name == "from" ? filter.from : filter.to) = *time;
        } else if (name == "key_id") {
            const bool valid = std::all_of(value.begin(), value.end(), [](char c) {
                return std::isxdigit(static_cast<unsigned char>(c)) || c == '-' || c == '{' || c == '}';
            });
            filter.key_id = key_hex(value);
            if (!valid || filter.key_id.empty() || filter.key_id.size() > 32) {
                problem = "key_id: expected 1 to 32 hexadecimal digits (dashes allowed)";
                return std::nullopt;
            }
        } else if (name == "computer") {
            filter.computer = upper(value);
        } else if (name == "actor") {
            filter.actor = value;
        } else if (name == "event") {
            const bool valid = std::all_of(value.begin(), value.end(), [](char c) {
                return std::islower(static_cast<unsigned char>(c)) || c == '.' || c == '_';
            });
            if (!valid) {
                problem = "event: expected an event name such as key.reveal";
                return std::nullopt;
            }
            filter.event = value;
        } else if (name == "outcome") {
            static const std::array outcomes{"success", "denied", "not_found", "invalid", "error"};
            if (std::find(outcomes.begin(), outcomes.end(), value) == outcomes.end()) {
                problem = "outcome: expected success, denied, not_found, invalid or error";
                return std::nullopt;
            }
            filter.outcome = value;
        } else if (name == "reason") {
            filter.reason = value;
        } else if (name == "ticket") {
            filter.ticket = value;
        } else {
            problem = "unknown parameter: " + name.substr(0, 64);
            return std::nullopt;
        }
    }
    if (!filter.from.empty() && !filter.to.empty() && filter.from >= filter.to) {
        problem = "from: must be before to";
        return std::nullopt;
    }
    return filter;
}

// ---------------------------------------------------------------------------------------------
// Reading lines back

LineReader::~LineReader() {
    if (fd_ >= 0) ::close(fd_);
}

std::optional<std::string> LineReader::read(const IndexedRecord& record) {
    if (record.file != open_name_ || fd_ < 0) {
        if (fd_ >= 0) ::close(fd_);
        open_name_ = record.file;
        fd_ = ::open((directory_ / record.file).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) return std::nullopt;
    }
    auto line = pread_exact(fd_, record.offset, record.length);
    if (!line || line_digest(*line) != record.digest) return std::nullopt;
    return line;
}

// ---------------------------------------------------------------------------------------------
// The index

AuditIndex::AuditIndex(std::filesystem::path log_directory, std::filesystem::path index_file)
    : log_directory_(std::move(log_directory)), index_file_(std::move(index_file)) {
    try {
        open_database();
    } catch (const IndexError&) {
        // Whatever is there is not a usable index: it is derived data, so start again.
        if (writer_) sqlite3_close(writer_);
        if (reader_) sqlite3_close(reader_);
        writer_ = reader_ = nullptr;
        for (const auto* suffix : {"", "-wal", "-shm", "-journal"}) {
            std::error_code ignored;
            std::filesystem::remove(index_file_.string() + suffix, ignored);
        }
        open_database();
    }
}

AuditIndex::~AuditIndex() {
    sqlite3_close(reader_);
    sqlite3_close(writer_);
}

void AuditIndex::open_database() {
    const auto open = [&](sqlite3*& db, int flags) {
        if (sqlite3_open_v2(index_file_.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
            throw IndexError("audit index: cannot open " + index_file_.string() + ": " +
                             (db ? sqlite3_errmsg(db) : "out of memory"));
        }
        sqlite3_busy_timeout(db, 10000);  // `keydesk audit export` may share the file
    };
    const auto old_mask = ::umask(077);  // the index holds what the log holds: owner only
    try {
        std::error_code ignored;  // (a failure shows when the file cannot be opened)
        if (index_file_.has_parent_path()) std::filesystem::create_directories(index_file_.parent_path(), ignored);
        open(writer_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    } catch (...) {
        ::umask(old_mask);
        throw;
    }
    ::umask(old_mask);
    ::chmod(index_file_.c_str(), 0600);
    exec(writer_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;");
    // An index of another schema version is dropped and rebuilt.
    bool current = false;
    {
        Statement has_meta(writer_, "SELECT count(*) FROM sqlite_master WHERE name='meta'");
        if (has_meta.step() && has_meta.integer(0) == 1) {
            Statement version(writer_, "SELECT value FROM meta WHERE name='schema_version'");
            current = version.step() && version.text(0) == schema_version;
        }
    }
    if (!current) exec(writer_, drop_everything);
    exec(writer_, schema);
    exec(writer_, secondary_indexes);
    Statement set_version(writer_, "INSERT OR REPLACE INTO meta VALUES('schema_version', ?)");
    set_version.bind(1, schema_version).step();
    open(reader_, SQLITE_OPEN_READONLY);
    Statement newest(writer_, "SELECT coalesce(max(seq), 0) FROM records");
    newest.step();
    indexed_seq_ = static_cast<std::uint64_t>(newest.integer(0));
}

std::uint64_t AuditIndex::refresh() {
    std::unique_lock lock(write_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return indexed_seq_;
    return catch_up();
}

std::uint64_t AuditIndex::refresh_and_wait() {
    std::lock_guard lock(write_mutex_);
    return catch_up();
}

// Follows the files from where the index left off. Called with write_mutex_ held.
std::uint64_t AuditIndex::catch_up() {
    const auto files = log_files(log_directory_);
    std::vector<FileState> known;
    {
        Statement select(writer_, "SELECT id, name, indexed_bytes, lines, last_offset, last_length, "
                                  "last_digest FROM files ORDER BY name");
        while (select.step()) {
            known.push_back({select.integer(0), select.text(1),
                             static_cast<std::uint64_t>(select.integer(2)),
                             static_cast<std::uint64_t>(select.integer(3)),
                             static_cast<std::uint64_t>(select.integer(4)),
                             static_cast<std::uint64_t>(select.integer(5)), select.text(6)});
        }
    }

    // The index still describes these files if every file it knows is still there, in the same
    // order and at least as long, and the last record it read from the newest one is unchanged.
    bool matches = !stale_.exchange(false) && known.size() <= files.size();
    for (std::size_t i = 0; matches && i < known.size(); ++i) {
        std::error_code error;
        const auto size = std::filesystem::file_size(files[i], error);
        matches = files[i].filename() == known[i].name && !error && size >= known[i].indexed_bytes;
    }
    if (matches && !known.empty()) {
        const auto& newest = known.back();
        struct stat info {};
        const int fd = ::open(files[known.size() - 1].c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || ::fstat(fd, &info) != 0 ||
            static_cast<std::uint64_t>(info.st_size) < newest.indexed_bytes) {
            matches = false;
        } else if (newest.lines > 0) {
            const auto line = pread_exact(fd, newest.last_offset, newest.last_length);
            matches = line && line_digest(*line) == newest.last_digest;
        }
        if (fd >= 0) ::close(fd);
    }
    if (!matches) {
        exec(writer_, "BEGIN; DELETE FROM subjects; DELETE FROM records; DELETE FROM files; COMMIT;");
        known.clear();
        indexed_seq_ = 0;
        ++rebuilds_;
    }
    const bool bulk = known.empty() && !files.empty();
    if (bulk) {
        // Loading from scratch is faster without the secondary indexes; they are made at the end.
        exec(writer_, "DROP INDEX IF EXISTS records_time; DROP INDEX IF EXISTS records_actor; "
                      "DROP INDEX IF EXISTS records_event; DROP INDEX IF EXISTS records_ticket; "
                      "DROP INDEX IF EXISTS records_reason; DROP INDEX IF EXISTS subjects_computer; "
                      "DROP INDEX IF EXISTS subjects_key;");
    }

    Statement insert_record(writer_,
                            "INSERT OR REPLACE INTO records VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    Statement insert_subject(writer_, "INSERT INTO subjects VALUES(?,?,?)");
    Statement insert_file(writer_, "INSERT INTO files(name, indexed_bytes, lines, last_offset, "
                                   "last_length, last_digest) VALUES(?,0,0,0,0,'')");
    Statement update_file(writer_, "UPDATE files SET indexed_bytes=?, lines=?, last_offset=?, "
                                   "last_length=?, last_digest=? WHERE id=?");

    std::uint64_t in_transaction = 0;
    const auto commit = [&] {
        if (in_transaction == 0) return;
        exec(writer_, "COMMIT");
        in_transaction = 0;
    };

    for (std::size_t i = known.empty() ? 0 : known.size() - 1; i < files.size(); ++i) {
        FileState state;
        if (i < known.size()) {
            state = known[i];
        } else {
            insert_file.bind(1, files[i].filename().string());
            insert_file.step();
            insert_file.reset();
            state.id = sqlite3_last_insert_rowid(writer_);
            state.name = files[i].filename().string();
        }
        const int fd = ::open(files[i].c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) break;
        std::string pending;  // bytes read but not yet ending in "\n"
        std::uint64_t offset = state.indexed_bytes;
        std::array<char, 1 << 20> chunk;
        while (true) {
            const auto n = ::pread(fd, chunk.data(), chunk.size(), static_cast<off_t>(offset + pending.size()));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            pending.append(chunk.data(), static_cast<std::size_t>(n));
            std::size_t start = 0;
            for (std::size_t end; (end = pending.find('\n', start)) != std::string::npos; start = end + 1) {
                const std::string_view line(pending.data() + start, end - start);
                const auto line_offset = offset + start;
                ++state.lines;
                boost::system::error_code error;
                auto value = json::parse(line, error);
                const auto* object = !error && value.is_object() ? &value.get_object() : nullptr;
                const auto* seq = object ? object->if_contains("seq") : nullptr;
                const auto mac = object ? string_of(*object, "mac") : std::string();
                // Not a sealed record: left to `audit verify` to report; the index skips it.
                if (!seq || (!seq->is_uint64() && !seq->is_int64()) || mac.empty()) continue;
                const auto seq_value = seq->to_number<std::int64_t>();
                const auto fields = extract(*object);
                if (in_transaction == 0) exec(writer_, "BEGIN");
                ++in_transaction;
                insert_record.bind(1, seq_value)
                    .bind(2, fields.time)
                    .bind(3, fields.event)
                    .bind(4, fields.actor)
                    .bind(5, fields.outcome)
                    .bind_or_null(6, fields.client)
                    .bind_or_null(7, fields.computer)
                    .bind_or_null(8, fields.key_id)
                    .bind_or_null(9, fields.reason)
                    .bind_or_null(10, fields.reason_code)
                    .bind_or_null(11, fields.ticket)
                    .bind_or_null(12, fields.request_id)
                    .bind(13, state.id)
                    .bind(14, static_cast<std::int64_t>(state.lines))
                    .bind(15, static_cast<std::int64_t>(line_offset))
                    .bind(16, static_cast<std::int64_t>(line.size()))
                    .bind(17, line_digest(line));
                insert_record.step();
                insert_record.reset();
                for (const auto& computer : fields.computers) {
                    insert_subject.bind(1, seq_value).bind(2, computer).bind_or_null(3, "");
                    insert_subject.step();
                    insert_subject.reset();
                }
                for (const auto& key_id : fields.key_ids) {
                    insert_subject.bind(1, seq_value).bind_or_null(2, "").bind(3, key_id);
                    insert_subject.step();
                    insert_subject.reset();
                }
                state.last_offset = line_offset;
                state.last_length = line.size();
                state.last_digest = line_digest(line);
                indexed_seq_ = std::max<std::uint64_t>(indexed_seq_, static_cast<std::uint64_t>(seq_value));
            }
            offset += start;
            pending.erase(0, start);
            state.indexed_bytes = offset;
            if (in_transaction > 0) {
                update_file.bind(1, static_cast<std::int64_t>(state.indexed_bytes))
                    .bind(2, static_cast<std::int64_t>(state.lines))
                    .bind(3, static_cast<std::int64_t>(state.last_offset))
                    .bind(4, static_cast<std::int64_t>(state.last_length))
                    .bind(5, state.last_digest)
                    .bind(6, state.id);
                update_file.step();
                update_file.reset();
            }
            if (in_transaction >= batch_lines) commit();
        }
        ::close(fd);
        commit();
    }
    commit();
    exec(writer_, secondary_indexes);
    // The query planner's statistics, again whenever the index has doubled since they were made.
    if (bulk || indexed_seq_ >= 2 * analyzed_at_) {
        exec(writer_, "ANALYZE");
        analyzed_at_ = std::max<std::uint64_t>(indexed_seq_, 1000);
    }
    return indexed_seq_;
}

std::vector<IndexedRecord> AuditIndex::select_records(const AuditFilter& filter, std::uint64_t lowest,
                                                      std::uint64_t highest, std::string_view order,
                                                      unsigned limit) {
    // order "" -> the count of matching records, as one row holding only seq. A count needs no
    // file name, and without the join SQLite counts from an index alone.
    const bool counting = order.empty();
    std::string sql = counting ? "SELECT count(*) FROM records r WHERE r.seq BETWEEN ? AND ?"
                               : "SELECT " + std::string(record_columns) +
                                     " FROM records r JOIN files f ON f.id = r.file_id"
                                     " WHERE r.seq BETWEEN ? AND ?";
    std::vector<std::string> values;
    const auto add = [&](std::string_view condition, std::initializer_list<std::string> parameters) {
        sql += " AND ";
        sql += condition;
        for (const auto& parameter : parameters) values.push_back(parameter);
    };
    if (!filter.from.empty()) add("r.time >= ?", {filter.from});
    if (!filter.to.empty()) add("r.time < ?", {filter.to});
    if (!filter.actor.empty()) add("r.actor = ?", {filter.actor});
    if (!filter.event.empty()) add("r.event = ?", {filter.event});
    if (!filter.outcome.empty()) add("r.outcome = ?", {filter.outcome});
    if (!filter.reason.empty()) add("(r.reason = ? OR r.reason_code = ?)", {filter.reason, filter.reason});
    if (!filter.ticket.empty()) add("r.ticket = ?", {filter.ticket});
    if (!filter.computer.empty()) {
        add("r.seq IN (SELECT seq FROM subjects WHERE computer = ?)", {filter.computer});
    }
    if (!filter.key_id.empty()) {
        // A prefix as a range: every hex continuation of P sorts below P followed by "G".
        add("r.seq IN (SELECT seq FROM subjects WHERE key_id >= ? AND key_id < ?)",
            {filter.key_id, filter.key_id + "G"});
    }
    if (!counting) {
        sql += " ORDER BY r.seq ";
        sql += order;
        sql += " LIMIT ?";
    }

    std::lock_guard lock(read_mutex_);
    // Times follow seq (the log never lets them go backwards), so a time range narrows the one
    // seq range SQLite walks by rowid (two upper bounds would make it walk from the newest).
    const auto first_at_or_after = [&](const std::string& time) -> std::optional<std::uint64_t> {
        Statement first(reader_, "SELECT seq FROM records WHERE time >= ? ORDER BY time, seq LIMIT 1");
        first.bind(1, time);
        if (first.step()) return static_cast<std::uint64_t>(first.integer(0));
        return std::nullopt;
    };
    std::vector<IndexedRecord> records;
    const auto empty = [&] {
        if (counting) records.emplace_back().seq = 0;
        return records;
    };
    if (!filter.from.empty()) {
        const auto first = first_at_or_after(filter.from);
        if (!first) return empty();
        lowest = std::max(lowest, *first);
    }
    if (!filter.to.empty()) {
        if (const auto first = first_at_or_after(filter.to)) {
            if (*first == 0) return empty();
            highest = std::min(highest, *first - 1);
        }
    }
    highest = std::min<std::uint64_t>(highest, INT64_MAX);
    if (lowest > highest) return empty();

    Statement statement(reader_, sql);
    statement.bind(1, static_cast<std::int64_t>(lowest));
    statement.bind(2, static_cast<std::int64_t>(highest));
    int index = 3;
    for (const auto& value : values) statement.bind(index++, value);
    if (counting) {
        statement.step();
        records.emplace_back().seq = static_cast<std::uint64_t>(statement.integer(0));
        return records;
    }
    statement.bind(index, static_cast<std::int64_t>(limit));
    while (statement.step()) records.push_back(record_from(statement));
    return records;
}

std::vector<IndexedRecord> AuditIndex::newest(const AuditFilter& filter, std::uint64_t before,
                                              unsigned limit) {
    return select_records(filter, 0, before == 0 ? INT64_MAX : before - 1, "DESC", limit);
}

std::vector<IndexedRecord> AuditIndex::oldest(const AuditFilter& filter, std::uint64_t after,
                                              std::uint64_t up_to, unsigned limit) {
    return select_records(filter, after + 1, up_to, "ASC", limit);
}

std::uint64_t AuditIndex::count(const AuditFilter& filter, std::uint64_t up_to) {
    // The same conditions as oldest(), so the count is of exactly the records it streams.
    return select_records(filter, 0, up_to, "", 0).front().seq;
}

std::optional<IndexedRecord> AuditIndex::find(std::uint64_t seq) {
    std::lock_guard lock(read_mutex_);
    Statement statement(reader_, "SELECT " + std::string(record_columns) +
                                     " FROM records r JOIN files f ON f.id = r.file_id WHERE r.seq = ?");
    statement.bind(1, static_cast<std::int64_t>(seq));
    if (!statement.step()) return std::nullopt;
    return record_from(statement);
}

std::optional<std::string> AuditIndex::read_line(std::uint64_t seq) {
    const auto record = find(seq);
    if (!record) return std::nullopt;
    LineReader reader(log_directory_);
    return read_line(reader, *record);
}

std::optional<std::string> AuditIndex::read_line(LineReader& reader, const IndexedRecord& record) {
    auto line = reader.read(record);
    if (!line) stale_ = true;
    return line;
}

std::optional<std::uint64_t> AuditIndex::covering_checkpoint(std::uint64_t seq) {
    std::lock_guard lock(read_mutex_);
    Statement statement(reader_, "SELECT seq FROM records WHERE event = 'audit.checkpoint' AND seq > ? "
                                 "ORDER BY seq LIMIT 1");
    statement.bind(1, static_cast<std::int64_t>(seq));
    if (!statement.step()) return std::nullopt;
    return static_cast<std::uint64_t>(statement.integer(0));
}

void AuditIndex::select(std::string_view sql, const std::vector<std::string>& parameters,
                        const std::function<void(const std::vector<std::string>&)>& row) {
    std::lock_guard lock(read_mutex_);
    Statement statement(reader_, sql);
    int index = 1;
    for (const auto& parameter : parameters) statement.bind(index++, parameter);
    std::vector<std::string> columns;
    while (statement.step()) {
        columns.clear();
        for (int column = 0; column < statement.columns(); ++column) columns.push_back(statement.text(column));
        row(columns);
    }
}

}  // namespace keydesk::audit
