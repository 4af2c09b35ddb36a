// sdk_example_test.cpp: the cells of examples/hello-service, built out of tree against the
// installed SDK (sdk_example_test.sh builds them and runs this with DELOS_SDK_EXAMPLE_BUILD set),
// load into the same linker the guest runs, beside this build's log cell: the client's init
// calls the service, and unloading version 1 and loading version 2 changes the answer.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "linker_test_host.h"

using namespace delos;
using namespace delos::host;

namespace {

class SdkExample : public LinkerTest {
protected:
    Bytes example(const std::string& relative)
    {
        const char* build = std::getenv("DELOS_SDK_EXAMPLE_BUILD");
        if (!build) {
            ADD_FAILURE() << "DELOS_SDK_EXAMPLE_BUILD is not set: run tests/sdk/sdk_example_test.sh";
            return {};
        }
        Bytes bytes = read_file(std::string(build) + "/" + relative);
        EXPECT_FALSE(bytes.empty()) << relative;
        return bytes;
    }

    std::string load_client_and_read_what_it_logged()
    {
        HostKernel::serial_output.clear();
        auto client = linker_namespace.load_object(view(client_bytes), library);
        EXPECT_FALSE(client.is_error()) << client.error().message << ": " << str(linker_namespace.last_failure());
        std::string said = HostKernel::serial_output;
        EXPECT_FALSE(linker_namespace.unload_cell("hello_client").is_error());
        return said;
    }

    Bytes client_bytes;
};

} // namespace

TEST_F(SdkExample, TheClientCallsTheServiceAndAServiceSwapChangesTheAnswer)
{
    Bytes service_v1 = example("hello_service.o");
    Bytes service_v2 = example("v2/hello_service.o");
    client_bytes = example("hello_client.o");
    ASSERT_FALSE(service_v1.empty() || service_v2.empty() || client_bytes.empty());

    auto v1 = linker_namespace.load_object(view(service_v1), library);  // log comes from the boot archive
    ASSERT_FALSE(v1.is_error()) << v1.error().message << ": " << str(linker_namespace.last_failure());
    EXPECT_EQ(str((*v1)->version()), "1.0.0");
    EXPECT_NE(HostKernel::serial_output.find("hello_service 1.0.0 ready"), std::string::npos) << HostKernel::serial_output;
    std::string said = load_client_and_read_what_it_logged();
    EXPECT_NE(said.find("the service says: hello, delos\n"), std::string::npos) << said;

    ASSERT_FALSE(linker_namespace.unload_cell("hello_service").is_error());
    auto v2 = linker_namespace.load_object(view(service_v2), library);
    ASSERT_FALSE(v2.is_error()) << v2.error().message;
    EXPECT_EQ(str((*v2)->version()), "2.0.0");
    said = load_client_and_read_what_it_logged();
    EXPECT_NE(said.find("the service says: hello, delos (from version 2)"), std::string::npos) << said;
}
