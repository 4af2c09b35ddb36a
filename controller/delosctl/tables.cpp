// tables.cpp: see tables.h.
#include "tables.h"

#include <cstdio>

#include "output.h"
#include "symbol_names.h"

namespace delos::ctl {

const TableShape kVmTable{{"NAME", "STATE", "RUNNER", "BOOT", "PID", "RESTARTS", "FAULTS", "GUEST"}, 1, 7};
const TableShape kCellTable{{"VM", "CELL", "VERSION", "STATE", "GEN", "SIZE", "DEPENDS ON"}, 3, 6};
const TableShape kFaultTable{{"SEQ", "TIME", "VM", "CELL", "KIND", "WHERE", "RECOVERY"}, 4, 5};

namespace {

// Discovered libvirt domains show as "libvirt" (they are attached to their channel's socket).
std::string runner_word(const v1::VmSpec& spec)
{
    return spec.libvirt_domain().empty() ? enum_word(v1::Runner_Name(spec.runner()), "RUNNER_") : "libvirt";
}

} // namespace

std::vector<std::string> vm_row(const v1::Vm& vm)
{
    return {vm.spec().name(), enum_word(v1::VmState_Name(vm.state()), "VM_STATE_"), runner_word(vm.spec()),
            std::to_string(vm.boot_id()), vm.pid() ? std::to_string(vm.pid()) : "-", std::to_string(vm.restarts()),
            std::to_string(vm.faults()), vm.kernel_version().empty() ? "-" : vm.kernel_version()};
}

std::vector<std::string> cell_row(const std::string& vm, const v1::CellInfo& cell)
{
    std::string dependencies;
    for (const std::string& dependency : cell.dependencies())
        dependencies += (dependencies.empty() ? "" : ",") + dependency;
    return {vm, cell.name(), cell.version(), enum_word(v1::CellState_Name(cell.state()), "CELL_STATE_"),
            std::to_string(cell.generation()), format_bytes(cell.object_bytes()), dependencies.empty() ? "-" : dependencies};
}

std::vector<std::string> fault_row(const v1::FaultRecord& record)
{
    const auto& report = record.report();
    std::string where = controller::short_symbol_and_offset(report.symbol(), report.symbol_offset());
    return {std::to_string(record.sequence()), format_time(record.received_unix_ms()), record.vm(),
            report.cell_name() + "@" + report.cell_version(), enum_word(v1::FaultKind_Name(report.kind()), "FAULT_KIND_"),
            where, enum_word(v1::RecoveryAction_Name(report.action()), "RECOVERY_ACTION_")};
}

void HostTable::add(const std::string& host, std::vector<std::string> row)
{
    if (m_with_host)
        row.insert(row.begin(), host);
    m_rows.push_back(std::move(row));
}

void HostTable::add_missing(const std::string& host, const std::string& word, const std::string& reason,
                            const std::string& first)
{
    std::vector<std::string> row(m_shape.header.size(), "-");
    row[0] = first;
    row[m_shape.state_column] = word;
    row[m_shape.reason_column] = reason;
    add(host, std::move(row));
}

void HostTable::print() const
{
    std::vector<std::string> header = m_shape.header;
    if (m_with_host)
        header.insert(header.begin(), "HOST");
    print_table(header, m_rows);
}

} // namespace delos::ctl
