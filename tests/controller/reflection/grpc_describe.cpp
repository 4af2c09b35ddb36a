// grpc_describe.cpp: delos-grpc-describe, a generic gRPC client that knows nothing of Delos's
// .proto files (it is built without them): over server reflection it lists a server's
// services, and with a service name it fetches the service's file descriptors and prints each
// method with its request and response types, like `grpcurl describe`.
//   delos-grpc-describe unix:/path/d.sock [SERVICE]
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <set>

#include "reflection/reflection.grpc.pb.h"

using grpc::reflection::v1alpha::ServerReflection;
using grpc::reflection::v1alpha::ServerReflectionRequest;
using grpc::reflection::v1alpha::ServerReflectionResponse;

int main(int argc, char** argv)
{
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: delos-grpc-describe TARGET [SERVICE]\n");
        return 2;
    }
    auto stub = ServerReflection::NewStub(grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = stub->ServerReflectionInfo(&context);
    ServerReflectionRequest request;
    ServerReflectionResponse response;
    if (argc == 2) {
        request.set_list_services("");
        if (!stream->Write(request) || !stream->Read(&response) || !response.has_list_services_response()) {
            std::fprintf(stderr, "no list_services answer\n");
            return 1;
        }
        for (const auto& service : response.list_services_response().service())
            std::printf("%s\n", service.name().c_str());
        stream->WritesDone();
        return stream->Finish().ok() ? 0 : 1;
    }
    // Fetch the file that holds the service, then its dependencies, into one pool.
    google::protobuf::DescriptorPool pool;
    std::set<std::string> loaded;
    std::vector<google::protobuf::FileDescriptorProto> pending;
    request.set_file_containing_symbol(argv[2]);
    for (;;) {
        if (!stream->Write(request) || !stream->Read(&response))
            break;
        if (response.has_error_response()) {
            std::fprintf(stderr, "reflection error: %s\n", response.error_response().error_message().c_str());
            return 1;
        }
        for (const std::string& bytes : response.file_descriptor_response().file_descriptor_proto()) {
            google::protobuf::FileDescriptorProto file;
            file.ParseFromString(bytes);
            if (loaded.insert(file.name()).second)
                pending.push_back(file);
        }
        std::string missing;
        for (const auto& file : pending)
            for (const std::string& dependency : file.dependency())
                if (!loaded.count(dependency))
                    missing = dependency;
        if (missing.empty())
            break;
        request.set_file_by_filename(missing);
    }
    stream->WritesDone();
    stream->Finish();
    // Build in dependency order.
    for (std::size_t built = 0, round = 0; built < pending.size() && round < 100; ++round) {
        for (auto& file : pending) {
            if (!file.name().empty() && pool.BuildFile(file)) {
                file.set_name("");
                ++built;
            }
        }
    }
    const google::protobuf::ServiceDescriptor* service = pool.FindServiceByName(argv[2]);
    if (!service) {
        std::fprintf(stderr, "service %s not found over reflection\n", argv[2]);
        return 1;
    }
    std::printf("service %s {\n", service->full_name().c_str());
    for (int i = 0; i < service->method_count(); ++i) {
        const auto* method = service->method(i);
        std::printf("  rpc %s(%s%s) returns (%s%s);\n", method->name().c_str(), method->client_streaming() ? "stream " : "",
                    method->input_type()->full_name().c_str(), method->server_streaming() ? "stream " : "",
                    method->output_type()->full_name().c_str());
    }
    std::printf("}\n");
    return 0;
}
