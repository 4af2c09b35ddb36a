# fuzz-fw-cfg: fw_cfg directory entries and VM generation values as the guest parses them.
delos_add_fuzzer(fw-cfg SOURCES
  tests/fuzz/fw_cfg_fuzzer.cpp
  guest/lib/fw_cfg/fw_cfg_directory.cpp guest/lib/core/error_or.cpp)
