# fuzz-loader: archive parsing, ET_REL parsing and linking over arbitrary bytes (see
# loader_fuzzer.cpp). Seeds: a few small stripped cells committed in corpus/loader, plus every
# cell of this build (stripped of debug information) and the boot archive, copied into
# build/fuzz-corpus/loader when the cells are built.
file(GLOB DELOS_LOADER_FUZZ_SOURCES CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/guest/lib/archive/*.cpp
  ${CMAKE_SOURCE_DIR}/guest/linker/*.cpp)
delos_add_fuzzer(loader SOURCES
  tests/fuzz/loader_fuzzer.cpp
  ${DELOS_LOADER_FUZZ_SOURCES}
  guest/lib/crypto/sha256.cpp
  guest/lib/elf/elf_file.cpp
  guest/lib/core/error_or.cpp
  guest/lib/core/format.cpp)

if(TARGET fuzz-loader AND TARGET cells)
  set(seed_dir ${CMAKE_BINARY_DIR}/fuzz-corpus/loader)
  set(seed_outputs)
  set(seed_commands)
  foreach(object ${DELOS_ALL_CELL_OBJECTS})
    get_filename_component(cell ${object} NAME_WLE)  # kv.v2.o -> kv.v2
    list(APPEND seed_outputs ${seed_dir}/seed-${cell}.o)
    list(APPEND seed_commands COMMAND ${CMAKE_OBJCOPY} --strip-debug ${object} ${seed_dir}/seed-${cell}.o)
  endforeach()
  # swap-test.a holds other versions of cells (<cell>.<tag>.o): the fuzzer swaps them in.
  add_custom_command(OUTPUT ${seed_outputs} ${seed_dir}/seed-cells.a ${seed_dir}/seed-swap-test.a
    ${seed_commands}
    COMMAND ${CMAKE_OBJCOPY} --strip-debug ${DELOS_CELL_ARCHIVE} ${seed_dir}/seed-cells.a
    COMMAND ${CMAKE_OBJCOPY} --strip-debug ${DELOS_CELLS_DIR}/swap-test.a ${seed_dir}/seed-swap-test.a
    DEPENDS ${DELOS_ALL_CELL_OBJECTS} ${DELOS_CELL_ARCHIVE} ${DELOS_CELLS_DIR}/swap-test.a
    COMMENT "Seeding fuzz-loader's corpus with this build's cells"
    VERBATIM)
  add_custom_target(fuzz-loader-seeds ALL DEPENDS ${seed_outputs} ${seed_dir}/seed-cells.a ${seed_dir}/seed-swap-test.a)
  add_dependencies(fuzz-loader fuzz-loader-seeds)
endif()
