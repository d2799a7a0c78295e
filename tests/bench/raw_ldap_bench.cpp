// raw_ldap_bench: the directory's own limit for the searches keydesk runs. N threads, one
// persistent LDAPS connection each, bound as keydesk's service account, each running the same
// search as keydesk (same filter, attributes, size limit) back to back for T seconds on random
// existing Key IDs:
//   equality   (&(objectClass=msFVE-RecoveryInformation)(msFVE-RecoveryGuid=\XX x16))  indexed
//   substring  (&(objectClass=msFVE-RecoveryInformation)(cn=*{XXXXXXXX*))  leading wildcard, a scan
// The Key IDs come from --sample-file; when it does not exist it is made first with a paged
// search over every recovery object (reservoir sample, deterministic), and the time that full
// read took is printed (what loading an in-memory index costs).
// Prints a human summary and one "RESULT key=value ..." line for tests/bench/run.sh.
#include <ldap.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "tests/bench/bench_common.hpp"

namespace {

using namespace keydesk::bench;

constexpr const char* usage =
    "usage: raw_ldap_bench --env STATE_DIR/env [--mode equality|substring|sample]\n"
    "         [--threads 16] [--duration 10] [--warmup 1] [--sample-file F] [--sample-size 2000]\n"
    "         [--prefix-chars 8] [--size-limit 50] [--timeout 120] [--seed 1] [--max-wait 300]\n"
    "  Closed loop: searches completing after the warm-up count; a thread stops after the window\n"
    "  once it has one result (at most max-wait s late), so slow scans still give figures.\n"
    "  env: the STATE_DIR/env of tests/directory/slapd/slapdctl.sh (KD_LDAPS_URI, KD_BASE_DN,\n"
    "       KD_BIND_DN, KD_BIND_PASSWORD_FILE, KD_CA_FILE)\n"
    "  mode sample: only make the sample file (and time the full paged read)\n";

struct DirectoryEnv {
    std::string uri, base_dn, bind_dn, password, ca_file;
};

std::map<std::string, std::string> read_env(std::string path) {
    if (std::filesystem::is_directory(path)) path += "/env";
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::map<std::string, std::string> values;
    std::string line;
    while (std::getline(in, line)) {
        const auto eq = line.find('=');
        if (eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return values;
}

DirectoryEnv directory_env(const std::string& path) {
    auto env = read_env(path);
    auto need = [&](const char* key) {
        if (!env.count(key)) throw std::runtime_error(std::string(key) + " missing in " + path);
        return env[key];
    };
    DirectoryEnv d{need("KD_LDAPS_URI"), need("KD_BASE_DN"), need("KD_BIND_DN"), "", need("KD_CA_FILE")};
    std::ifstream pw(need("KD_BIND_PASSWORD_FILE"));
    std::getline(pw, d.password, '\0');
    if (d.password.empty()) throw std::runtime_error("empty bind password file");
    return d;
}

void check(LDAP* ld, int code, const char* what) {
    if (code == LDAP_SUCCESS) return;
    std::string text = std::string(what) + ": " + ldap_err2string(code);
    if (ld) {
        char* diag = nullptr;
        ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
        if (diag) {
            text += std::string(" (") + diag + ")";
            ldap_memfree(diag);
        }
    }
    throw std::runtime_error(text);
}

// Connect and bind the way keydesk's ldap/connection.cpp does (LDAPS, CA verified, v3).
LDAP* connect_and_bind(const DirectoryEnv& d, int timeout_s) {
    LDAP* ld = nullptr;
    check(nullptr, ldap_initialize(&ld, d.uri.c_str()), "ldap_initialize");
    const int version = LDAP_VERSION3;
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    ldap_set_option(ld, LDAP_OPT_RESTART, LDAP_OPT_ON);
    const timeval timeout{timeout_s, 0};
    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &timeout);
    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &timeout);
    const int hard = LDAP_OPT_X_TLS_HARD;
    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &hard);
    ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, d.ca_file.c_str());
    const int tls_min = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
    ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls_min);
    const int is_server = 0;
    ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server);
    berval cred{static_cast<ber_len_t>(d.password.size()), const_cast<char*>(d.password.data())};
    const int code = ldap_sasl_bind_s(ld, d.bind_dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
    if (code != LDAP_SUCCESS) {
        std::string text;
        try {
            check(ld, code, "bind");
        } catch (const std::runtime_error& e) {
            text = e.what();
        }
        ldap_unbind_ext_s(ld, nullptr, nullptr);
        throw std::runtime_error(text);
    }
    return ld;
}

constexpr int stored_from_display[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

std::string key_id_from_guid(const unsigned char* b) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
        const auto byte = b[stored_from_display[i]];
        out.push_back(hex[byte >> 4]);
        out.push_back(hex[byte & 15]);
    }
    return out;
}

std::string hex_digits(const std::string& key_id) {
    std::string h;
    for (char c : key_id)
        if (c != '-') h.push_back(c);
    return h;
}

std::string equality_filter(const std::string& key_id) {
    const auto h = hex_digits(key_id);
    unsigned char stored[16];
    for (int i = 0; i < 16; ++i) {
        stored[stored_from_display[i]] = static_cast<unsigned char>(std::stoi(h.substr(2 * i, 2), nullptr, 16));
    }
    static const char hex[] = "0123456789abcdef";
    std::string f = "(&(objectClass=msFVE-RecoveryInformation)(msFVE-RecoveryGuid=";
    for (auto byte : stored) {
        f.push_back('\\');
        f.push_back(hex[byte >> 4]);
        f.push_back(hex[byte & 15]);
    }
    return f + "))";
}

// keydesk's filter for a prefix of up to 8 hex digits: "{XXXXXXXX" (a dash after 8 digits).
std::string substring_filter(const std::string& key_id, int chars) {
    std::string prefix = key_id.substr(0, static_cast<std::size_t>(chars <= 8 ? chars : chars + 1));
    return "(&(objectClass=msFVE-RecoveryInformation)(cn=*{" + prefix + "*))";
}

// Every recovery object's GUID through the paged-results control; keeps a reservoir sample.
std::vector<std::string> sample_keys(const DirectoryEnv& d, std::size_t wanted, unsigned seed,
                                     std::size_t& total, double& seconds) {
    LDAP* ld = connect_and_bind(d, 120);
    std::mt19937_64 rng(seed);
    std::vector<std::string> sample;
    total = 0;
    berval* cookie = nullptr;
    char attr[] = "msFVE-RecoveryGuid";
    char* attrs[] = {attr, nullptr};
    const auto started = Clock::now();
    do {
        LDAPControl* page = nullptr;
        check(ld, ldap_create_page_control(ld, 1000, cookie, 0, &page), "page control");
        LDAPControl* controls[] = {page, nullptr};
        LDAPMessage* result = nullptr;
        timeval timeout{120, 0};
        const int code = ldap_search_ext_s(ld, d.base_dn.c_str(), LDAP_SCOPE_SUBTREE,
                                           "(objectClass=msFVE-RecoveryInformation)", attrs, 0,
                                           controls, nullptr, &timeout, 0, &result);
        ldap_control_free(page);
        if (cookie) ber_bvfree(cookie);
        cookie = nullptr;
        check(ld, code, "paged search");
        for (auto* e = ldap_first_entry(ld, result); e; e = ldap_next_entry(ld, e)) {
            berval** values = ldap_get_values_len(ld, e, attr);
            if (values && values[0] && values[0]->bv_len == 16) {
                auto id = key_id_from_guid(reinterpret_cast<const unsigned char*>(values[0]->bv_val));
                ++total;
                if (sample.size() < wanted) {
                    sample.push_back(std::move(id));
                } else {
                    const auto slot = rng() % total;
                    if (slot < wanted) sample[slot] = std::move(id);
                }
            }
            if (values) ldap_value_free_len(values);
        }
        int err = 0;
        LDAPControl** returned = nullptr;
        check(ld, ldap_parse_result(ld, result, &err, nullptr, nullptr, nullptr, &returned, 1), "parse result");
        check(ld, err, "paged search result");
        if (auto* response = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, returned, nullptr)) {
            ber_int_t estimate = 0;
            berval next{0, nullptr};
            check(ld, ldap_parse_pageresponse_control(ld, response, &estimate, &next), "page response");
            if (next.bv_len > 0) {
                cookie = ber_bvdup(&next);
            }
            ber_memfree(next.bv_val);
        }
        if (returned) ldap_controls_free(returned);
    } while (cookie);
    seconds = std::chrono::duration<double>(Clock::now() - started).count();
    ldap_unbind_ext_s(ld, nullptr, nullptr);
    std::shuffle(sample.begin(), sample.end(), rng);
    return sample;
}

struct ThreadResult {
    std::vector<std::uint32_t> micros;
    std::map<std::string, std::size_t> errors;
    std::size_t misses = 0, entries = 0, reconnects = 0;
    Clock::time_point last_done{};
};

}  // namespace

int main(int argc, char** argv) try {
    Options opt(argc, argv,
                {{"env", ""}, {"mode", "equality"}, {"threads", "16"}, {"duration", "10"},
                 {"warmup", "1"}, {"sample-file", ""}, {"sample-size", "2000"},
                 {"prefix-chars", "8"}, {"size-limit", "50"}, {"timeout", "120"}, {"seed", "1"},
                 {"max-wait", "300"}},
                usage);
    if (opt.str("env").empty()) {
        std::fputs(usage, stderr);
        return 2;
    }
    const auto dir = directory_env(opt.str("env"));
    const auto mode = opt.str("mode");
    if (mode != "equality" && mode != "substring" && mode != "sample") {
        std::fputs(usage, stderr);
        return 2;
    }

    std::vector<std::string> keys;
    const auto sample_file = opt.str("sample-file");
    if (!sample_file.empty() && std::filesystem::exists(sample_file)) {
        keys = read_key_file(sample_file);
    } else {
        std::size_t total = 0;
        double seconds = 0;
        keys = sample_keys(dir, static_cast<std::size_t>(opt.integer("sample-size")),
                           static_cast<unsigned>(opt.integer("seed")), total, seconds);
        std::printf("sample: paged read of all %zu recovery objects (GUID only) took %.2f s; kept %zu\n",
                    total, seconds, keys.size());
        std::printf("RESULT mode=paged_read objects=%zu seconds=%.3f\n", total, seconds);
        if (!sample_file.empty()) {
            const auto tmp = sample_file + ".tmp";
            {
                std::ofstream out(tmp);
                out << "# " << keys.size() << " of " << total << " Key IDs; paged read of all "
                    << total << " recovery objects (GUID only, 1 connection) " << seconds << " s\n";
                for (const auto& k : keys) out << k << "\n";
            }
            std::filesystem::rename(tmp, sample_file);
        }
    }
    if (mode == "sample") return 0;

    const int threads = static_cast<int>(opt.integer("threads"));
    const int timeout_s = static_cast<int>(opt.integer("timeout"));
    const int size_limit = static_cast<int>(opt.integer("size-limit"));
    const int prefix_chars = static_cast<int>(opt.integer("prefix-chars"));
    const auto warmup = std::chrono::duration<double>(opt.number("warmup"));
    const auto duration = std::chrono::duration<double>(opt.number("duration"));
    const auto max_wait = std::chrono::seconds(opt.integer("max-wait"));

    std::vector<ThreadResult> results(static_cast<std::size_t>(threads));
    std::vector<std::thread> workers;
    std::atomic<int> connected{0};
    std::atomic<bool> go{false};
    std::mutex fail_mutex;
    std::string first_failure;
    Clock::time_point window_start, window_end;

    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            auto& r = results[static_cast<std::size_t>(t)];
            std::mt19937_64 rng(static_cast<unsigned>(opt.integer("seed")) * 7919u + static_cast<unsigned>(t));
            LDAP* ld = nullptr;
            try {
                ld = connect_and_bind(dir, timeout_s);
            } catch (const std::exception& e) {
                std::lock_guard lock(fail_mutex);
                if (first_failure.empty()) first_failure = e.what();
            }
            ++connected;
            while (!go) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            if (!ld) return;
            char a1[] = "cn", a2[] = "msFVE-RecoveryGuid", a3[] = "msFVE-VolumeGuid";
            char* attrs[] = {a1, a2, a3, nullptr};
            std::size_t counted = 0;
            // Closed loop: results that complete after the warm-up count; after the window each
            // thread stops once it has at least one result (slow scans still give a figure).
            for (auto now = Clock::now(); now < window_end || counted == 0; now = Clock::now()) {
                if (now > window_end + max_wait) break;
                const auto& key = keys[rng() % keys.size()];
                const auto filter = mode == "equality" ? equality_filter(key) : substring_filter(key, prefix_chars);
                const auto started = Clock::now();
                LDAPMessage* result = nullptr;
                timeval timeout{timeout_s, 0};
                const int code = ldap_search_ext_s(ld, dir.base_dn.c_str(), LDAP_SCOPE_SUBTREE,
                                                   filter.c_str(), attrs, 0, nullptr, nullptr,
                                                   &timeout, size_limit, &result);
                // Read the entries as keydesk does (values copied out), then time the whole call.
                std::size_t found = 0;
                for (auto* e = result ? ldap_first_entry(ld, result) : nullptr; e; e = ldap_next_entry(ld, e)) {
                    ++found;
                    char* dn = ldap_get_dn(ld, e);
                    ldap_memfree(dn);
                    for (char** a = attrs; *a; ++a) {
                        berval** v = ldap_get_values_len(ld, e, *a);
                        if (v) ldap_value_free_len(v);
                    }
                }
                if (result) ldap_msgfree(result);
                const auto done = Clock::now();
                if (done < window_start) continue;
                ++counted;
                r.last_done = std::max(r.last_done, done);
                if (code != LDAP_SUCCESS && code != LDAP_SIZELIMIT_EXCEEDED) {
                    ++r.errors[ldap_err2string(code)];
                    if (code == LDAP_SERVER_DOWN || code == LDAP_TIMEOUT) {
                        ldap_unbind_ext_s(ld, nullptr, nullptr);
                        ld = nullptr;
                        try {
                            ld = connect_and_bind(dir, timeout_s);
                            ++r.reconnects;
                        } catch (const std::exception&) {
                            return;
                        }
                    }
                    continue;
                }
                if (found == 0) ++r.misses;
                r.entries += found;
                r.micros.push_back(static_cast<std::uint32_t>(
                    std::chrono::duration_cast<std::chrono::microseconds>(done - started).count()));
            }
            if (ld) ldap_unbind_ext_s(ld, nullptr, nullptr);
        });
    }
    while (connected < threads) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!first_failure.empty()) {
        go = true;
        for (auto& w : workers) w.join();
        throw std::runtime_error("connect/bind failed: " + first_failure);
    }
    const auto now = Clock::now();
    window_start = now + std::chrono::duration_cast<Clock::duration>(warmup);
    window_end = window_start + std::chrono::duration_cast<Clock::duration>(duration);
    go = true;
    for (auto& w : workers) w.join();

    std::vector<std::uint32_t> all;
    std::map<std::string, std::size_t> errors;
    std::size_t misses = 0, entries = 0, reconnects = 0, error_count = 0;
    auto last_done = window_end;
    for (auto& r : results) {
        last_done = std::max(last_done, r.last_done);
        all.insert(all.end(), r.micros.begin(), r.micros.end());
        for (auto& [k, v] : r.errors) {
            errors[k] += v;
            error_count += v;
        }
        misses += r.misses;
        entries += r.entries;
        reconnects += r.reconnects;
    }
    const auto s = summarize(all);
    const double secs = std::chrono::duration<double>(last_done - window_start).count();
    std::ostringstream error_text;
    for (auto& [k, v] : errors) error_text << " [" << k << "]=" << v;
    std::printf("raw %s: %d threads, %.1f s: %zu searches, %.1f/s, p50 %.3f ms, p90 %.3f ms, "
                "p99 %.3f ms, max %.3f ms, %.2f entries/search, %zu misses, %zu errors%s\n",
                mode.c_str(), threads, secs, s.count, static_cast<double>(s.count) / secs, s.p50_ms,
                s.p90_ms, s.p99_ms, s.max_ms, s.count ? static_cast<double>(entries) / static_cast<double>(s.count) : 0.0,
                misses, error_count, error_text.str().c_str());
    std::printf("RESULT mode=%s threads=%d seconds=%.3f requests=%zu rps=%.3f p50_ms=%.3f "
                "p90_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f misses=%zu errors=%zu reconnects=%zu\n",
                mode.c_str(), threads, secs, s.count, static_cast<double>(s.count) / secs, s.p50_ms,
                s.p90_ms, s.p99_ms, s.max_ms, s.mean_ms, misses, error_count, reconnects);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "raw_ldap_bench: %s\n", e.what());
    return 1;
}
