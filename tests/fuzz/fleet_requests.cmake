# fuzz-fleet-requests: the fleet file parser and the rollout request checks and stage planning
# over arbitrary bytes. Built by clang++ like the others, from the controller sources and the
# protoc output of delos_proto_grpc, linked against the system's protobuf, gRPC (grpc_target),
# libsodium and OpenSSL.
if(DELOS_CLANGXX)
  set(out ${DELOS_BIN_DIR}/fuzz-fleet-requests)
  set(sources
    ${CMAKE_SOURCE_DIR}/tests/fuzz/fleet_requests_fuzzer.cpp
    ${CMAKE_SOURCE_DIR}/controller/common/fleet_file.cpp
    ${CMAKE_SOURCE_DIR}/controller/common/controller_connection.cpp
    ${CMAKE_SOURCE_DIR}/controller/common/cell_signature.cpp
    ${CMAKE_SOURCE_DIR}/controller/delosd/rollout_plan.cpp
    ${CMAKE_SOURCE_DIR}/controller/delosd/request_checks.cpp
    ${CMAKE_BINARY_DIR}/proto/delos/v1/controller.pb.cc
    ${CMAKE_BINARY_DIR}/proto/delos/v1/channel.pb.cc)
  add_custom_command(OUTPUT ${out}
    COMMAND ${DELOS_CLANGXX} -std=gnu++20 -O1 -g -fsanitize=fuzzer,address,undefined
            -fno-sanitize-recover=undefined
            -I${CMAKE_BINARY_DIR}/proto -I${CMAKE_SOURCE_DIR}/controller/delosd -I${CMAKE_SOURCE_DIR}/controller/common
            ${sources} -o ${out} -lgrpc++ -lgrpc -lgpr -lprotobuf -lsodium -lcrypto -lpthread
    DEPENDS ${sources} ${CMAKE_SOURCE_DIR}/controller/common/fleet_file.h ${CMAKE_SOURCE_DIR}/controller/delosd/rollout_plan.h
            delos_proto_grpc
    COMMENT "Building fuzzer fuzz-fleet-requests with clang++"
    VERBATIM)
  add_custom_target(fuzz-fleet-requests ALL DEPENDS ${out})
  add_dependencies(fuzz-fleet-requests delos_proto_grpc)
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz-corpus/fleet-requests)
  add_test(NAME fuzz.fleet-requests
    COMMAND ${out} -max_total_time=${DELOS_FUZZ_SECONDS} -max_len=65536 -timeout=10
            ${CMAKE_BINARY_DIR}/fuzz-corpus/fleet-requests ${CMAKE_CURRENT_SOURCE_DIR}/corpus/fleet-requests)
  set_tests_properties(fuzz.fleet-requests PROPERTIES LABELS fuzz TIMEOUT 300)
endif()
