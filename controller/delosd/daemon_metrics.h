// daemon_metrics.h: delosd's Prometheus metrics (prometheus-cpp, served on --metrics at
// /metrics): VMs by state, cells by VM/name/version, pushes, swaps, rollbacks, faults by
// VM/cell/kind, guest exits, push and swap latency histograms.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "delos/v1/controller.pb.h"

namespace delos::controller {

class DaemonMetrics {
public:
    DaemonMetrics();
    // Serves /metrics on `address` (HOST:PORT). Throws if it cannot bind.
    void listen(const std::string& address);
    std::vector<int> listening_ports();

    void set_vm_states(const std::map<v1::VmState, int>& counts);
    void set_cells(const std::string& vm, const std::vector<v1::CellInfo>& cells);
    void forget_vm(const std::string& vm);
    void count_push(const std::string& vm, const std::string& result, double seconds);
    void count_swap(const std::string& vm, const std::string& result, double seconds);
    void count_rollback(const std::string& vm, const std::string& result);
    void count_fault(const std::string& vm, const std::string& cell, const std::string& kind);
    void count_exit(const std::string& vm);

    prometheus::Registry& registry() { return *m_registry; }

private:
    std::shared_ptr<prometheus::Registry> m_registry;
    std::unique_ptr<prometheus::Exposer> m_exposer;
    prometheus::Family<prometheus::Gauge>& m_vms;
    prometheus::Family<prometheus::Gauge>& m_cells;
    prometheus::Family<prometheus::Counter>& m_pushes;
    prometheus::Family<prometheus::Counter>& m_swaps;
    prometheus::Family<prometheus::Counter>& m_rollbacks;
    prometheus::Family<prometheus::Counter>& m_faults;
    prometheus::Family<prometheus::Counter>& m_exits;
    prometheus::Family<prometheus::Histogram>& m_push_seconds;
    prometheus::Family<prometheus::Histogram>& m_swap_seconds;
    std::mutex m_mutex;
    std::map<std::string, std::vector<prometheus::Gauge*>> m_cell_gauges;  // by VM
};

} // namespace delos::controller
