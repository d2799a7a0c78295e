// Small shared pieces of the benchmark programs: latency summaries, the Key ID sample file,
// command-line parsing. Header-only, no keydesk code (the benchmarks measure from outside).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace keydesk::bench {

using Clock = std::chrono::steady_clock;

inline std::uint32_t micros_since(Clock::time_point start) {
    return static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
}

struct Summary {
    std::size_t count = 0;
    double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0, mean_ms = 0;
};

// Nearest-rank percentiles of latencies in microseconds (sorts the vector).
inline Summary summarize(std::vector<std::uint32_t>& micros) {
    Summary s;
    s.count = micros.size();
    if (micros.empty()) return s;
    std::sort(micros.begin(), micros.end());
    auto at = [&](double q) {
        auto rank = static_cast<std::size_t>(q * static_cast<double>(micros.size()) + 0.999999);
        rank = std::clamp<std::size_t>(rank, 1, micros.size());
        return micros[rank - 1] / 1000.0;
    };
    s.p50_ms = at(0.50);
    s.p90_ms = at(0.90);
    s.p99_ms = at(0.99);
    s.max_ms = micros.back() / 1000.0;
    double total = 0;
    for (auto m : micros) total += m;
    s.mean_ms = total / static_cast<double>(micros.size()) / 1000.0;
    return s;
}

// One dashed Key ID per line ("063EA4E1-220C-4293-BA01-4754620A96E7"); '#' lines are comments.
inline std::vector<std::string> read_key_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::vector<std::string> keys;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        if (line.size() != 36) throw std::runtime_error(path + ": not a Key ID: " + line);
        keys.push_back(line);
    }
    if (keys.empty()) throw std::runtime_error(path + ": no Key IDs");
    return keys;
}

// "--name value" options; every option has a default, unknown options are an error.
class Options {
public:
    Options(int argc, char** argv, std::map<std::string, std::string> defaults, const char* usage)
        : values_(std::move(defaults)) {
        for (int i = 1; i < argc; ++i) {
            std::string name = argv[i];
            if (name == "-h" || name == "--help") {
                std::fputs(usage, stdout);
                std::exit(0);
            }
            if (name.rfind("--", 0) != 0 || !values_.count(name.substr(2)) || i + 1 >= argc) {
                std::fprintf(stderr, "bad option %s\n%s", name.c_str(), usage);
                std::exit(2);
            }
            values_[name.substr(2)] = argv[++i];
        }
    }
    const std::string& str(const std::string& name) const { return values_.at(name); }
    long integer(const std::string& name) const { return std::stol(values_.at(name)); }
    double number(const std::string& name) const { return std::stod(values_.at(name)); }

private:
    std::map<std::string, std::string> values_;
};

}  // namespace keydesk::bench
