# fuzz-crash-report: delos-vmm's crash backtrace (page walk, frame chain) over hostile guest RAM and
# its kernel symbol table over arbitrary ELF bytes.
delos_add_fuzzer(crash-report SOURCES
  tests/fuzz/crash_report_fuzzer.cpp
  vmm/guest_stack_walk.cpp vmm/symbol_table.cpp
  guest/lib/elf/elf_file.cpp
  guest/lib/core/error_or.cpp)
