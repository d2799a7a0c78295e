// audit_bench: the audit trail at scale, measured on the library (keydesk_audit), not the server.
// Prints figures, not pass/fail: append rate with group commit (T concurrent appenders), the time
// to build a 1,000,000-record log, verify_log's rate, the SQLite index's build and incremental
// refresh, and the latency of the auditor's filters (newest 50), count(), and a 7-day CSV export.
// Progress goes to stderr; one table goes to stdout at the end. See README.md ("Audit trail").
//
//   audit_bench [--quick|--full] [--dir DIR] [--records N] [--seconds S] [--threads 1,4,16,64]
//               [--build-threads N] [--runs N] [--index auto|shipped|seq-index] [--rebuild]
//               [--skip-append]
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <latch>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>

#include <boost/json.hpp>

#include "audit/audit_index.hpp"
#include "audit/audit_log.hpp"
#include "audit/export.hpp"
#include "audit/signing.hpp"
#include "tests/bench/bench_common.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
namespace audit = keydesk::audit;
using keydesk::bench::Clock;
using keydesk::bench::summarize;
using keydesk::bench::Summary;

namespace {

constexpr double target_ms = 300.0;  // the auditor's filters at 1M records, p50, on 2 cores
constexpr int history_days = 90;

// ---------------------------------------------------------------------------------------------
// Small helpers

void progress(const char* format, ...) {
    static std::mutex mutex;
    std::lock_guard lock(mutex);
    const auto now = std::chrono::system_clock::now();
    const auto t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::fprintf(stderr, "[%02d:%02d:%02d] ", tm.tm_hour, tm.tm_min, tm.tm_sec);
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
    std::fputc('\n', stderr);
}

std::string format(const char* format, ...) {
    char buffer[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(buffer, sizeof buffer, format, args);
    va_end(args);
    return buffer;
}

// 1234567 -> "1,234,567"
std::string grouped(std::uint64_t value) {
    const auto digits = std::to_string(value);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

double ms_since(Clock::time_point start) { return seconds_since(start) * 1000.0; }

std::string read_text(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

void write_text(const fs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + file.string());
}

// A member of /proc/self/status in kB ("VmHWM", "VmRSS"); 0 if absent.
std::uint64_t status_kb(std::string_view name) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with(name) && line.size() > name.size() && line[name.size()] == ':') {
            return std::strtoull(line.c_str() + name.size() + 1, nullptr, 10);
        }
    }
    return 0;
}

// Resets VmHWM to the current RSS (Linux >= 4.0); false if the kernel refused.
bool reset_peak_rss() {
    std::ofstream out("/proc/self/clear_refs");
    out << "5";
    out.flush();
    return static_cast<bool>(out);
}

std::string load_average() {
    auto text = read_text("/proc/loadavg");
    std::istringstream in(text);
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c;
}

// "ext4 (/dev/vda on /)": the statfs magic, named, and the mount that holds `path`.
std::string filesystem_of(const fs::path& path) {
    struct statfs info {};
    std::string magic = "?";
    if (::statfs(path.c_str(), &info) == 0) {
        static const std::map<unsigned long, const char*> names{
            {0xEF53, "ext2/3/4"},   {0x58465342, "xfs"},     {0x9123683E, "btrfs"},
            {0x01021994, "tmpfs"},  {0x794C7630, "overlayfs"}, {0x2FC12FC1, "zfs"},
            {0x6969, "nfs"},        {0x65735546, "fuse"},    {0x01021997, "9p"},
            {0xF2F52010, "f2fs"},   {0x858458F6, "ramfs"},   {0x5346544E, "ntfs"},
        };
        const auto found = names.find(static_cast<unsigned long>(info.f_type));
        magic = found != names.end() ? found->second
                                     : format("0x%lx", static_cast<unsigned long>(info.f_type));
    }
    // The longest mount point that is a prefix of the path: its type and source.
    std::ifstream mounts("/proc/self/mounts");
    std::string source, point, type, line, best_point, best_type, best_source;
    const auto absolute = fs::weakly_canonical(path).string();
    while (std::getline(mounts, line)) {
        std::istringstream fields(line);
        fields >> source >> point >> type;
        const bool under = absolute == point || point == "/" ||
                           (absolute.starts_with(point) && absolute[point.size()] == '/');
        if (under && point.size() >= best_point.size()) {
            best_point = point;
            best_type = type;
            best_source = source;
        }
    }
    if (best_type.empty()) return magic;
    return best_type + " (" + best_source + " on " + best_point + "; statfs: " + magic + ")";
}

std::uint64_t directory_bytes(const fs::path& directory, std::uint64_t* files = nullptr) {
    std::uint64_t bytes = 0, count = 0;
    for (const auto& file : audit::log_files(directory)) {
        bytes += fs::file_size(file);
        ++count;
    }
    if (files) *files = count;
    return bytes;
}

// "2026-11-26" + days
std::string add_days(const std::string& day, int days) {
    int y = 0;
    unsigned m = 0, d = 0;
    std::sscanf(day.c_str(), "%d-%u-%u", &y, &m, &d);
    const auto date = std::chrono::year_month_day(std::chrono::sys_days(
        std::chrono::year_month_day{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}}) +
        std::chrono::days(days));
    return format("%04d-%02u-%02u", static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                  static_cast<unsigned>(date.day()));
}

// ---------------------------------------------------------------------------------------------
// The world the records describe: staff, computers, Key IDs. Deterministic (fixed seed), so a
// cached log and a new run talk about the same people and machines.

struct Computer {
    std::string name, dn;
    std::vector<std::string> keys;     // dashed Key IDs
    std::vector<std::string> key_dns;  // the recovery objects' DNs
};

struct World {
    std::vector<std::string> staff;     // 0..179 help desk, 180..189 admins, 190..199 auditors
    std::vector<double> staff_weights;  // skewed activity
    std::vector<std::string> clients;   // each staff member's usual address
    std::vector<Computer> computers;

    static constexpr std::size_t helpdesk = 180, admins = 10, auditors = 10;

    World() {
        std::mt19937_64 rng(20261126);
        static const char* first[] = {"james", "mary",  "robert", "patricia", "john",  "jennifer",
                                      "michael", "linda", "david", "elizabeth", "william", "barbara",
                                      "richard", "susan", "joseph", "jessica", "thomas", "sarah",
                                      "chris", "karen", "daniel", "lisa", "matthew", "nancy",
                                      "anthony", "betty", "mark", "sandra", "paul", "ashley"};
        static const char* last[] = {"smith", "johnson", "williams", "brown", "jones", "garcia",
                                     "miller", "davis", "rodriguez", "martinez", "hernandez", "lopez",
                                     "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore",
                                     "jackson", "martin", "lee", "perez", "thompson", "white",
                                     "harris", "sanchez", "clark", "ramirez", "lewis", "robinson"};
        std::set<std::string> taken;
        while (staff.size() < helpdesk + admins + auditors) {
            std::string name = std::string(1, first[rng() % 30][0]) + last[rng() % 30];
            if (!taken.insert(name).second) name += std::to_string(rng() % 90 + 10);
            if (!taken.insert(name).second) continue;
            staff.push_back(name);
        }
        // Help desk: Zipf-like (s = 0.9); admins rarely act themselves; auditors mostly query.
        for (std::size_t i = 0; i < helpdesk; ++i) staff_weights.push_back(1.0 / std::pow(i + 1.0, 0.9));
        double total = 0;
        for (const auto w : staff_weights) total += w;
        for (std::size_t i = 0; i < admins; ++i) staff_weights.push_back(total * 0.00005);
        for (std::size_t i = 0; i < auditors; ++i) staff_weights.push_back(total * 0.0005);
        for (std::size_t i = 0; i < staff.size(); ++i) {
            clients.push_back(format("10.%u.%u.%u", static_cast<unsigned>(rng() % 24 + 10),
                                     static_cast<unsigned>(rng() % 250 + 1),
                                     static_cast<unsigned>(rng() % 250 + 2)));
        }

        static const char* sites[] = {"LON", "NYC", "PAR", "FRA", "AMS", "MAD", "MIL", "SEA",
                                      "SFO", "CHI", "TOR", "SYD", "SIN", "TOK", "HKG", "DUB",
                                      "ZRH", "STO", "OSL", "WAW", "PRG", "VIE", "BRU", "LIS"};
        static const std::pair<const char*, const char*> kinds[] = {
            {"WS", "Workstations"}, {"LT", "Laptops"}, {"LT", "Laptops"}, {"SRV", "Servers"}};
        std::set<std::string> names;
        const std::size_t count = 50000;
        computers.reserve(count);
        while (computers.size() < count) {
            // Skewed site sizes: the first sites are the big offices.
            const auto site = sites[std::min<std::size_t>(23, static_cast<std::size_t>(
                                                                  std::pow(static_cast<double>(rng() % 10000) / 10000.0, 2.0) * 24))];
            const auto& kind = kinds[rng() % 4];
            Computer computer;
            computer.name = format("%s-%s-%05u", site, kind.first, static_cast<unsigned>(rng() % 100000));
            if (!names.insert(computer.name).second) continue;
            computer.dn = "CN=" + computer.name + ",OU=" + kind.second + ",OU=" + site +
                          ",OU=Sites,DC=corp,DC=example,DC=com";
            const unsigned keys = 1 + (rng() % 10 < 3 ? 1 : 0) + (rng() % 10 < 1 ? 1 : 0) + (rng() % 20 < 1 ? 1 : 0);
            for (unsigned k = 0; k < keys; ++k) {
                const auto a = rng(), b = rng();
                const auto key = format("%08llX-%04llX-%04llX-%04llX-%012llX",
                                        static_cast<unsigned long long>(a >> 32),
                                        static_cast<unsigned long long>((a >> 16) & 0xFFFF),
                                        static_cast<unsigned long long>(a & 0xFFFF),
                                        static_cast<unsigned long long>(b >> 48),
                                        static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFull));
                computer.keys.push_back(key);
                computer.key_dns.push_back(format("CN=20%02u-%02u-%02uT%02u:%02u:%02u-00:00{%s},",
                                                  static_cast<unsigned>(21 + rng() % 5),
                                                  static_cast<unsigned>(1 + rng() % 12),
                                                  static_cast<unsigned>(1 + rng() % 28),
                                                  static_cast<unsigned>(rng() % 24),
                                                  static_cast<unsigned>(rng() % 60),
                                                  static_cast<unsigned>(rng() % 60), key.c_str()) +
                                           computer.dn);
            }
            computers.push_back(std::move(computer));
        }
    }
};

// Makes realistic records, one thread each. A "case" (a caller on the phone: one computer, one
// ticket) gives a few lookups and reveals in a row, as at a help desk.
class Generator {
public:
    Generator(const World& world, std::uint64_t seed)
        : world_(world), rng_(seed), staff_(world.staff_weights.begin(), world.staff_weights.end()) {}

    json::object next() {
        const double roll = uniform();
        if (roll < 0.55) return lookup();
        if (roll < 0.70) return reveal();
        if (roll < 0.85) return login();
        if (roll < 0.90) return login_failed();
        if (roll < 0.93) return access_denied();
        if (roll < 0.97) return base(pick_staff(), "session.logout", "success");
        if (roll < 0.99) return audit_query();
        if (roll < 0.995) return audit_export();
        auto record = base(pick_staff(), "session.revoked", "denied");
        record["reason"] = "account_disabled_or_removed";
        return record;
    }

private:
    double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(rng_() % n); }
    std::size_t pick_staff() { return staff_(rng_); }

    std::string request_id() { return format("%016llx", static_cast<unsigned long long>(rng_())); }

    json::object base(std::size_t who, std::string_view event, std::string_view outcome) {
        json::object record;
        record["event"] = event;
        record["actor"] = world_.staff[who];
        record["client"] = below(10) == 0 ? format("172.16.%u.%u", static_cast<unsigned>(below(250)),
                                                   static_cast<unsigned>(below(250) + 2))
                                          : world_.clients[who];
        record["request_id"] = request_id();
        record["outcome"] = outcome;
        return record;
    }

    void new_case() {
        actor_ = pick_staff();
        if (actor_ >= World::helpdesk + World::admins) actor_ = below(World::helpdesk);  // auditors reveal nothing
        computer_ = below(world_.computers.size());
        key_ = below(world_.computers[computer_].keys.size());
        ticket_ = below(100) < 70 ? format("INC%07u", static_cast<unsigned>(below(3000000))) : "";
        uses_ = 1 + below(4);
    }
    void use_case() {
        if (uses_ == 0) new_case();
        --uses_;
    }

    json::object lookup() {
        use_case();
        const auto& computer = world_.computers[computer_];
        auto record = base(actor_, "key.lookup", "success");
        const auto roll = below(1000);
        if (roll < 3) {
            record["outcome"] = "denied";
            record["reason"] = "rate_limited";
            return record;
        }
        if (roll < 20) {
            record["outcome"] = "invalid";
            record["reason"] = "invalid_request";
            return record;
        }
        if (!ticket_.empty()) record["ticket"] = ticket_;
        json::array matches;
        if (below(100) < 60) {  // by the Key ID read off the recovery screen: 8 digits, sometimes all
            if (below(100) < 6) {  // a typo: nothing found
                record["query"] = json::object{{"key_id", format("%08llX", static_cast<unsigned long long>(rng_() >> 32))}};
                record["outcome"] = "not_found";
            } else {
                const auto& key = computer.keys[key_];
                record["query"] = json::object{{"key_id", below(10) == 0 ? key : key.substr(0, 8)}};
                matches.push_back(json::object{{"key_id", key}, {"computer", computer.name}});
                if (below(100) < 2) {  // a colliding prefix elsewhere
                    const auto& other = world_.computers[below(world_.computers.size())];
                    matches.push_back(json::object{{"key_id", key.substr(0, 8) + other.keys[0].substr(8)},
                                                   {"computer", other.name}});
                }
            }
        } else {
            record["query"] = json::object{{"computer", computer.name}};
            for (const auto& key : computer.keys) {
                matches.push_back(json::object{{"key_id", key}, {"computer", computer.name}});
            }
        }
        record["matches"] = std::move(matches);
        record["truncated"] = false;
        return record;
    }

    json::object reveal() {
        use_case();
        static const std::pair<const char*, int> reasons[] = {
            {"lost_pin", 30},          {"bios_changed", 15},    {"tpm_reset", 15},
            {"os_boot_order_changed", 10}, {"lost_passphrase", 8}, {"os_files_modified", 5},
            {"lost_startup_key", 5},   {"lost_smartcard", 2},   {"other", 10}};
        const auto& computer = world_.computers[computer_];
        auto record = base(actor_, "key.reveal", "success");
        record["key_id"] = computer.keys[key_];
        auto pick = static_cast<int>(below(100));
        const char* reason = "other";
        for (const auto& [name, weight] : reasons) {
            if (pick < weight) {
                reason = name;
                break;
            }
            pick -= weight;
        }
        record["reason"] = reason;
        if (std::string_view(reason) == "other") {
            record["reason_text"] = "screen asks for recovery after a docking station firmware update";
        }
        if (!ticket_.empty()) record["ticket"] = ticket_;
        if (below(100) < 40) record["end_user"] = format("user%05u", static_cast<unsigned>(below(40000)));
        const auto roll = below(100);
        if (roll < 2) {
            record["outcome"] = "not_found";
            return record;
        }
        if (roll < 3) {
            record["outcome"] = "invalid";
            record["reason_code"] = "ticket_required";
            return record;
        }
        record["computer"] = computer.name;
        record["computer_dn"] = computer.dn;
        record["dn"] = computer.key_dns[key_];
        if (roll < 5) {
            record["outcome"] = "denied";
            record["reason_code"] = "not_permitted";
        }
        return record;
    }

    json::object login() {
        const auto who = pick_staff();
        auto record = base(who, "session.login", "success");
        json::array roles;
        if (who < World::helpdesk + World::admins) roles.emplace_back("helpdesk");
        if (who >= World::helpdesk) roles.emplace_back("auditor");
        record["roles"] = std::move(roles);
        return record;
    }

    json::object login_failed() {
        const auto who = pick_staff();
        auto record = base(who, "session.login_failed", "denied");
        const auto roll = below(100);
        if (roll < 70) {
            record["reason"] = "invalid_credentials";
        } else if (roll < 85) {
            record["actor"] = below(2) ? std::string("administrator") : world_.staff[who] + "x";
            record["reason"] = "invalid_username";
        } else if (roll < 95) {
            record["reason"] = "throttled";
        } else {
            record["reason"] = "account_disabled";
        }
        return record;
    }

    json::object access_denied() {
        auto record = base(pick_staff(), "access.denied", "denied");
        if (below(2)) {
            record["reason"] = "missing_role";
            record["method"] = "GET";
            record["path"] = "/api/audit/records";
        } else {
            record["reason"] = "csrf";
            record["method"] = "POST";
            record["path"] = "/api/keys/reveal";
        }
        return record;
    }

    json::object audit_query() {
        const auto who = World::helpdesk + World::admins + below(World::auditors);
        auto record = base(who, "audit.query", "success");
        json::object filters;
        if (below(2)) {
            filters["actor"] = world_.staff[below(World::helpdesk)];
        } else {
            filters["event"] = "key.reveal";
        }
        record["filters"] = std::move(filters);
        record["results"] = 50;
        return record;
    }

    json::object audit_export() {
        const auto who = World::helpdesk + World::admins + below(World::auditors);
        auto record = base(who, "audit.export", "success");
        record["filters"] = json::object{{"event", "key.reveal"}};
        record["format"] = "csv";
        return record;
    }

    const World& world_;
    std::mt19937_64 rng_;
    std::discrete_distribution<std::size_t> staff_;
    std::size_t actor_ = 0, computer_ = 0, key_ = 0, uses_ = 0;
    std::string ticket_;
};

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
    fs::path dir = "/tmp/keydesk-audit-bench";
    std::uint64_t records = 1000000;
    double seconds = 5;
    std::vector<unsigned> threads{1, 4, 16, 64};
    unsigned build_threads = 128;
    unsigned runs = 20;
    bool quick = false, rebuild = false, skip_append = false;
    std::string index_mode = "auto";  // auto | shipped | seq-index
};

const char* const usage =
    "audit_bench [--quick|--full] [--dir DIR] [--records N] [--seconds S] [--threads 1,4,16,64]\n"
    "            [--build-threads N] [--runs N] [--index auto|shipped|seq-index] [--rebuild] [--skip-append]\n"
    "  --quick          100,000 records and 2 s appends (unless --records/--seconds say otherwise)\n"
    "  --full           the defaults: 1,000,000 records, 5 s appends\n"
    "  --dir DIR        where the logs, keys and index live (/tmp/keydesk-audit-bench); the\n"
    "                   filesystem matters for fdatasync\n"
    "  --records N      size of the log to build (cached per size under DIR; --rebuild forces)\n"
    "  --seconds S      duration of each append run\n"
    "  --threads LIST   concurrent appenders, one run each\n"
    "  --build-threads  appenders that build the big log (group commit: more = bigger batches)\n"
    "  --runs N         timed runs per filter (after one warm-up)\n"
    "  --skip-append    only the big log: build/verify/index/filters\n"
    "  --index MODE     the full-size index build: shipped = as the library does it; seq-index = with\n"
    "                   an index on subjects(seq) added by the bench first (the per-record DELETE in\n"
    "                   catch_up otherwise scans the table: quadratic); auto (default) = seq-index\n"
    "                   when the as-shipped build, timed on the log's first files, extrapolates\n"
    "                   to more than 10 minutes\n";

Options parse_options(int argc, char** argv) {
    Options options;
    bool records_set = false, seconds_set = false;
    for (int i = 1; i < argc; ++i) {
        const std::string name = argv[i];
        const auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n%s", name.c_str(), usage);
                std::exit(2);
            }
            return argv[++i];
        };
        if (name == "-h" || name == "--help") {
            std::fputs(usage, stdout);
            std::exit(0);
        } else if (name == "--quick") {
            options.quick = true;
        } else if (name == "--full") {
            options.quick = false;
        } else if (name == "--rebuild") {
            options.rebuild = true;
        } else if (name == "--skip-append") {
            options.skip_append = true;
        } else if (name == "--dir") {
            options.dir = value();
        } else if (name == "--records") {
            options.records = std::stoull(value());
            records_set = true;
        } else if (name == "--seconds") {
            options.seconds = std::stod(value());
            seconds_set = true;
        } else if (name == "--build-threads") {
            options.build_threads = static_cast<unsigned>(std::stoul(value()));
        } else if (name == "--index") {
            options.index_mode = value();
            if (options.index_mode != "auto" && options.index_mode != "shipped" && options.index_mode != "seq-index") {
                std::fprintf(stderr, "--index: auto, shipped or seq-index\n%s", usage);
                std::exit(2);
            }
        } else if (name == "--runs") {
            options.runs = static_cast<unsigned>(std::stoul(value()));
        } else if (name == "--threads") {
            options.threads.clear();
            std::stringstream list(value());
            for (std::string item; std::getline(list, item, ',');) {
                options.threads.push_back(static_cast<unsigned>(std::stoul(item)));
            }
        } else {
            std::fprintf(stderr, "unknown option %s\n%s", name.c_str(), usage);
            std::exit(2);
        }
    }
    if (options.quick && !records_set) options.records = 100000;
    if (options.quick && !seconds_set) options.seconds = 2;
    if (options.records < 1000 || options.runs < 1 || options.build_threads < 1 || options.seconds <= 0) {
        std::fprintf(stderr, "bad values\n%s", usage);
        std::exit(2);
    }
    return options;
}

// One statement on the index file through a connection of the bench's own (the AuditIndex's
// reader is read-only).
void sqlite_exec(const fs::path& file, const char* sql) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
        const std::string problem = db ? sqlite3_errmsg(db) : "out of memory";
        sqlite3_close(db);
        throw std::runtime_error("sqlite open " + file.string() + ": " + problem);
    }
    sqlite3_busy_timeout(db, 30000);
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        const std::string problem = message ? message : "error";
        sqlite3_free(message);
        sqlite3_close(db);
        throw std::runtime_error(std::string("sqlite: ") + sql + ": " + problem);
    }
    sqlite3_close(db);
}

// ---------------------------------------------------------------------------------------------
// Keys (kept under DIR/keys so that a cached log keeps verifying)

struct Keys {
    std::string hmac;
    fs::path signing_file;
    std::string public_pem;
};

Keys prepare_keys(const fs::path& dir) {
    const auto folder = dir / "keys";
    fs::create_directories(folder);
    fs::permissions(folder, fs::perms::owner_all, fs::perm_options::replace);
    Keys keys;
    const auto hmac_file = folder / "hmac.key";
    if (!fs::exists(hmac_file)) {
        std::random_device random;
        std::string key;
        for (int i = 0; i < 64; ++i) key += "0123456789abcdef"[random() % 16];
        write_text(hmac_file, key);
        fs::permissions(hmac_file, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
    }
    keys.hmac = read_text(hmac_file);
    keys.signing_file = folder / "signing.pem";
    if (!fs::exists(keys.signing_file)) {
        keys.public_pem = audit::generate_signing_key(keys.signing_file);
    } else {
        keys.public_pem = audit::public_key_pem_of(keys.signing_file);
    }
    return keys;
}

audit::AuditSettings settings_for(const Keys& keys) {
    audit::AuditSettings settings;  // default checkpoints: every 1,000 records or 60 s
    settings.signing_key_file = keys.signing_file;
    settings.append_timeout = std::chrono::seconds(60);  // slow disks show as latency, not errors
    return settings;
}

// ---------------------------------------------------------------------------------------------
// 1. Append rate with group commit

struct AppendResult {
    unsigned threads = 0;
    std::uint64_t records = 0;
    double seconds = 0;
    Summary latency;
    double bytes_per_record = 0;
    std::uint64_t failures = 0;
};

AppendResult append_run(const World& world, const Keys& keys, const fs::path& directory, unsigned threads,
                        double seconds) {
    fs::remove_all(directory);
    AppendResult result;
    result.threads = threads;
    std::vector<std::vector<std::uint32_t>> latencies(threads);
    std::atomic<std::uint64_t> failures{0};
    {
        audit::AuditLog log(directory, keys.hmac, settings_for(keys));
        std::latch ready(threads + 1);
        std::vector<std::thread> workers;
        const auto duration = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
        Clock::time_point start, deadline;
        std::atomic<bool> go{false};
        for (unsigned t = 0; t < threads; ++t) {
            workers.emplace_back([&, t] {
                Generator generator(world, 1000 + t);
                auto& mine = latencies[t];
                mine.reserve(1 << 16);
                ready.arrive_and_wait();
                while (!go.load()) std::this_thread::yield();
                while (true) {
                    auto record = generator.next();  // made before the clock starts
                    const auto before = Clock::now();
                    if (before >= deadline) break;
                    try {
                        log.append(std::move(record));
                    } catch (const audit::AuditUnavailable&) {
                        ++failures;
                        continue;
                    }
                    mine.push_back(keydesk::bench::micros_since(before));
                }
            });
        }
        ready.arrive_and_wait();
        start = Clock::now();
        deadline = start + duration;
        go = true;
        for (auto& worker : workers) worker.join();
        result.seconds = seconds_since(start);
    }  // close(): the final checkpoint
    std::vector<std::uint32_t> all;
    for (auto& mine : latencies) all.insert(all.end(), mine.begin(), mine.end());
    result.records = all.size();
    result.failures = failures;
    result.latency = summarize(all);
    result.bytes_per_record = result.records ? static_cast<double>(directory_bytes(directory)) / result.records : 0;
    fs::remove_all(directory);
    return result;
}

// ---------------------------------------------------------------------------------------------
// 2. The big log

struct BuildInfo {
    bool cached = false;
    std::uint64_t records = 0;  // appended by the build (application records)
    double seconds = 0;
    unsigned threads = 0;
    std::string built_at;
};

std::optional<BuildInfo> read_build_marker(const fs::path& marker) {
    if (!fs::exists(marker)) return std::nullopt;
    std::istringstream in(read_text(marker));
    BuildInfo info;
    std::string name;
    while (in >> name) {
        if (name == "records") in >> info.records;
        if (name == "seconds") in >> info.seconds;
        if (name == "threads") in >> info.threads;
        if (name == "built_at") in >> info.built_at;
    }
    return info;
}

BuildInfo build_log(const World& world, const Keys& keys, const fs::path& directory, const fs::path& marker,
                    std::uint64_t records, unsigned threads, bool rebuild) {
    if (!rebuild) {
        if (auto info = read_build_marker(marker); info && info->records >= records && fs::exists(directory)) {
            // Opening the log reads its newest file: it must hold at least that many records.
            audit::AuditLog log(directory, keys.hmac, settings_for(keys));
            if (log.newest_seq() >= records) {
                info->cached = true;
                progress("build: cached log in %s (seq %s), built %s in %.1f s; --rebuild to build again",
                         directory.c_str(), grouped(log.newest_seq()).c_str(), info->built_at.c_str(),
                         info->seconds);
                return *info;
            }
        }
    }
    fs::remove(marker);
    fs::remove_all(directory);
    progress("build: %s records, %u appender threads, times spread over %d days", grouped(records).c_str(),
             threads, history_days);

    // Record times: from midnight UTC 90 days ago, one step per record issued (the log keeps
    // them monotonic anyway), so each UTC day holds ~1/90 of the log and rotates a file.
    using namespace std::chrono;
    const auto today = floor<days>(system_clock::now());
    const auto first = system_clock::time_point(today - days(history_days));
    const auto step = microseconds(static_cast<std::int64_t>(history_days * 86400.0 * 1e6 / static_cast<double>(records)));
    std::atomic<std::uint64_t> issued{0};
    auto settings = settings_for(keys);
    settings.clock = [&issued, first, step] { return first + step * static_cast<std::int64_t>(issued.load()); };

    BuildInfo info;
    info.records = records;
    info.threads = threads;
    const auto start = Clock::now();
    {
        audit::AuditLog log(directory, keys.hmac, settings);
        std::atomic<std::uint64_t> done{0};
        std::atomic<std::uint64_t> failures{0};
        std::vector<std::thread> workers;
        for (unsigned t = 0; t < threads; ++t) {
            workers.emplace_back([&, t] {
                Generator generator(world, 1'000'000 + t);
                while (true) {
                    auto record = generator.next();
                    if (issued.fetch_add(1) >= records) break;
                    try {
                        log.append(std::move(record));
                        ++done;
                    } catch (const audit::AuditUnavailable& error) {
                        if (++failures == 1) progress("build: append failed: %s", error.what());
                    }
                }
            });
        }
        std::mutex mutex;
        std::condition_variable finished;
        bool over = false;
        std::thread monitor([&] {
            std::unique_lock lock(mutex);
            auto last = Clock::now();
            std::uint64_t last_done = 0;
            while (!finished.wait_for(lock, seconds(10), [&] { return over; })) {
                const auto now_done = done.load();
                progress("build: %s / %s records, %.0f records/s", grouped(now_done).c_str(),
                         grouped(records).c_str(), (now_done - last_done) / seconds_since(last));
                last = Clock::now();
                last_done = now_done;
            }
        });
        for (auto& worker : workers) worker.join();
        {
            std::lock_guard lock(mutex);
            over = true;
        }
        finished.notify_all();
        monitor.join();
        if (failures > 0) throw std::runtime_error("build: " + std::to_string(failures.load()) + " appends failed");
        issued = records;  // the closing checkpoint's time
    }
    info.seconds = seconds_since(start);
    info.built_at = audit::utc_timestamp(std::chrono::system_clock::now());
    write_text(marker, format("records %" PRIu64 "\nseconds %.3f\nthreads %u\nbuilt_at %s\n", info.records,
                              info.seconds, info.threads, info.built_at.c_str()));
    progress("build: done in %.1f s", info.seconds);
    return info;
}

// ---------------------------------------------------------------------------------------------
// 5. Filters

struct FilterRow {
    std::string label;
    std::size_t rows = 0;
    std::uint64_t matching = 0;
    double count_ms = 0;
    Summary latency;
};

audit::AuditFilter make_filter(const std::vector<std::pair<std::string, std::string>>& params) {
    std::string problem;
    auto filter = audit::parse_filter(params, {}, problem);
    if (!filter) throw std::runtime_error("filter refused: " + problem);
    return *filter;
}

std::string select_one(audit::AuditIndex& index, std::string_view sql, const std::vector<std::string>& parameters,
                       std::size_t column = 0) {
    std::string value;
    index.select(sql, parameters, [&](const std::vector<std::string>& row) {
        if (value.empty() && column < row.size()) value = row[column];
    });
    return value;
}

}  // namespace

int main(int argc, char** argv) {
    const auto options = parse_options(argc, argv);
    std::string table;
    const auto line = [&](const std::string& text) { table += text + "\n"; };
    try {
        fs::create_directories(options.dir);
        const auto dir = fs::canonical(options.dir);
        const auto cores = std::thread::hardware_concurrency();
        const auto nproc = ::sysconf(_SC_NPROCESSORS_ONLN);
        const auto load = load_average();
        const auto filesystem = filesystem_of(dir);
        progress("audit_bench: %s records, %.0f s appends, in %s on %s; nproc %ld, load %s",
                 grouped(options.records).c_str(), options.seconds, dir.c_str(), filesystem.c_str(), nproc,
                 load.c_str());
        const auto keys = prepare_keys(dir);
        progress("world: 200 staff, 50,000 computers ...");
        const World world;
        std::size_t key_count = 0;
        for (const auto& computer : world.computers) key_count += computer.keys.size();

        line("");
        line("== keydesk audit_bench " + std::string(options.quick ? "(--quick)" : "(full)") + " ==");
        line(format("machine: nproc %ld (hardware_concurrency %u), load average at start %s", nproc, cores,
                    load.c_str()));
        line("directory: " + dir.string() + " on " + filesystem);
        line(format("world: %zu staff (skewed activity), %s computers, %s Key IDs; events: lookup 55%%, reveal 15%%,"
                    " login 15%%, login_failed 5%%, access.denied 3%%, other 7%%",
                    world.staff.size(), grouped(world.computers.size()).c_str(), grouped(key_count).c_str()));

        // 1. Appends
        if (!options.skip_append) {
            line("");
            line(format("1. append(), group commit (one write + fdatasync per batch), signed checkpoint every "
                        "1,000 records; %.0f s per run",
                        options.seconds));
            line("  threads    records   records/s   p50 ms   p99 ms   max ms   bytes/line   failures");
            for (const auto threads : options.threads) {
                progress("append: %u thread(s) for %.0f s ...", threads, options.seconds);
                const auto result = append_run(world, keys, dir / format("append-%u", threads), threads,
                                               options.seconds);
                progress("append: %u thread(s): %.0f records/s, p50 %.2f ms, p99 %.2f ms", threads,
                         result.records / result.seconds, result.latency.p50_ms, result.latency.p99_ms);
                line(format("  %7u  %9s  %10.0f  %7.2f  %7.2f  %7.1f  %11.0f  %9" PRIu64, threads,
                            grouped(result.records).c_str(), result.records / result.seconds,
                            result.latency.p50_ms, result.latency.p99_ms, result.latency.max_ms,
                            result.bytes_per_record, result.failures));
            }
        }

        // 2. The big log
        const auto log_dir = dir / format("log-%" PRIu64, options.records);
        const auto marker = dir / format("log-%" PRIu64 ".built", options.records);
        const auto index_file = dir / format("index-%" PRIu64 ".sqlite", options.records);
        const auto built = build_log(world, keys, log_dir, marker, options.records, options.build_threads,
                                     options.rebuild);
        std::uint64_t files = 0;
        const auto log_bytes = directory_bytes(log_dir, &files);

        // 3. verify
        progress("verify: %s ...", log_dir.c_str());
        audit::VerifyOptions verify_options;
        verify_options.directory = log_dir;
        verify_options.hmac_key = keys.hmac;
        verify_options.public_keys_pem = keys.public_pem;
        auto start = Clock::now();
        const auto report = audit::verify_log(verify_options);
        const auto verify_seconds = seconds_since(start);
        progress("verify: %s in %.1f s", report.ok ? "OK" : report.problem.c_str(), verify_seconds);
        line("");
        line(format("2. build a %s-record log: %u appender threads, times over %d days, daily rotation",
                    grouped(built.records).c_str(), built.threads, history_days));
        line(format("  %.1f s (%.0f records/s)%s", built.seconds, built.records / built.seconds,
                    built.cached ? format(" [cached: built %s; --rebuild to redo]", built.built_at.c_str()).c_str()
                                 : ""));
        line(format("  the log now: %s lines (records, checkpoints, rotations) in %s files, %.1f MB, %.0f bytes/line",
                    grouped(report.last_seq).c_str(), grouped(files).c_str(), log_bytes / 1e6,
                    report.last_seq ? static_cast<double>(log_bytes) / static_cast<double>(report.last_seq) : 0.0));
        line("");
        line("3. verify_log (HMAC key + Ed25519 public key; files just written or read: page cache warm)");
        line("     lines    checkpoints       MB   seconds     lines/s      MB/s   result");
        line(format("  %9s  %12s  %7.1f  %8.1f  %10.0f  %8.1f   %s", grouped(report.last_seq).c_str(),
                    grouped(report.checkpoints).c_str(), log_bytes / 1e6, verify_seconds,
                    report.last_seq / verify_seconds, log_bytes / 1e6 / verify_seconds,
                    report.ok ? "OK" : ("BAD: " + report.problem).c_str()));

        // 4. Index
        line("");
        line("4. AuditIndex (SQLite)");
        // As shipped, on prefixes of the log (hard links to its first daily files): the build
        // rate at two sizes shows how it scales, and whether the full size can be built as is.
        const auto probe_dir = dir / "probe-log";
        const auto probe_index = dir / "probe-index.sqlite";
        const auto log_list = audit::log_files(log_dir);
        std::vector<std::uint64_t> lines_upto;  // lines in the first i+1 files
        for (const auto& file : log_list) {
            const auto text = read_text(file);
            lines_upto.push_back((lines_upto.empty() ? 0 : lines_upto.back()) +
                                 static_cast<std::uint64_t>(std::count(text.begin(), text.end(), '\n')));
        }
        std::vector<std::pair<std::uint64_t, double>> probes;  // (lines, seconds)
        {
            std::size_t files_first = 0;
            while (files_first + 1 < log_list.size() && lines_upto[files_first] < 10000) ++files_first;
            for (const auto count : {files_first + 1, 2 * (files_first + 1)}) {
                if (count > log_list.size() || lines_upto[count - 1] >= report.last_seq / 2) break;
                fs::remove_all(probe_dir);
                fs::create_directories(probe_dir);
                for (std::size_t i = 0; i < count; ++i) {
                    std::error_code error;
                    fs::create_hard_link(log_list[i], probe_dir / log_list[i].filename(), error);
                    if (error) fs::copy_file(log_list[i], probe_dir / log_list[i].filename());
                }
                for (const auto* suffix : {"", "-wal", "-shm"}) fs::remove(probe_index.string() + suffix);
                progress("index probe (as shipped): %s lines ...", grouped(lines_upto[count - 1]).c_str());
                start = Clock::now();
                audit::AuditIndex probe(probe_dir, probe_index);
                const auto lines = probe.refresh_and_wait();
                probes.emplace_back(lines, seconds_since(start));
                progress("index probe (as shipped): %s lines in %.1f s", grouped(lines).c_str(), probes.back().second);
            }
            fs::remove_all(probe_dir);
            for (const auto* suffix : {"", "-wal", "-shm"}) fs::remove(probe_index.string() + suffix);
        }
        double exponent = 1, estimate = 0;
        if (!probes.empty()) {
            const auto [n2, t2] = probes.back();
            if (probes.size() == 2) {
                const auto [n1, t1] = probes.front();
                exponent = std::log(t2 / t1) / std::log(static_cast<double>(n2) / static_cast<double>(n1));
            }
            // Noise (and SQLite's page cache filling up) can make the measured exponent exceed 2;
            // extrapolate with at most 2 (a full scan per record is quadratic).
            const auto used = std::clamp(exponent, 1.0, 2.0);
            estimate = t2 * std::pow(static_cast<double>(report.last_seq) / static_cast<double>(n2), used);
            std::string text = "  as shipped, on the log's first files:";
            for (const auto& [n, t] : probes) text += format(" %s lines %.1f s (%.0f lines/s);", grouped(n).c_str(), t, n / t);
            line(text);
            line(format("    time ~ lines^%.2f between the two; extrapolated with ^%.2f, all %s lines would take ~%.0f s "
                        "(%.1f h) as shipped",
                        exponent, used, grouped(report.last_seq).c_str(), estimate, estimate / 3600));
        }
        const bool workaround = options.index_mode == "seq-index" ||
                                (options.index_mode == "auto" && estimate > 600);

        for (const auto* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(index_file.string() + suffix);
        progress("index: building %s from scratch%s ...", index_file.c_str(),
                 workaround ? " (with the bench's subjects(seq) index)" : "");
        const bool peak_reset = reset_peak_rss();
        const auto rss_before_index = status_kb("VmRSS");
        start = Clock::now();
        audit::AuditIndex index(log_dir, index_file);
        // The workaround: an index on subjects(seq), so that catch_up's per-record
        // "DELETE FROM subjects WHERE seq = ?" stops scanning the whole table. Made through a
        // connection of our own once the AuditIndex has created its schema.
        if (workaround) sqlite_exec(index_file, "CREATE INDEX IF NOT EXISTS bench_subjects_seq ON subjects(seq)");
        const auto indexed = index.refresh_and_wait();
        const auto index_seconds = seconds_since(start);
        const auto index_peak = status_kb("VmHWM");
        const auto index_bytes = fs::file_size(index_file);
        const auto wal = index_file.string() + "-wal";
        const auto wal_bytes = fs::exists(wal) ? fs::file_size(wal) : 0;
        progress("index: %s records in %.1f s", grouped(indexed).c_str(), index_seconds);
        line(format("  build from scratch%s: %s lines in %.1f s (%.0f lines/s); file %.1f MB = %.0f bytes/line"
                    " (+ WAL %.1f MB); peak RSS %.0f MB (%.0f MB before)%s",
                    workaround ? " WITH the bench's subjects(seq) index (as shipped is too slow, see above)" : "",
                    grouped(indexed).c_str(), index_seconds, indexed / index_seconds, index_bytes / 1e6,
                    static_cast<double>(index_bytes) / static_cast<double>(indexed), wal_bytes / 1e6,
                    index_peak / 1024.0, rss_before_index / 1024.0,
                    peak_reset ? "" : " (VmHWM not reset: since start)"));

        const auto append_more = [&](unsigned count) {
            progress("index: appending %s more records (16 threads) ...", grouped(count).c_str());
            audit::AuditLog log(log_dir, keys.hmac, settings_for(keys));
            std::atomic<int> left{static_cast<int>(count)};
            std::vector<std::thread> workers;
            for (unsigned t = 0; t < 16; ++t) {
                workers.emplace_back([&, t] {
                    Generator generator(world, 5'000'000 + 100 * t + log.newest_seq());
                    while (left.fetch_sub(1) > 0) log.append(generator.next());
                });
            }
            for (auto& worker : workers) worker.join();
        };
        const auto timed_refresh = [&](std::uint64_t from, const char* how) {
            start = Clock::now();
            const auto to = index.refresh_and_wait();
            const auto ms = ms_since(start);
            progress("index: refresh +%s lines in %.0f ms%s", grouped(to - from).c_str(), ms, how);
            line(format("  incremental refresh after +1,000 appends%s: %s new lines (seq %s -> %s) in %.0f ms",
                        how, grouped(to - from).c_str(), grouped(from).c_str(), grouped(to).c_str(), ms));
            return to;
        };
        append_more(1000);
        auto refreshed = timed_refresh(indexed, workaround ? " (with the subjects(seq) index)" : "");
        if (workaround) {
            // The index as shipped again (no trace of the bench left in it), and its refresh.
            sqlite_exec(index_file, "DROP INDEX IF EXISTS bench_subjects_seq");
            append_more(1000);
            refreshed = timed_refresh(refreshed, " (as shipped)");
        }

        // 5. Filters: values picked from the index itself.
        progress("filters: picking values ...");
        std::map<std::string, std::uint64_t> per_actor;
        index.select("SELECT actor, count(*) FROM records GROUP BY actor", {},
                     [&](const std::vector<std::string>& row) { per_actor[row[0]] = std::stoull(row[1]); });
        std::string busy, rare;
        for (const auto& name : world.staff) {
            const auto found = per_actor.find(name);
            if (found == per_actor.end()) continue;
            if (busy.empty() || found->second > per_actor[busy]) busy = name;
            if (rare.empty() || found->second < per_actor[rare]) rare = name;
        }
        const auto middle = std::to_string(refreshed / 2);
        const auto middle_record = index.find(refreshed / 2);
        if (!middle_record) throw std::runtime_error("no record at the middle seq");
        const auto day = middle_record->time.substr(0, 10);
        const auto reveal_sql = std::string(
            "SELECT key_id, computer, ticket FROM records WHERE event = 'key.reveal' AND outcome = 'success' "
            "AND ticket IS NOT NULL AND seq >= ? ORDER BY seq LIMIT 1");
        const auto key_id = select_one(index, reveal_sql, {middle}, 0);
        const auto computer = select_one(index, reveal_sql, {middle}, 1);
        const auto ticket = select_one(index, reveal_sql, {middle}, 2);
        std::string key_hex;
        for (const char c : key_id) {
            if (c != '-') key_hex += c;
        }
        if (key_hex.size() < 8 || computer.empty() || ticket.empty() || busy.empty()) {
            throw std::runtime_error("could not pick filter values from the index");
        }
        const auto week_end = add_days(day, 6);
        const auto first_record = index.find(1);
        const auto first_day = first_record ? first_record->time.substr(0, 10) : day;
        using Params = std::vector<std::pair<std::string, std::string>>;
        const std::vector<std::pair<std::string, Params>> queries{
            {"no filter", {}},
            {"actor=" + busy + " (busiest)", {{"actor", busy}}},
            {"actor=" + rare + " (rarest staff)", {{"actor", rare}}},
            {"computer=" + computer, {{"computer", computer}}},
            {"key_id=" + key_hex.substr(0, 8) + " (8 hex)", {{"key_id", key_hex.substr(0, 8)}}},
            {"key_id=" + key_hex.substr(0, 4) + " (4 hex)", {{"key_id", key_hex.substr(0, 4)}}},
            {"event=key.reveal", {{"event", "key.reveal"}}},
            {"outcome=denied", {{"outcome", "denied"}}},
            {"reason=lost_pin", {{"reason", "lost_pin"}}},
            {"ticket=" + ticket, {{"ticket", ticket}}},
            {"from/to " + day + " (1 day)", {{"from", day}, {"to", day}}},
            {"1 day + actor=" + busy, {{"from", day}, {"to", day}, {"actor", busy}}},
            {"event=key.reveal + 7 days", {{"event", "key.reveal"}, {"from", day}, {"to", week_end}}},
            {"actor=nobody (no match)", {{"actor", "nobody"}}},
            // Not in the brief's list: a time range at the start of the log (the worst case when
            // the query walks down from the newest record to the range).
            {"extra: from/to " + first_day + " (1st day)", {{"from", first_day}, {"to", first_day}}},
        };
        std::vector<FilterRow> rows;
        for (const auto& [label, params] : queries) {
            const auto filter = make_filter(params);
            FilterRow row;
            row.label = label;
            index.newest(filter, 0, 50);  // warm-up
            std::vector<std::uint32_t> micros;
            for (unsigned run = 0; run < options.runs; ++run) {
                const auto before = Clock::now();
                const auto page = index.newest(filter, 0, 50);
                micros.push_back(keydesk::bench::micros_since(before));
                row.rows = page.size();
            }
            row.latency = summarize(micros);
            const auto before = Clock::now();
            row.matching = index.count(filter, refreshed);
            row.count_ms = ms_since(before);
            progress("filter %-44s p50 %8.1f ms  (%zu rows, %s matching, count %.0f ms)", label.c_str(),
                     row.latency.p50_ms, row.rows, grouped(row.matching).c_str(), row.count_ms);
            rows.push_back(row);
        }

        // count(event=key.reveal)
        const auto reveals = make_filter({{"event", "key.reveal"}});
        index.count(reveals, refreshed);  // warm-up
        std::vector<std::uint32_t> count_micros;
        std::uint64_t reveal_count = 0;
        for (int run = 0; run < 5; ++run) {
            const auto before = Clock::now();
            reveal_count = index.count(reveals, refreshed);
            count_micros.push_back(keydesk::bench::micros_since(before));
        }
        const auto count_summary = summarize(count_micros);

        // A 7-day CSV export, streamed piece by piece (the server sends each piece as it comes).
        progress("export: CSV %s .. %s ...", day.c_str(), week_end.c_str());
        const auto week = make_filter({{"from", day}, {"to", week_end}});
        const bool export_reset = reset_peak_rss();
        const auto rss_before_export = status_kb("VmRSS");
        start = Clock::now();
        audit::ExportStream stream(index, log_dir, week, refreshed, audit::ExportFormat::csv);
        std::string out;
        std::uint64_t export_bytes = 0;
        for (bool more = true; more;) {
            more = stream.next(out);
            export_bytes += out.size();
            out.clear();
        }
        const auto export_seconds = seconds_since(start);
        const auto export_peak = status_kb("VmHWM");
        progress("export: %s rows, %.1f MB in %.1f s", grouped(stream.rows()).c_str(), export_bytes / 1e6,
                 export_seconds);

        line("");
        line(format("5. filters at %s records: newest(filter, 0, 50), %u runs after 1 warm-up; target p50 <= %.0f ms",
                    grouped(refreshed).c_str(), options.runs, target_ms));
        line("  filter                                           rows   matching     p50 ms     p90 ms     max ms   "
             "count ms   p50<=300");
        int misses = 0;
        for (const auto& row : rows) {
            const bool meets = row.latency.p50_ms <= target_ms;
            misses += meets ? 0 : 1;
            line(format("  %-46s %5zu %10s %10.1f %10.1f %10.1f %10.0f   %s", row.label.c_str(), row.rows,
                        grouped(row.matching).c_str(), row.latency.p50_ms, row.latency.p90_ms, row.latency.max_ms,
                        row.count_ms, meets ? "yes" : "NO"));
        }
        line(format("  count(event=key.reveal) = %s: p50 %.1f ms, max %.1f ms (5 runs after 1 warm-up)",
                    grouped(reveal_count).c_str(), count_summary.p50_ms, count_summary.max_ms));
        line(format("  export CSV %s .. %s (7 days): %s rows, %.1f MB in %.2f s (%.0f rows/s); "
                    "peak RSS during it %.0f MB (RSS before %.0f MB)%s",
                    day.c_str(), week_end.c_str(), grouped(stream.rows()).c_str(), export_bytes / 1e6,
                    export_seconds, stream.rows() / export_seconds, export_peak / 1024.0,
                    rss_before_export / 1024.0, export_reset ? "" : " (VmHWM not reset: since start)"));
        line(format("  filters meeting the target: %zu of %zu", rows.size() - static_cast<std::size_t>(misses),
                    rows.size()));
        line(format("machine at the end: load average %s", load_average().c_str()));
        std::fputs(table.c_str(), stdout);
        return 0;
    } catch (const std::exception& error) {
        std::fputs(table.c_str(), stdout);
        std::fprintf(stderr, "audit_bench: %s\n", error.what());
        return 1;
    }
}
