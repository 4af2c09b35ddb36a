// runner_process.cpp: see runner_process.h.
#include "runner_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>

namespace delos::controller {

pid_t spawn_in_own_group(const std::vector<std::string>& argv, const std::string& log_path, int fd_as_3)
{
    std::vector<char*> args;
    for (const std::string& word : argv)
        args.push_back(const_cast<char*>(word.c_str()));
    args.push_back(nullptr);
    int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log_fd < 0 || null_fd < 0) {
        if (log_fd >= 0)
            ::close(log_fd);
        if (null_fd >= 0)
            ::close(null_fd);
        throw std::runtime_error("cannot open " + log_path);
    }
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
        // Only async-signal-safe calls until exec.
        ::setpgid(0, 0);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a guest never outlives the thread that supervises it
        if (::getppid() != parent)
            ::_exit(127);
        ::dup2(null_fd, 0);
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
        if (fd_as_3 >= 0) {
            if (fd_as_3 == 3)
                ::fcntl(3, F_SETFD, 0);  // keep it across exec
            else
                ::dup2(fd_as_3, 3);  // dup2 clears close-on-exec
        }
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execvp(args[0], args.data());
        const char message[] = "delosd: exec of the runner failed\n";
        [[maybe_unused]] ssize_t written = ::write(2, message, sizeof message - 1);
        ::_exit(127);
    }
    ::close(log_fd);
    ::close(null_fd);
    if (pid < 0)
        throw std::runtime_error("fork failed");
    ::setpgid(pid, pid);
    return pid;
}

std::string tail_of(const std::string& path, std::size_t bytes)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return {};
    in.seekg(0, std::ios::end);
    auto size = static_cast<std::size_t>(in.tellg());
    std::size_t start = size > bytes ? size - bytes : 0;
    in.seekg(static_cast<std::streamoff>(start));
    std::string text(size - start, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (start > 0) {
        auto newline = text.find('\n');
        if (newline != std::string::npos)
            text = text.substr(newline + 1);
    }
    return text;
}

} // namespace delos::controller
