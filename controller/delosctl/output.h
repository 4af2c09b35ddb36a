// output.h: how delosctl prints: aligned tables for people, JSON (protobuf's mapping) for
// scripts, crash-report blocks for faults, and a progress bar for pushes.
#pragma once

#include <google/protobuf/message.h>

#include <cstdint>
#include <string>
#include <vector>

#include "delos/v1/controller.pb.h"

namespace delos::ctl {

void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
std::string to_json(const google::protobuf::Message& message);  // one line
std::string format_time(std::int64_t unix_ms);
std::string format_bytes(std::uint64_t bytes);
std::string enum_word(const std::string& name, const std::string& prefix);  // FAULT_KIND_PAGE_FAULT -> page-fault
std::string crash_report(const v1::FaultRecord& record);

class ProgressBar {
public:
    ProgressBar(std::string label, std::uint64_t total, bool enabled);
    void update(std::uint64_t done);
    void finish(const std::string& outcome);

private:
    std::string m_label;
    std::uint64_t m_total;
    bool m_enabled;
    int m_last_percent = -1;
};

} // namespace delos::ctl
