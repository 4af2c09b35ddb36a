# fuzz-unwind: the .eh_frame parser, CFI interpreter, DWARF expressions and LSDA reader over
# arbitrary bytes (see unwind_fuzzer.cpp); a hostile cell can carry any unwind tables. Seeds in
# corpus/unwind: the kernel's .eh_frame and some of its LSDAs, prefixed with their selector byte.
delos_add_fuzzer(unwind SOURCES
  tests/fuzz/unwind_fuzzer.cpp
  guest/lib/unwind/eh_frame.cpp
  guest/lib/unwind/cfi.cpp
  guest/lib/unwind/lsda.cpp
  guest/lib/core/error_or.cpp)
