// request_checks.cpp: see request_checks.h.
#include "request_checks.h"

#include <filesystem>

#include "cell_signature.h"

namespace delos::controller {

namespace {

using grpc::StatusCode;

bool file_exists(const std::string& path)
{
    std::error_code error;
    return std::filesystem::is_regular_file(path, error);
}

} // namespace

bool valid_vm_name(const std::string& name)
{
    if (name.empty() || name.size() > 63)
        return false;
    if (!(std::islower(static_cast<unsigned char>(name[0])) || std::isdigit(static_cast<unsigned char>(name[0]))))
        return false;
    for (char c : name) {
        if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
            return false;
    }
    return true;
}

bool valid_cell_name(const std::string& name)
{
    if (name.empty() || name.size() > 63 || !std::islower(static_cast<unsigned char>(name[0])))
        return false;
    for (char c : name) {
        if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_'))
            return false;
    }
    return true;
}

void check_vm_spec(const v1::VmSpec& spec, const std::string& state_dir, bool allow_command_runner)
{
    if (!valid_vm_name(spec.name()))
        throw RpcError(StatusCode::INVALID_ARGUMENT, "VM name '" + spec.name()
                                                         + "' is not valid: 1-63 characters of a-z, 0-9, '-' and '_', "
                                                           "starting with a letter or digit");
    if (!v1::Runner_IsValid(spec.runner()) || spec.runner() == v1::RUNNER_UNSPECIFIED)
        throw RpcError(StatusCode::INVALID_ARGUMENT, "no runner given: vmm, qemu, clone, attach or command");
    if (!v1::RestartPolicy_IsValid(spec.restart()))
        throw RpcError(StatusCode::INVALID_ARGUMENT, "unknown restart policy " + std::to_string(spec.restart()));
    if (spec.memory_mib() > 65536)
        throw RpcError(StatusCode::INVALID_ARGUMENT, "memory_mib " + std::to_string(spec.memory_mib()) + " is over 65536");
    if (spec.cmdline().size() > 4096)
        throw RpcError(StatusCode::INVALID_ARGUMENT, "the guest command line is over 4096 bytes");
    if (spec.runner() == v1::RUNNER_VMM || spec.runner() == v1::RUNNER_QEMU || spec.runner() == v1::RUNNER_CLONE) {
        if (spec.kernel().empty())
            throw RpcError(StatusCode::INVALID_ARGUMENT, "no kernel given (the path of delos.elf on delosd's host)");
        if (!file_exists(spec.kernel()))
            throw RpcError(StatusCode::INVALID_ARGUMENT, "kernel " + spec.kernel() + " does not exist on delosd's host");
        for (const std::string& module : spec.modules()) {
            if (!file_exists(module))
                throw RpcError(StatusCode::INVALID_ARGUMENT, "module " + module + " does not exist on delosd's host");
        }
        if ((spec.runner() == v1::RUNNER_QEMU || spec.runner() == v1::RUNNER_CLONE) && spec.modules_size() > 1)
            throw RpcError(StatusCode::INVALID_ARGUMENT, "the QEMU and clone runners pass one module (as -initrd)");
    }
    if (!spec.libvirt_domain().empty() || !spec.libvirt_uri().empty())
        throw RpcError(StatusCode::INVALID_ARGUMENT, "libvirt_domain and libvirt_uri are set by delosd's libvirt "
                                                     "discovery, not by requests");
    if (spec.runner() == v1::RUNNER_ATTACH) {
        if (spec.control_socket().empty() || spec.control_socket()[0] != '/')
            throw RpcError(StatusCode::INVALID_ARGUMENT, "attach needs the absolute path of the guest's control socket");
        if (spec.control_socket().size() >= 108)
            throw RpcError(StatusCode::INVALID_ARGUMENT, "control socket path is too long for a unix socket (107 bytes)");
    } else if (!spec.control_socket().empty()) {
        throw RpcError(StatusCode::INVALID_ARGUMENT, "control_socket is only for attach; delosd picks the socket of "
                                                     "guests it starts");
    }
    if (spec.runner() == v1::RUNNER_COMMAND) {
        if (!allow_command_runner)
            throw RpcError(StatusCode::PERMISSION_DENIED,
                           "the command runner is off (it runs any program); start delosd with --allow-command-runner");
        if (spec.command().empty())
            throw RpcError(StatusCode::INVALID_ARGUMENT, "the command runner needs a command");
    } else if (!spec.command().empty()) {
        throw RpcError(StatusCode::INVALID_ARGUMENT, "command is only for the command runner");
    }
    if (spec.runner() == v1::RUNNER_VMM || spec.runner() == v1::RUNNER_QEMU || spec.runner() == v1::RUNNER_COMMAND
        || spec.runner() == v1::RUNNER_CLONE) {
        std::string socket = state_dir + "/vms/" + spec.name() + "/control.sock";
        if (socket.size() >= 108)
            throw RpcError(StatusCode::FAILED_PRECONDITION,
                           "the control socket " + socket + " would be too long for a unix socket; use a shorter --state-dir");
    }
}

std::string check_push_signature(const v1::PushCellHeader& header, bool allow_unsigned,
                                 const std::map<std::string, std::string>& trusted_keys)
{
    bool signed_push = !header.signature().empty() || !header.public_key().empty();
    if (!signed_push) {
        if (allow_unsigned)
            return {};
        throw RpcError(StatusCode::PERMISSION_DENIED,
                       "cell " + header.cell() + " is unsigned and delosd accepts only signed cells: sign it with "
                       "'delosctl sign' (or push with --sign-key) using a key in delosd's trusted-keys directory");
    }
    if (header.signature().size() != kSignatureBytes || header.public_key().size() != kPublicKeyBytes)
        throw RpcError(StatusCode::INVALID_ARGUMENT, "a signature is 64 bytes and its public key 32 bytes");
    if (!allow_unsigned && !trusted_keys.count(header.public_key()))
        throw RpcError(StatusCode::PERMISSION_DENIED, "cell " + header.cell() + " is signed by key "
                                                          + to_hex(header.public_key()).substr(0, 16)
                                                          + "..., which is not in delosd's trusted-keys directory");
    if (!verify_digest(header.sha256(), header.signature(), header.public_key()))
        throw RpcError(StatusCode::PERMISSION_DENIED,
                       "the signature of cell " + header.cell()
                           + " does not verify: the object was changed after it was signed, or the signature is for "
                             "another object");
    return to_hex(header.public_key());
}

void check_push_header_fields(const v1::PushCellHeader& header, std::uint64_t max_cell_bytes)
{
    if (!valid_cell_name(header.cell()))
        throw RpcError(StatusCode::INVALID_ARGUMENT, "cell name '" + header.cell()
                                                         + "' is not valid: 1-63 characters of a-z, 0-9 and '_', "
                                                           "starting with a letter (the DELOS_CELL name)");
    if (header.total_size() == 0)
        throw RpcError(StatusCode::INVALID_ARGUMENT, "the push announces an empty object");
    if (header.total_size() > max_cell_bytes)
        throw RpcError(StatusCode::INVALID_ARGUMENT, "the object is " + std::to_string(header.total_size())
                                                         + " bytes, over the limit of "
                                                         + std::to_string(max_cell_bytes));
    if (header.sha256().size() != 32)
        throw RpcError(StatusCode::INVALID_ARGUMENT, "the push header's sha256 must be 32 bytes, got "
                                                         + std::to_string(header.sha256().size()));
    if (!v1::PushAction_IsValid(header.action()))
        throw RpcError(StatusCode::INVALID_ARGUMENT, "unknown push action " + std::to_string(header.action()));
}

std::uint64_t check_list_faults(const v1::ListFaultsRequest& request, std::uint32_t* page_size)
{
    if (!v1::FaultKind_IsValid(request.filter().kind()))
        throw RpcError(StatusCode::INVALID_ARGUMENT, "unknown fault kind " + std::to_string(request.filter().kind()));
    *page_size = request.page_size() == 0 ? 100 : request.page_size();
    if (*page_size > 1000)
        throw RpcError(StatusCode::INVALID_ARGUMENT, "page_size is at most 1000");
    std::uint64_t after = request.after_sequence();
    if (!request.page_token().empty()) {
        const std::string& token = request.page_token();
        std::uint64_t value = 0;
        bool ok = token.size() > 1 && token.size() <= 20 && token[0] == 'f';
        for (std::size_t i = 1; ok && i < token.size(); ++i) {
            ok = std::isdigit(static_cast<unsigned char>(token[i])) != 0;
            value = value * 10 + static_cast<std::uint64_t>(token[i] - '0');
        }
        if (!ok)
            throw RpcError(StatusCode::INVALID_ARGUMENT, "page_token is not one this server gave out");
        after = std::max(after, value);
    }
    return after;
}

} // namespace delos::controller
