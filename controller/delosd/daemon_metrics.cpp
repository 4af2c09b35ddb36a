// daemon_metrics.cpp: see daemon_metrics.h.
#include "daemon_metrics.h"

namespace delos::controller {

namespace {

const prometheus::Histogram::BucketBoundaries& latency_buckets()
{
    static const prometheus::Histogram::BucketBoundaries buckets{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
                                                                 0.05,   0.1,   0.25,  0.5,   1,    2.5, 5, 10};
    return buckets;
}

std::string state_label(v1::VmState state)
{
    std::string name = v1::VmState_Name(state);
    if (name.rfind("VM_STATE_", 0) == 0)
        name = name.substr(9);
    for (char& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name;
}

} // namespace

DaemonMetrics::DaemonMetrics()
    : m_registry(std::make_shared<prometheus::Registry>()),
      m_vms(prometheus::BuildGauge().Name("delos_vms").Help("VMs by state").Register(*m_registry)),
      m_cells(prometheus::BuildGauge()
                  .Name("delos_cells")
                  .Help("Cells present in each VM (1 per vm, cell, version, state) as last seen")
                  .Register(*m_registry)),
      m_pushes(prometheus::BuildCounter().Name("delos_cell_pushes_total").Help("Cell pushes by VM and result").Register(*m_registry)),
      m_swaps(prometheus::BuildCounter().Name("delos_cell_swaps_total").Help("Cell swaps by VM and result").Register(*m_registry)),
      m_rollbacks(prometheus::BuildCounter()
                      .Name("delos_cell_rollbacks_total")
                      .Help("Cell rollbacks by VM and result")
                      .Register(*m_registry)),
      m_faults(prometheus::BuildCounter()
                   .Name("delos_faults_total")
                   .Help("Guest fault reports stored, by VM, cell and kind")
                   .Register(*m_registry)),
      m_exits(prometheus::BuildCounter().Name("delos_guest_exits_total").Help("Guest processes that ended, by VM").Register(*m_registry)),
      m_push_seconds(prometheus::BuildHistogram()
                         .Name("delos_cell_push_seconds")
                         .Help("Push latency: object received -> staged (and loaded) in the guest")
                         .Register(*m_registry)),
      m_swap_seconds(prometheus::BuildHistogram().Name("delos_cell_swap_seconds").Help("Swap latency").Register(*m_registry))
{
    for (int state = v1::VM_STATE_STARTING; state <= v1::VM_STATE_EXITED; ++state)
        m_vms.Add({{"state", state_label(static_cast<v1::VmState>(state))}}).Set(0);
}

void DaemonMetrics::listen(const std::string& address)
{
    m_exposer = std::make_unique<prometheus::Exposer>(address);
    m_exposer->RegisterCollectable(m_registry);
}

std::vector<int> DaemonMetrics::listening_ports() { return m_exposer ? m_exposer->GetListeningPorts() : std::vector<int>{}; }

void DaemonMetrics::set_vm_states(const std::map<v1::VmState, int>& counts)
{
    for (int state = v1::VM_STATE_STARTING; state <= v1::VM_STATE_EXITED; ++state) {
        auto found = counts.find(static_cast<v1::VmState>(state));
        m_vms.Add({{"state", state_label(static_cast<v1::VmState>(state))}}).Set(found == counts.end() ? 0 : found->second);
    }
}

void DaemonMetrics::set_cells(const std::string& vm, const std::vector<v1::CellInfo>& cells)
{
    std::lock_guard lock(m_mutex);
    for (prometheus::Gauge* gauge : m_cell_gauges[vm])
        m_cells.Remove(gauge);
    m_cell_gauges[vm].clear();
    for (const v1::CellInfo& cell : cells) {
        std::string state = v1::CellState_Name(cell.state());
        auto& gauge = m_cells.Add({{"vm", vm}, {"cell", cell.name()}, {"version", cell.version()}, {"state", state}});
        gauge.Set(1);
        m_cell_gauges[vm].push_back(&gauge);
    }
}

void DaemonMetrics::forget_vm(const std::string& vm) { set_cells(vm, {}); }

void DaemonMetrics::count_push(const std::string& vm, const std::string& result, double seconds)
{
    m_pushes.Add({{"vm", vm}, {"result", result}}).Increment();
    if (result == "ok")
        m_push_seconds.Add({{"vm", vm}}, latency_buckets()).Observe(seconds);
}

void DaemonMetrics::count_swap(const std::string& vm, const std::string& result, double seconds)
{
    m_swaps.Add({{"vm", vm}, {"result", result}}).Increment();
    if (result == "ok")
        m_swap_seconds.Add({{"vm", vm}}, latency_buckets()).Observe(seconds);
}

void DaemonMetrics::count_rollback(const std::string& vm, const std::string& result)
{
    m_rollbacks.Add({{"vm", vm}, {"result", result}}).Increment();
}

void DaemonMetrics::count_fault(const std::string& vm, const std::string& cell, const std::string& kind)
{
    m_faults.Add({{"vm", vm}, {"cell", cell}, {"kind", kind}}).Increment();
}

void DaemonMetrics::count_exit(const std::string& vm) { m_exits.Add({{"vm", vm}}).Increment(); }

} // namespace delos::controller
