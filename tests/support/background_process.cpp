// background_process.cpp: fork/exec with output redirected to files; polling for markers.
#include "background_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

namespace delos::test {

namespace {
std::string read_whole(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
} // namespace

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv)
{
    static int instances = 0;
    const char* temp = std::getenv("TMPDIR");
    std::string base = std::string(temp ? temp : "/tmp") + "/delos-bg-" + std::to_string(::getpid()) + "-" +
                       std::to_string(++instances);
    m_out_path = base + ".out";
    m_err_path = base + ".err";
    m_pid = ::fork();
    if (m_pid == 0) {
        int out = ::open(m_out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = ::open(m_err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null_fd = ::open("/dev/null", O_RDONLY);
        ::dup2(out, STDOUT_FILENO);
        ::dup2(err, STDERR_FILENO);
        ::dup2(null_fd, STDIN_FILENO);
        std::vector<char*> args;
        for (const auto& argument : argv)
            args.push_back(const_cast<char*>(argument.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
}

BackgroundProcess::~BackgroundProcess()
{
    if (m_pid > 0) {
        ::kill(m_pid, SIGKILL);
        ::waitpid(m_pid, nullptr, 0);
    }
    ::unlink(m_out_path.c_str());
    ::unlink(m_err_path.c_str());
}

std::string BackgroundProcess::out() const { return read_whole(m_out_path); }
std::string BackgroundProcess::err() const { return read_whole(m_err_path); }

bool BackgroundProcess::running()
{
    if (m_pid <= 0)
        return false;
    int status = 0;
    if (::waitpid(m_pid, &status, WNOHANG) != m_pid)
        return true;
    m_wait_status = status;
    m_pid = -1;  // reaped: the id may be reused, never signal it again
    return false;
}

int BackgroundProcess::wait_for_exit(std::chrono::milliseconds limit)
{
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (running() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (running() || !WIFEXITED(m_wait_status))
        return -1;
    return WEXITSTATUS(m_wait_status);
}

int count_occurrences(const std::string& text, const std::string& needle)
{
    int count = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++count;
    return count;
}

bool BackgroundProcess::wait_for_output(const std::string& needle, std::chrono::seconds limit, int count)
{
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (count_occurrences(out(), needle) >= count)
            return true;
        if (!running())
            return count_occurrences(out(), needle) >= count;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

int connect_unix_socket(const std::string& path)
{
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

} // namespace delos::test
