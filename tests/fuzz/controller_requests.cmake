# fuzz-controller-requests: delosd's request checks and its SQLite store over arbitrary protobuf
# requests and guest events. Built by clang++ like the others, from the controller sources and
# the protoc output of delos_proto_grpc, linked against the system's protobuf, libsodium,
# OpenSSL and SQLite.
if(DELOS_CLANGXX)
  set(out ${DELOS_BIN_DIR}/fuzz-controller-requests)
  set(sources
    ${CMAKE_SOURCE_DIR}/tests/fuzz/controller_requests_fuzzer.cpp
    ${CMAKE_SOURCE_DIR}/controller/delosd/request_checks.cpp
    ${CMAKE_SOURCE_DIR}/controller/delosd/fault_store.cpp
    ${CMAKE_SOURCE_DIR}/controller/common/cell_signature.cpp
    ${CMAKE_BINARY_DIR}/proto/delos/v1/controller.pb.cc
    ${CMAKE_BINARY_DIR}/proto/delos/v1/channel.pb.cc)
  add_custom_command(OUTPUT ${out}
    COMMAND ${DELOS_CLANGXX} -std=gnu++20 -O1 -g -fsanitize=fuzzer,address,undefined
            -fno-sanitize-recover=undefined
            -I${CMAKE_BINARY_DIR}/proto -I${CMAKE_SOURCE_DIR}/controller/delosd -I${CMAKE_SOURCE_DIR}/controller/common
            ${sources} -o ${out} -lprotobuf -lsodium -lcrypto -lsqlite3 -lpthread
    DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/controller_requests_fuzzer.cpp
            ${CMAKE_SOURCE_DIR}/controller/delosd/request_checks.cpp
            ${CMAKE_SOURCE_DIR}/controller/delosd/request_checks.h
            ${CMAKE_SOURCE_DIR}/controller/delosd/fault_store.cpp
            ${CMAKE_SOURCE_DIR}/controller/common/cell_signature.cpp
            delos_proto_grpc
    COMMENT "Building fuzzer fuzz-controller-requests with clang++"
    VERBATIM)
  add_custom_target(fuzz-controller-requests ALL DEPENDS ${out})
  add_dependencies(fuzz-controller-requests delos_proto_grpc)
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz-corpus/controller-requests)
  add_test(NAME fuzz.controller-requests
    COMMAND ${out} -max_total_time=${DELOS_FUZZ_SECONDS} -max_len=65536 -timeout=10
            ${CMAKE_BINARY_DIR}/fuzz-corpus/controller-requests ${CMAKE_CURRENT_SOURCE_DIR}/corpus/controller-requests)
  set_tests_properties(fuzz.controller-requests PROPERTIES LABELS fuzz TIMEOUT 300)
endif()
