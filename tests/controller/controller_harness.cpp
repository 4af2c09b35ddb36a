// controller_harness.cpp: see controller_harness.h.
#include "controller_harness.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <thread>

namespace delos::test {

std::string build_dir() { return DELOS_BUILD_DIR; }

std::string guest_build_dir()
{
    const char* other = std::getenv("DELOS_GUEST_BUILD_DIR");
    return other && *other ? other : DELOS_BUILD_DIR;
}
std::string bin(const std::string& program) { return build_dir() + "/bin/" + program; }
std::string cell_object(const std::string& cell) { return build_dir() + "/cells/" + cell + ".o"; }

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::string& bytes)
{
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TempDir::TempDir()
{
    char pattern[] = "/tmp/dctl-XXXXXX";
    m_path = ::mkdtemp(pattern);
}

TempDir::~TempDir()
{
    std::error_code ignored;
    std::filesystem::remove_all(m_path, ignored);
}

Delosd::Delosd(const std::string& dir, std::vector<std::string> extra) : m_dir(dir), m_extra(std::move(extra)) {}

Delosd::~Delosd()
{
    if (m_process && m_process->running())
        ::kill(m_process->pid(), SIGTERM);
}

bool Delosd::start()
{
    if (m_process)
        m_old_logs += m_process->err();
    std::vector<std::string> argv = {bin("delosd"), "--state-dir", m_dir + "/state", "--listen", server(), "--log-level", "debug"};
    argv.insert(argv.end(), m_extra.begin(), m_extra.end());
    // Tests see only their own guests unless they ask for libvirt discovery.
    if (std::find(m_extra.begin(), m_extra.end(), "--libvirt-uri") == m_extra.end())
        argv.push_back("--no-libvirt");
    m_process = std::make_unique<BackgroundProcess>(argv);
    return eventually([&] { return m_process->err().find("msg=ready") != std::string::npos || !m_process->running(); },
                      std::chrono::seconds(20))
        && m_process->err().find("msg=ready") != std::string::npos;
}

void Delosd::kill9()
{
    ::kill(m_process->pid(), SIGKILL);
    eventually([&] { return !m_process->running(); });
}

std::string Delosd::log() const { return m_old_logs + (m_process ? m_process->err() : ""); }

int Delosd::metrics_port() const
{
    std::smatch match;
    std::string text = m_process->err();
    if (std::regex_search(text, match, std::regex("metrics listening.* port=([0-9]+)")))
        return std::stoi(match[1]);
    return 0;
}

int Delosd::tcp_port() const
{
    std::smatch match;
    std::string text = m_process->err();
    if (std::regex_search(text, match, std::regex("msg=listening address=tcp:[^ ]+ port=([0-9]+)")))
        return std::stoi(match[1]);
    return 0;
}

std::unique_ptr<v1::Controller::Stub> Delosd::stub() const
{
    return v1::Controller::NewStub(grpc::CreateChannel(server(), grpc::InsecureChannelCredentials()));
}

ChildResult delosctl(const std::string& server, const std::vector<std::string>& args, std::chrono::milliseconds limit)
{
    std::vector<std::string> argv = {bin("delosctl"), "--server", server};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildOptions options;
    options.time_limit = limit;
    return run_child(argv, options);
}

v1::Vm get_vm(const Delosd& delosd, const std::string& vm)
{
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetVmRequest request;
    request.set_name(vm);
    v1::Vm response;
    delosd.stub()->GetVm(&context, request, &response);
    return response;
}

std::string vm_state(const std::string& server, const std::string& vm)
{
    ChildResult result = delosctl(server, {"-o", "json", "vm", "get", vm});
    std::smatch match;
    if (std::regex_search(result.out, match, std::regex("\"state\":\"([A-Z_]+)\"")))
        return match[1];
    return "?";
}

::testing::AssertionResult attach_running_vm(const Delosd& delosd, const std::string& name, const std::string& socket)
{
    ChildResult created = delosctl(delosd.server(), {"vm", "create", name, "--runner", "attach", "--socket", socket});
    if (created.exit_code != 0)
        return ::testing::AssertionFailure() << "vm create " << name << " exited " << created.exit_code << ": " << created.err;
    if (!eventually([&] { return vm_state(delosd.server(), name) == "VM_STATE_RUNNING"; }))
        return ::testing::AssertionFailure() << "vm " << name << " is " << vm_state(delosd.server(), name)
                                             << ", not running, after 10 s; delosd's log:\n" << delosd.log();
    return ::testing::AssertionSuccess();
}

} // namespace delos::test
