// reflection_test.cpp: generic gRPC clients work with delosd: delos-grpc-describe, built
// without any Delos .proto, lists delosd's services over server reflection (the Controller,
// health and reflection itself) and describes the Controller's methods, streaming included.
#include <gtest/gtest.h>

#include "controller_harness.h"

namespace delos::test {
namespace {

TEST(Reflection, GenericClientListsServicesAndDescribesMethods)
{
    TempDir dir;
    Delosd delosd(dir.path());
    ASSERT_TRUE(delosd.start()) << delosd.log();
    auto services = run_child({bin("delos-grpc-describe"), delosd.server()});
    ASSERT_EQ(services.exit_code, 0) << services.err;
    EXPECT_NE(services.out.find("delos.v1.Controller"), std::string::npos) << services.out;
    EXPECT_NE(services.out.find("grpc.health.v1.Health"), std::string::npos) << services.out;
    EXPECT_NE(services.out.find("grpc.reflection.v1alpha.ServerReflection"), std::string::npos) << services.out;

    auto described = run_child({bin("delos-grpc-describe"), delosd.server(), "delos.v1.Controller"});
    ASSERT_EQ(described.exit_code, 0) << described.err;
    EXPECT_NE(described.out.find("rpc PushCell(stream delos.v1.PushCellRequest) returns (delos.v1.PushCellResponse);"),
              std::string::npos)
        << described.out;
    EXPECT_NE(described.out.find("rpc WatchFaults(delos.v1.WatchFaultsRequest) returns (stream delos.v1.FaultRecord);"),
              std::string::npos)
        << described.out;
    EXPECT_NE(described.out.find("rpc CreateVm(delos.v1.CreateVmRequest) returns (delos.v1.Vm);"), std::string::npos);
}

} // namespace
} // namespace delos::test
