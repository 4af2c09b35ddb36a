# fuzz-dashboard-api: the dashboard's JSON API (query parsing, bucket index, JSON writer) over
# arbitrary query strings. Built by clang++ like the others from the dashboard model's sources
# and the protoc output of delos_proto_grpc, linked against the system's protobuf.
if(DELOS_CLANGXX)
  set(out ${DELOS_BIN_DIR}/fuzz-dashboard-api)
  set(dashboard ${CMAKE_SOURCE_DIR}/controller/delosd/dashboard)
  set(common ${CMAKE_SOURCE_DIR}/controller/common)
  set(sources
    ${CMAKE_SOURCE_DIR}/tests/fuzz/dashboard_api_fuzzer.cpp
    ${dashboard}/json_writer.cpp ${dashboard}/query_params.cpp ${dashboard}/fault_buckets.cpp ${dashboard}/dashboard_api.cpp
    ${common}/symbol_names.cpp
    ${CMAKE_BINARY_DIR}/proto/delos/v1/controller.pb.cc
    ${CMAKE_BINARY_DIR}/proto/delos/v1/channel.pb.cc)
  add_custom_command(OUTPUT ${out}
    COMMAND ${DELOS_CLANGXX} -std=gnu++20 -O1 -g -fsanitize=fuzzer,address,undefined
            -fno-sanitize-recover=undefined -I${CMAKE_BINARY_DIR}/proto -I${dashboard} -I${common}
            ${sources} -o ${out} -lprotobuf -lpthread
    DEPENDS ${sources} ${dashboard}/dashboard_api.h ${dashboard}/fault_buckets.h ${dashboard}/query_params.h
            ${dashboard}/json_writer.h ${dashboard}/dashboard_data.h ${common}/symbol_names.h delos_proto_grpc
    COMMENT "Building fuzzer fuzz-dashboard-api with clang++"
    VERBATIM)
  add_custom_target(fuzz-dashboard-api ALL DEPENDS ${out})
  add_dependencies(fuzz-dashboard-api delos_proto_grpc)
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz-corpus/dashboard-api)
  add_test(NAME fuzz.dashboard-api
    COMMAND ${out} -max_total_time=${DELOS_FUZZ_SECONDS} -max_len=4096 -timeout=10
            ${CMAKE_BINARY_DIR}/fuzz-corpus/dashboard-api ${CMAKE_CURRENT_SOURCE_DIR}/corpus/dashboard-api)
  set_tests_properties(fuzz.dashboard-api PROPERTIES LABELS fuzz TIMEOUT 300)
endif()
