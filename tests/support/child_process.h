// child_process.h: run a program with a time limit and capture what it printed (tests, benchmarks).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace delos::test {

struct ChildResult {
    int exit_code = -1;       // -1 when killed by a signal or the time limit
    bool timed_out = false;
    std::string out;
    std::string err;
    double elapsed_ms = 0;
    // Milliseconds from start until `watch_for` first appeared on stdout (negative if never).
    double watch_ms = -1;
};

struct ChildOptions {
    std::chrono::milliseconds time_limit{std::chrono::seconds(60)};
    std::string watch_for;  // optional stdout marker to time (e.g. "delos: ready")
};

ChildResult run_child(const std::vector<std::string>& argv, const ChildOptions& options = {});

// Whether an executable can be found on PATH (or at the given path).
bool program_exists(const std::string& name);
bool kvm_available();

} // namespace delos::test
