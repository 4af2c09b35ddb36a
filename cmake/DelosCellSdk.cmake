# DelosCellSdk.cmake: what `cmake --install` puts in the cell SDK (component `sdk`): the cell ABI
# headers (the cell record, the kernel's interface to cells, the freestanding library headers a
# cell may use, the interfaces of the standard cells), delos-cell-check, and the CMake package
# DelosCell with delos_add_cell(). Headers keep their in-tree paths, so a cell's #include lines
# are the same in this tree and outside it.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(DELOS_SDK_INCLUDE_DIR ${CMAKE_INSTALL_INCLUDEDIR}/delos-cell)
set(DELOS_SDK_BIN_DIR ${CMAKE_INSTALL_BINDIR})
set(DELOS_SDK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/DelosCell)

file(STRINGS ${PROJECT_SOURCE_DIR}/guest/linker/cell_info.h abi_line REGEX "#define DELOS_CELL_ABI_VERSION [0-9]+")
string(REGEX REPLACE ".*DELOS_CELL_ABI_VERSION ([0-9]+).*" "\\1" DELOS_CELL_ABI_VERSION "${abi_line}")

# The freestanding library headers a cell may include (each only includes others of this list).
install(FILES
  guest/lib/core/byte_view.h guest/lib/core/error_or.h guest/lib/core/format.h guest/lib/core/function.h guest/lib/core/hash_map.h
  guest/lib/core/own_ptr.h guest/lib/core/string.h guest/lib/core/string_view.h guest/lib/core/vector.h
  DESTINATION ${DELOS_SDK_INCLUDE_DIR}/lib/core COMPONENT sdk)
# The cell record (DELOS_CELL), the kernel's interface to cells and the cell lock (abi/cell_mutex.h).
install(FILES guest/linker/cell_info.h DESTINATION ${DELOS_SDK_INCLUDE_DIR}/linker COMPONENT sdk)
install(FILES guest/abi/cell_kernel_interface.txt guest/abi/cell_mutex.h DESTINATION ${DELOS_SDK_INCLUDE_DIR}/abi COMPONENT sdk)
# The standard cells' interfaces.
foreach(cell log kv counter)
  install(FILES cells/${cell}/${cell}.h DESTINATION ${DELOS_SDK_INCLUDE_DIR}/${cell} COMPONENT sdk)
endforeach()
install(TARGETS delos-cell-check RUNTIME DESTINATION ${DELOS_SDK_BIN_DIR} COMPONENT sdk)

string(REPLACE ";" " " DELOS_GUEST_CXX_FLAGS_QUOTED "${DELOS_GUEST_CXX_FLAGS}")
configure_package_config_file(cmake/DelosCellConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/DelosCellConfig.cmake
  INSTALL_DESTINATION ${DELOS_SDK_CMAKE_DIR}
  PATH_VARS DELOS_SDK_INCLUDE_DIR DELOS_SDK_BIN_DIR)
# The SDK's version is the cell ABI version: a cell project asking for ABI N gets an SDK of ABI N.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/DelosCellConfigVersion.cmake
  VERSION ${DELOS_CELL_ABI_VERSION} COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/DelosCellConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/DelosCellConfigVersion.cmake
  cmake/DelosCell.cmake DESTINATION ${DELOS_SDK_CMAKE_DIR} COMPONENT sdk)
install(FILES docs/writing-a-cell.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT sdk)
