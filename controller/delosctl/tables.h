// tables.h: the tables delosctl prints for one delosd and for a fleet (docs/fleet.md), from one
// printer: with a HOST column each row leads with the host it came from, and a host (or a VM)
// that did not answer is one row saying so, in the table's state column.
#pragma once

#include <string>
#include <vector>

#include "delos/v1/controller.pb.h"

namespace delos::ctl {

// A table's columns and where a row that stands for "no answer" puts its word and its reason.
struct TableShape {
    std::vector<std::string> header;  // without HOST
    std::size_t state_column;         // "unreachable", "unavailable"
    std::size_t reason_column;        // the error
};

extern const TableShape kVmTable;     // NAME STATE RUNNER BOOT PID RESTARTS FAULTS GUEST
extern const TableShape kCellTable;   // VM CELL VERSION STATE GEN SIZE DEPENDS ON
extern const TableShape kFaultTable;  // SEQ TIME VM CELL KIND WHERE RECOVERY

std::vector<std::string> vm_row(const v1::Vm& vm);
std::vector<std::string> cell_row(const std::string& vm, const v1::CellInfo& cell);
std::vector<std::string> fault_row(const v1::FaultRecord& record);

class HostTable {
public:
    HostTable(const TableShape& shape, bool with_host) : m_shape(shape), m_with_host(with_host) {}
    // `host` is dropped unless the table has a HOST column.
    void add(const std::string& host, std::vector<std::string> row);
    // A row for what did not answer: `word` and `reason` in the shape's columns, `first` in the
    // first column (e.g. the VM that did not answer), "-" elsewhere.
    void add_missing(const std::string& host, const std::string& word, const std::string& reason,
                     const std::string& first = "-");
    void print() const;

private:
    const TableShape& m_shape;
    bool m_with_host;
    std::vector<std::vector<std::string>> m_rows;
};

} // namespace delos::ctl
