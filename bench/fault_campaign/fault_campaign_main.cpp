// fault_campaign_main.cpp: build/bin/delos-fault-campaign, the Theseus-style fault-injection
// campaign (docs/fault-campaign.md). For each workload it first runs a fault-free coverage run
// (which target instructions run; the workload must be correct and leak-free), then N runs in
// fresh QEMU guests, each with one fault chosen from the seed, and prints a table per workload
// and fault type, the totals and every failure as a --replay line.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "campaign_run.h"
#include "guest_report.h"
#include "injection_point.h"

#ifndef DELOS_BUILD_DIR
#define DELOS_BUILD_DIR "build"
#endif

namespace {

using namespace delos::fault_campaign;

struct Options {
    std::uint64_t faults = 30;
    std::uint64_t seed = 1;
    bool json = false;
    std::vector<std::string> workloads{"kv", "pipeline", "session", "counter", "pages"};
    std::vector<FaultType> types{FaultType::Word, FaultType::Bit, FaultType::Skip};
    std::vector<std::string> replays;
    unsigned jobs = 1;
    double min_recovered_pct = -1;  // exit 1 below this
    std::int64_t max_leaked_runs = -1;
    std::int64_t min_manifested = -1;
    bool quiet = false;
    RunConfig run;
};

void usage()
{
    std::cerr << "usage: delos-fault-campaign [--faults N] [--seed S] [--json] [--workload W[,W...]] [--types word,bit,skip]\n"
                 "                            [--jobs J] [--replay POINT]... [--deadline SECONDS]\n"
                 "                            [--min-recovered-pct P] [--max-leaked-runs L] [--min-manifested M]\n"
                 "                            [--kernel delos.elf] [--archive fault-campaign.a] [--qemu PATH] [--quiet]\n"
                 "                            [--keep-consoles DIR]\n"
                 "workloads: kv, pipeline, session, counter, pages, session-stateful (the deliberately stateful server)\n";
}

std::vector<std::string> split_list(const std::string& text)
{
    std::vector<std::string> parts;
    std::stringstream stream(text);
    std::string part;
    while (std::getline(stream, part, ','))
        if (!part.empty())
            parts.push_back(part);
    return parts;
}

bool parse_options(int argc, char** argv, Options& options)
{
    options.run.kernel = std::string(DELOS_BUILD_DIR) + "/guest/delos.elf";
    options.run.archive = std::string(DELOS_BUILD_DIR) + "/cells/fault-campaign.a";
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::cerr << "delos-fault-campaign: " << arg << " needs a value\n";
                std::exit(2);
            }
            return argv[++i];
        };
        try {
            if (arg == "--faults")
                options.faults = std::stoull(value());
            else if (arg == "--seed")
                options.seed = std::stoull(value(), nullptr, 0);
            else if (arg == "--json")
                options.json = true;
            else if (arg == "--quiet")
                options.quiet = true;
            else if (arg == "--workload")
                options.workloads = split_list(value());
            else if (arg == "--types") {
                options.types.clear();
                for (const auto& name : split_list(value())) {
                    auto type = fault_type_from_name(name);
                    if (!type) {
                        std::cerr << "delos-fault-campaign: unknown fault type " << name << "\n";
                        return false;
                    }
                    options.types.push_back(*type);
                }
            } else if (arg == "--jobs")
                options.jobs = static_cast<unsigned>(std::max(1ull, std::stoull(value())));
            else if (arg == "--replay")
                options.replays.push_back(value());
            else if (arg == "--deadline")
                options.run.deadline = std::chrono::milliseconds(static_cast<long long>(std::stod(value()) * 1000));
            else if (arg == "--min-recovered-pct")
                options.min_recovered_pct = std::stod(value());
            else if (arg == "--max-leaked-runs")
                options.max_leaked_runs = std::stoll(value());
            else if (arg == "--min-manifested")
                options.min_manifested = std::stoll(value());
            else if (arg == "--kernel")
                options.run.kernel = value();
            else if (arg == "--archive")
                options.run.archive = value();
            else if (arg == "--keep-consoles")
                options.run.keep_consoles = value();
            else if (arg == "--qemu")
                options.run.qemu = value();
            else if (arg == "--help" || arg == "-h") {
                usage();
                std::exit(0);
            } else {
                std::cerr << "delos-fault-campaign: unknown option " << arg << "\n";
                usage();
                return false;
            }
        } catch (const std::exception&) {
            std::cerr << "delos-fault-campaign: bad value for " << arg << "\n";
            return false;
        }
    }
    for (const auto& workload : options.workloads) {
        if (target_of_workload(workload).empty()) {
            std::cerr << "delos-fault-campaign: unknown workload " << workload << "\n";
            return false;
        }
    }
    if (options.types.empty() || options.workloads.empty())
        return false;
    return true;
}

struct Tally {
    std::uint64_t runs = 0, not_activated = 0, not_manifested = 0, recovered = 0, failed = 0, leaked = 0;
    std::uint64_t manifested() const { return recovered + failed; }
    double recovered_pct() const { return manifested() ? 100.0 * static_cast<double>(recovered) / static_cast<double>(manifested()) : 0.0; }
    void add(const RunResult& result)
    {
        ++runs;
        switch (result.outcome) {
        case Outcome::NotActivated: ++not_activated; break;
        case Outcome::NotManifested: ++not_manifested; break;
        case Outcome::Recovered: ++recovered; break;
        case Outcome::Failed: ++failed; break;
        }
        if (result.leaked)
            ++leaked;
    }
};

struct Planned {
    InjectionPoint point;
    std::uint64_t index = 0;
    RunResult result;
};

std::string json_escape(const std::string& text)
{
    std::string out;
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buffer[8];
            std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
            out += buffer;
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::string tally_json(const Tally& tally)
{
    char buffer[512];
    std::snprintf(buffer, sizeof buffer,
                  "{\"runs\":%llu,\"not_activated\":%llu,\"not_manifested\":%llu,\"manifested\":%llu,\"recovered\":%llu,"
                  "\"failed\":%llu,\"recovered_pct\":%.2f,\"leaked_runs\":%llu}",
                  (unsigned long long)tally.runs, (unsigned long long)tally.not_activated, (unsigned long long)tally.not_manifested,
                  (unsigned long long)tally.manifested(), (unsigned long long)tally.recovered, (unsigned long long)tally.failed,
                  tally.recovered_pct(), (unsigned long long)tally.leaked);
    return buffer;
}

void print_row(const std::string& workload, const std::string& type, const Tally& tally)
{
    std::printf("%-17s %-6s %6llu %10llu %10llu %10llu %10llu %7llu %10.1f %7llu\n", workload.c_str(), type.c_str(),
                (unsigned long long)tally.runs, (unsigned long long)tally.not_activated, (unsigned long long)tally.not_manifested,
                (unsigned long long)tally.manifested(), (unsigned long long)tally.recovered, (unsigned long long)tally.failed,
                tally.recovered_pct(), (unsigned long long)tally.leaked);
}

} // namespace

int main(int argc, char** argv)
{
    Options options;
    if (!parse_options(argc, argv, options)) {
        usage();
        return 2;
    }
    if (::access(options.run.kernel.c_str(), R_OK) != 0 || ::access(options.run.archive.c_str(), R_OK) != 0) {
        std::cerr << "delos-fault-campaign: need " << options.run.kernel << " and " << options.run.archive
                  << " (cmake --build build --target guest cells)\n";
        return 2;
    }
    if (!options.run.keep_consoles.empty()) {
        std::error_code error;
        std::filesystem::create_directories(options.run.keep_consoles, error);
        if (error) {
            std::cerr << "delos-fault-campaign: --keep-consoles " << options.run.keep_consoles << ": " << error.message() << "\n";
            return 2;
        }
    }
    char directory_template[] = "/tmp/delos-fault-campaign-XXXXXX";
    if (!::mkdtemp(directory_template)) {
        std::perror("delos-fault-campaign: mkdtemp");
        return 2;
    }
    options.run.work_directory = directory_template;
    auto campaign_start = std::chrono::steady_clock::now();
    std::string cells_directory = options.run.archive.substr(0, options.run.archive.rfind('/'));

    // The plan: replays as given, or per workload a coverage run and then the seeded points.
    std::vector<Planned> plan;
    std::map<std::string, CoverageResult> coverage;
    std::vector<std::string> workloads = options.workloads;
    if (!options.replays.empty()) {
        for (const auto& text : options.replays) {
            std::string error;
            auto point = parse_point(text, error);
            if (!point || target_of_workload(point->workload).empty()) {
                std::cerr << "delos-fault-campaign: --replay " << text << ": " << (point ? "unknown workload" : error) << "\n";
                return 2;
            }
            plan.push_back(Planned{*point, plan.size(), {}});
        }
        workloads.clear();
    }
    for (const auto& workload : workloads) {
        std::string object = cells_directory + "/" + target_of_workload(workload) + ".o";
        std::string error;
        auto instructions = disassemble_cell(object, error);
        if (instructions.empty()) {
            std::cerr << "delos-fault-campaign: " << error << "\n";
            return 2;
        }
        if (!options.quiet)
            std::cerr << "coverage run: " << workload << " (" << instructions.size() << " instructions in "
                      << target_of_workload(workload) << ")...\n";
        CoverageResult result = run_coverage(options.run, workload, instructions, "coverage-" + workload);
        if (!result.ok) {
            std::cerr << "delos-fault-campaign: coverage run of " << workload << " failed: " << result.error << "\n";
            return 3;
        }
        if (!options.quiet)
            std::cerr << "coverage run: " << workload << ": " << result.covered.size() << " of " << instructions.size()
                      << " instructions ran (" << result.stops << " stops, " << result.seconds << " s); fault-free verdict "
                      << result.report.verdict->verdict << ", no leak\n";
        coverage[workload] = std::move(result);
    }
    if (options.replays.empty()) {
        for (std::uint64_t i = 0; i < options.faults; ++i) {
            const std::string& workload = workloads[i % workloads.size()];
            FaultType type = options.types[(i / workloads.size()) % options.types.size()];
            const CoverageResult& covered = coverage[workload];
            auto point = choose_point(mix_seed(options.seed, i), workload, type, covered.covered, covered.sections);
            if (point)
                plan.push_back(Planned{*point, i, {}});
        }
    }

    // The runs, `jobs` at a time.
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> finished{0};
    std::mutex progress;
    auto worker = [&](unsigned job) {
        for (;;) {
            std::size_t index = next.fetch_add(1);
            if (index >= plan.size())
                return;
            Planned& planned = plan[index];
            // A run in which no fault reached the guest is run again, twice at most: a guest that
            // never got ready (a boot that failed under a loaded host), or a debugger request QEMU
            // refused before or while injecting (a transient `E14` from its gdbstub; the write did
            // not happen, so the guest was never faulted). Whatever still fails is counted.
            for (int attempt = 0; attempt < 3; ++attempt) {
                planned.result = run_injection(options.run, planned.point, "run-" + std::to_string(job) + "-" + std::to_string(index));
                if (!is_retryable_harness_error(planned.result.what))
                    break;
            }
            std::size_t done = ++finished;
            if (!options.quiet) {
                std::lock_guard lock(progress);
                std::fprintf(stderr, "[%zu/%zu] %-16s %-4s %-15s %5.1f s  %s%s%s\n", done, plan.size(), planned.point.workload.c_str(),
                             fault_type_name(planned.point.type), outcome_name(planned.result.outcome), planned.result.seconds,
                             format_point(planned.point).c_str(), planned.result.what.empty() ? "" : "  -- ",
                             planned.result.what.c_str());
            }
        }
    };
    std::vector<std::thread> threads;
    for (unsigned job = 0; job < options.jobs; ++job)
        threads.emplace_back(worker, job);
    for (auto& thread : threads)
        thread.join();
    ::rmdir(directory_template);

    // The tables.
    Tally total;
    std::map<std::string, Tally> by_type;
    std::map<std::string, std::map<std::string, Tally>> by_workload_type;
    std::map<std::string, Tally> by_workload;
    std::vector<const Planned*> failures;
    std::uint64_t harness_errors = 0;
    for (const Planned& planned : plan) {
        const RunResult& result = planned.result;
        std::string type = fault_type_name(planned.point.type);
        if (result.what.starts_with("harness:"))
            ++harness_errors;
        total.add(result);
        by_type[type].add(result);
        by_workload[planned.point.workload].add(result);
        by_workload_type[planned.point.workload][type].add(result);
        if (result.outcome == Outcome::Failed)
            failures.push_back(&planned);
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - campaign_start).count();
    if (options.json) {
        std::printf("{\"seed\":%llu,\"faults\":%zu,\"seconds\":%.1f,\"harness_errors\":%llu,", (unsigned long long)options.seed,
                    plan.size(), seconds, (unsigned long long)harness_errors);
        std::string totals = tally_json(total);
        std::printf("%s,", totals.substr(1, totals.size() - 2).c_str());
        std::printf("\"per_type\":{");
        bool first = true;
        for (const auto& [type, tally] : by_type) {
            std::printf("%s\"%s\":%s", first ? "" : ",", type.c_str(), tally_json(tally).c_str());
            first = false;
        }
        std::printf("},\"per_workload\":{");
        first = true;
        for (const auto& [workload, types] : by_workload_type) {
            std::printf("%s\"%s\":{\"total\":%s", first ? "" : ",", workload.c_str(), tally_json(by_workload[workload]).c_str());
            for (const auto& [type, tally] : types)
                std::printf(",\"%s\":%s", type.c_str(), tally_json(tally).c_str());
            std::printf("}");
            first = false;
        }
        std::printf("},\"failures\":[");
        for (std::size_t i = 0; i < failures.size(); ++i) {
            std::printf("%s{\"replay\":\"%s\",\"what\":\"%s\",\"injection\":\"%s\"}", i ? "," : "",
                        json_escape(format_point(failures[i]->point)).c_str(), json_escape(failures[i]->result.what).c_str(),
                        json_escape(failures[i]->result.injection).c_str());
        }
        std::printf("]}\n");
    } else {
        std::printf("fault campaign: seed %llu, %zu runs, %.0f s (QEMU TCG, a fresh VM per run)\n\n", (unsigned long long)options.seed,
                    plan.size(), seconds);
        std::printf("%-17s %-6s %6s %10s %10s %10s %10s %7s %10s %7s\n", "workload", "type", "runs", "not-activ.", "not-manif.",
                    "manifested", "recovered", "failed", "recovered%", "leaked");
        for (const auto& [workload, types] : by_workload_type) {
            for (const auto& [type, tally] : types)
                print_row(workload, type, tally);
            print_row(workload, "all", by_workload[workload]);
        }
        for (const auto& [type, tally] : by_type)
            print_row("all", type, tally);
        print_row("total", "all", total);
        std::printf("\nTheseus (OSDI'20, 5 workloads): 617 manifested, 428 recovered (69.4 %%); bit flips 36.5 %%.\n");
        if (harness_errors)
            std::printf("%llu run(s) failed in the harness, not the guest (counted as failed).\n", (unsigned long long)harness_errors);
        if (!failures.empty()) {
            std::printf("\nfailures (replay one alone with: build/bin/delos-fault-campaign --replay POINT):\n");
            for (const Planned* failure : failures)
                std::printf("  %s\n      %s; %s\n", format_point(failure->point).c_str(), failure->result.what.c_str(),
                            failure->result.injection.c_str());
        }
    }
    int status = 0;
    if (options.min_recovered_pct >= 0 && total.recovered_pct() < options.min_recovered_pct) {
        std::fprintf(stderr, "delos-fault-campaign: recovered %.1f %% < required %.1f %%\n", total.recovered_pct(), options.min_recovered_pct);
        status = 1;
    }
    if (options.max_leaked_runs >= 0 && static_cast<std::int64_t>(total.leaked) > options.max_leaked_runs) {
        std::fprintf(stderr, "delos-fault-campaign: %llu leaked run(s) > allowed %lld\n", (unsigned long long)total.leaked,
                     (long long)options.max_leaked_runs);
        status = 1;
    }
    if (options.min_manifested >= 0 && static_cast<std::int64_t>(total.manifested()) < options.min_manifested) {
        std::fprintf(stderr, "delos-fault-campaign: %llu manifested < required %lld\n", (unsigned long long)total.manifested(),
                     (long long)options.min_manifested);
        status = 1;
    }
    if (harness_errors && (options.min_recovered_pct >= 0 || options.max_leaked_runs >= 0))
        status = 1;
    return status;
}
