// request_checks.h: the checks delosd makes on a request before it acts on it (VM specs, push
// headers and signatures, fault queries), as functions of the request and the settings only,
// so fuzz-controller-requests runs them without a server, a guest or gRPC.
#pragma once

#include <grpcpp/support/status_code_enum.h>

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

#include "delos/v1/controller.pb.h"

namespace delos::controller {

// A refusal: the gRPC status code and a message users can act on.
class RpcError : public std::runtime_error {
public:
    RpcError(grpc::StatusCode code, const std::string& message) : std::runtime_error(message), m_code(code) {}
    grpc::StatusCode code() const { return m_code; }

private:
    grpc::StatusCode m_code;
};

bool valid_vm_name(const std::string& name);
bool valid_cell_name(const std::string& name);

// Throws RpcError for a spec delosd must not act on (names, runner fields, files, lengths).
void check_vm_spec(const v1::VmSpec& spec, const std::string& state_dir, bool allow_command_runner);
// Name, size, digest length, action of a push header (the VM's existence is the caller's).
void check_push_header_fields(const v1::PushCellHeader& header, std::uint64_t max_cell_bytes);
// The signature rules; returns the signer's key in hex ("" for an accepted unsigned push).
// `trusted_keys`: raw public key -> file name.
std::string check_push_signature(const v1::PushCellHeader& header, bool allow_unsigned,
                                 const std::map<std::string, std::string>& trusted_keys);
// Kind, page size and token; returns the sequence to list after and sets the page size.
std::uint64_t check_list_faults(const v1::ListFaultsRequest& request, std::uint32_t* page_size);

} // namespace delos::controller
