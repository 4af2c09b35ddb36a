// exception_report.h: the report of an exception nothing could handle (vector, error code, RIP
// with its symbol, CR2, registers, a symbolized backtrace), then the panic exit. It sits at the
// end of arch/'s exception hook chain, so arch/ needs no console, symbols or exit device.
#pragma once

namespace delos {

// Installs the fatal-exception reporter and the spurious-interrupt logger into arch/.
void install_exception_report();

} // namespace delos
