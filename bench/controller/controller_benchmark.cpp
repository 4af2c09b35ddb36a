// controller_benchmark.cpp: delos-bench-controller. A real delosd (child process) attached to a
// guest agent (delos-fake-guest's, in this process: the guest's codec, SHA-256 and cell reader
// on a unix socket; no VM runs on this KVM-less machine); measured in the same run:
//   - push + load of hello.o through gRPC -> delosd -> guest, p50/p99, and the same through
//     the delosctl program (process start included);
//   - baseline: the same push + load straight over the channel (ChannelClient) to a second agent;
//   - bulk push (bulk.o, 1 MiB, staged) through delosd and straight, MiB/s;
//   - guest fault event -> delivered to a WatchFaults client, p50/p99.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "background_process.h"
#include "cell_push.h"
#include "cell_signature.h"
#include "channel_client.h"
#include "controller_connection.h"
#include "child_process.h"
#include "delos/v1/controller.grpc.pb.h"
#include "fake_guest.h"

using namespace delos;
using namespace delos::test;
using Clock = std::chrono::steady_clock;

namespace {

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

double ms_since(Clock::time_point start) { return std::chrono::duration<double, std::milli>(Clock::now() - start).count(); }

double percentile(std::vector<double> values, double p)
{
    if (values.empty())
        return -1;
    std::sort(values.begin(), values.end());
    auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(index, values.size() - 1)];
}

grpc::Status grpc_push(v1::Controller::Stub& stub, const std::string& vm, const std::string& cell, const std::string& object,
                       v1::PushAction action)
{
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::PushCellResponse response;
    auto writer = stub.PushCell(&context, &response);
    v1::PushCellRequest part;
    auto* header = part.mutable_header();
    header->set_vm(vm);
    header->set_cell(cell);
    header->set_total_size(object.size());
    header->set_sha256(controller::sha256_of(object));
    header->set_action(action);
    writer->Write(part);
    constexpr std::size_t kChunk = 256 * 1024;  // what delosctl sends
    for (std::size_t offset = 0; offset < object.size(); offset += kChunk) {
        part.set_chunk(object.substr(offset, kChunk));
        if (!writer->Write(part))
            break;
    }
    writer->WritesDone();
    return writer->Finish();
}

std::string json_number(double value) { return value < 0 ? "null" : std::to_string(value); }

channel::FaultReport bench_fault()
{
    channel::FaultReport report;
    report.cell_name = String(StringView("kv", 2));
    report.cell_version = String(StringView("1.2.0", 5));
    report.kind = channel::FaultKind::PageFault;
    report.symbol = String(StringView("kv::put", 7));
    return report;
}

} // namespace

int main(int argc, char** argv)
{
    bool json = false;
    int runs = 50;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--json") == 0)
            json = true;
        else if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = std::max(3, std::atoi(argv[++i]));
        else {
            std::fprintf(stderr, "usage: delos-bench-controller [--runs N] [--json]\n");
            return 2;
        }
    }
    std::string build = DELOS_BUILD_DIR;
    std::string small = read_file(build + "/cells/hello.o");
    std::string bulk = read_file(build + "/cells/bulk.o");
    if (small.empty() || bulk.empty()) {
        std::fprintf(stderr, "delos-bench-controller: build the cells first (cmake --build build --target cells)\n");
        return 2;
    }
    char pattern[] = "/tmp/dbench-XXXXXX";
    std::string dir = ::mkdtemp(pattern);

    chan::FakeGuest through_delosd(dir + "/a.sock");
    chan::FakeGuest straight(dir + "/b.sock");
    BackgroundProcess delosd({build + "/bin/delosd", "--state-dir", dir + "/state", "--listen", "unix:" + dir + "/d.sock",
                              "--allow-unsigned", "--log-level", "warn"});
    std::string server = "unix:" + dir + "/d.sock";
    controller::ConnectOptions connect;
    connect.server = server;
    auto stub = v1::Controller::NewStub(controller::connect_controller(connect));  // as delosctl connects
    {
        bool created = false;
        for (int attempt = 0; attempt < 200 && !created; ++attempt) {
            grpc::ClientContext context;
            v1::CreateVmRequest request;
            request.mutable_spec()->set_name("bench");
            request.mutable_spec()->set_runner(v1::RUNNER_ATTACH);
            request.mutable_spec()->set_control_socket(dir + "/a.sock");
            v1::Vm vm;
            created = stub->CreateVm(&context, request, &vm).ok();
            if (!created)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        if (!created || !through_delosd.wait_connected(10000)) {
            std::fprintf(stderr, "delos-bench-controller: delosd did not come up:\n%s", delosd.output().c_str());
            return 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the session's hello
    }

    // Push + load through delosd (gRPC), then straight over the channel.
    std::vector<double> via_grpc, via_channel, via_delosctl;
    for (int i = 0; i < runs; ++i) {
        auto start = Clock::now();
        grpc::Status status = grpc_push(*stub, "bench", "hello", small, v1::PUSH_ACTION_LOAD);
        if (!status.ok()) {
            std::fprintf(stderr, "delos-bench-controller: push failed: %s\n", status.error_message().c_str());
            return 1;
        }
        via_grpc.push_back(ms_since(start));
    }
    chan::ChannelClient client(dir + "/b.sock", std::chrono::milliseconds(10000));
    client.hello("bench");
    for (int i = 0; i < runs; ++i) {
        auto start = Clock::now();
        chan::push_cell(client, "hello", small, {});
        v1::HostMessage load;
        load.mutable_load_cell()->set_name("hello");
        client.call(std::move(load));
        via_channel.push_back(ms_since(start));
    }
    std::string small_path = dir + "/hello.o";
    std::ofstream(small_path, std::ios::binary).write(small.data(), static_cast<std::streamsize>(small.size()));
    for (int i = 0; i < std::min(runs, 15); ++i) {
        auto result = run_child({build + "/bin/delosctl", "--server", server, "push", small_path, "--vm", "bench", "--load",
                                 "--no-progress"});
        if (result.exit_code != 0) {
            std::fprintf(stderr, "delos-bench-controller: delosctl push failed: %s\n", result.err.c_str());
            return 1;
        }
        via_delosctl.push_back(result.elapsed_ms);
    }

    // Bulk: stage bulk.o, MiB/s (median of runs/5 pushes each way).
    int bulk_runs = std::max(3, runs / 5);
    std::vector<double> bulk_grpc, bulk_channel;
    double mib = static_cast<double>(bulk.size()) / (1 << 20);
    for (int i = 0; i < bulk_runs; ++i) {
        auto start = Clock::now();
        if (!grpc_push(*stub, "bench", "bulk", bulk, v1::PUSH_ACTION_STAGE).ok())
            return 1;
        bulk_grpc.push_back(mib / (ms_since(start) / 1000));
        start = Clock::now();
        chan::push_cell(client, "bulk", bulk, {});
        bulk_channel.push_back(mib / (ms_since(start) / 1000));
    }

    // Fault -> watching client.
    std::mutex mutex;
    std::condition_variable arrived;
    std::uint64_t received = 0;
    Clock::time_point received_at;
    grpc::ClientContext watch_context;
    v1::WatchFaultsRequest watch;
    watch.set_only_new(true);
    auto reader = stub->WatchFaults(&watch_context, watch);
    std::thread watcher([&] {
        v1::FaultRecord record;
        while (reader->Read(&record)) {
            std::lock_guard lock(mutex);
            ++received;
            received_at = Clock::now();
            arrived.notify_all();
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the watch is open
    std::vector<double> fault_ms;
    for (int i = 0; i < runs; ++i) {
        std::unique_lock lock(mutex);
        std::uint64_t before = received;
        auto start = Clock::now();
        lock.unlock();
        through_delosd.emit_fault(bench_fault());
        lock.lock();
        if (!arrived.wait_for(lock, std::chrono::seconds(10), [&] { return received > before; })) {
            std::fprintf(stderr, "delos-bench-controller: a fault never reached the watcher\n");
            return 1;
        }
        fault_ms.push_back(std::chrono::duration<double, std::milli>(received_at - start).count());
    }
    watch_context.TryCancel();
    watcher.join();
    reader->Finish();

    double grpc_p50 = percentile(via_grpc, 0.5), grpc_p99 = percentile(via_grpc, 0.99);
    double channel_p50 = percentile(via_channel, 0.5), channel_p99 = percentile(via_channel, 0.99);
    double delosctl_p50 = percentile(via_delosctl, 0.5);
    double bulk_grpc_median = percentile(bulk_grpc, 0.5), bulk_channel_median = percentile(bulk_channel, 0.5);
    double fault_p50 = percentile(fault_ms, 0.5), fault_p99 = percentile(fault_ms, 0.99);
    if (json) {
        std::printf("{\"cell_bytes\": %zu, \"push_load_ms_p50\": %s, \"push_load_ms_p99\": %s, "
                    "\"baseline_push_load_ms_p50\": %s, \"baseline_push_load_ms_p99\": %s, "
                    "\"push_load_delosctl_ms_p50\": %s, \"bulk_bytes\": %zu, \"push_mib_per_s\": %s, "
                    "\"baseline_push_mib_per_s\": %s, \"fault_to_client_ms_p50\": %s, \"fault_to_client_ms_p99\": %s, "
                    "\"runs\": %d}\n",
                    small.size(), json_number(grpc_p50).c_str(), json_number(grpc_p99).c_str(),
                    json_number(channel_p50).c_str(), json_number(channel_p99).c_str(), json_number(delosctl_p50).c_str(),
                    bulk.size(), json_number(bulk_grpc_median).c_str(), json_number(bulk_channel_median).c_str(),
                    json_number(fault_p50).c_str(), json_number(fault_p99).c_str(), runs);
    } else {
        std::printf("Controller: delosd (gRPC) -> guest agent, against the channel straight (%d runs)\n\n", runs);
        std::printf("%-40s %14s %18s %9s\n", "", "via delosd", "channel (baseline)", "ratio");
        std::printf("%-40s %14.2f %18.2f %8.2fx\n", ("push+load hello.o (" + std::to_string(small.size() / 1024) + " KiB), ms p50").c_str(),
                    grpc_p50, channel_p50, grpc_p50 / channel_p50);
        std::printf("%-40s %14.2f %18.2f %8.2fx\n", "push+load, ms p99", grpc_p99, channel_p99, grpc_p99 / channel_p99);
        std::printf("%-40s %14.2f %18.2f %8.2fx\n", "same through the delosctl program, ms p50", delosctl_p50, channel_p50,
                    delosctl_p50 / channel_p50);
        std::printf("%-40s %14.1f %18.1f %8.2fx\n", ("bulk push bulk.o (" + std::to_string(bulk.size() >> 10) + " KiB), MiB/s").c_str(),
                    bulk_grpc_median, bulk_channel_median, bulk_grpc_median / bulk_channel_median);
        std::printf("%-40s %14.2f\n", "guest fault -> watching client, ms p50", fault_p50);
        std::printf("%-40s %14.2f\n", "guest fault -> watching client, ms p99", fault_p99);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    return 0;
}
