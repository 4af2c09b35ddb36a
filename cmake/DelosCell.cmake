# DelosCell.cmake: delos_add_cell(), the one way to build a Delos cell: the same function builds
# the cells of this tree (cells/CMakeLists.txt) and cells built outside it against the installed
# SDK (find_package(DelosCell), see cmake/DelosCellConfig.cmake.in).
#
# It expects, set by whoever includes it:
#   DELOS_CELL_CXX_FLAGS     the guest compile flags (cmake/GuestFlags.cmake)
#   DELOS_CELL_INCLUDE_DIRS  where the cell ABI headers are (guest/ in the tree, the SDK's include/)
#   DELOS_CELL_CHECK         delos-cell-check: an executable path or the in-tree target name
#
# delos_add_cell(NAME
#                SOURCES a.cpp b.cpp ...
#                [INCLUDE_DIRECTORIES dir ...]   extra include directories of the cell's own
#                [OUTPUT_DIRECTORY dir]          where NAME.o goes (default: the current binary dir)
#                [OUTPUT_NAME stem]              the object is STEM.o (default NAME.o)
#                [TARGET target])                the targets' name (default delos_cell_NAME): two
#                                                versions of one cell need two names
# compiles SOURCES with the guest flags, joins them with `ld -r` into ONE relocatable object
# NAME.o, and runs delos-cell-check on it, which refuses what the in-guest loader would refuse
# (no or several DELOS_CELL records, a record naming another cell, TLS, W+X sections, relocation
# types the loader does not implement, an object built for another cell ABI version).
# Sets DELOS_CELL_<NAME>_OBJECT in the caller's scope; adds the OBJECT library TARGET and the
# target TARGET_object that makes NAME.o (built by default).

function(delos_add_cell name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "OUTPUT_DIRECTORY;OUTPUT_NAME;TARGET" "SOURCES;INCLUDE_DIRECTORIES")
  if(NOT name MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "delos_add_cell(${name}): cell names are [a-z][a-z0-9_]* (the same name as in DELOS_CELL)")
  endif()
  string(LENGTH "${name}" length)
  if(length GREATER 31)
    message(FATAL_ERROR "delos_add_cell(${name}): a cell name has at most 31 characters")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "delos_add_cell(${name}): no SOURCES")
  endif()
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "delos_add_cell(${name}): unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  foreach(required DELOS_CELL_CXX_FLAGS DELOS_CELL_INCLUDE_DIRS DELOS_CELL_CHECK)
    if(NOT DEFINED ${required})
      message(FATAL_ERROR "delos_add_cell: ${required} is not set (use find_package(DelosCell))")
    endif()
  endforeach()
  set(output_directory ${CMAKE_CURRENT_BINARY_DIR})
  if(ARG_OUTPUT_DIRECTORY)
    set(output_directory ${ARG_OUTPUT_DIRECTORY})
  endif()

  set(objects delos_cell_${name})
  if(ARG_TARGET)
    set(objects ${ARG_TARGET})
  endif()
  add_library(${objects} OBJECT ${ARG_SOURCES})
  target_compile_features(${objects} PRIVATE cxx_std_20)
  set_target_properties(${objects} PROPERTIES CXX_EXTENSIONS ON)
  target_compile_options(${objects} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${DELOS_CELL_CXX_FLAGS}>)
  target_include_directories(${objects} PRIVATE ${ARG_INCLUDE_DIRECTORIES} ${DELOS_CELL_INCLUDE_DIRS})

  set(check ${DELOS_CELL_CHECK})
  if(TARGET ${DELOS_CELL_CHECK})
    set(check $<TARGET_FILE:${DELOS_CELL_CHECK}>)
  endif()
  set(stem ${name})
  if(ARG_OUTPUT_NAME)
    set(stem ${ARG_OUTPUT_NAME})
  endif()
  set(output ${output_directory}/${stem}.o)
  add_custom_command(OUTPUT ${output}
    COMMAND ${CMAKE_LINKER} -r -o ${output} $<TARGET_OBJECTS:${objects}>
    COMMAND ${check} ${name} ${output}
    DEPENDS ${objects} $<TARGET_OBJECTS:${objects}> ${DELOS_CELL_CHECK}
    COMMENT "Linking cell ${name} (ld -r) and checking it"
    VERBATIM COMMAND_EXPAND_LISTS)
  add_custom_target(${objects}_object ALL DEPENDS ${output})
  set(DELOS_CELL_${name}_OBJECT ${output} PARENT_SCOPE)
endfunction()
