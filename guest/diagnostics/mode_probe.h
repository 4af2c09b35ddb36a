// mode_probe.h: `probe-mode`, the diagnostic that times each operation trapping to kvm_pvm.
#pragma once

namespace delos::diagnostics {

void run_mode_probe();

} // namespace delos::diagnostics
