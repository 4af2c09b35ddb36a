// background_process.h: a program (a VM) running while a test talks to it; its stdout and stderr
// go to files the test can read at any time. Killed when the object goes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace delos::test {

class BackgroundProcess {
public:
    explicit BackgroundProcess(const std::vector<std::string>& argv);
    ~BackgroundProcess();
    BackgroundProcess(const BackgroundProcess&) = delete;
    BackgroundProcess& operator=(const BackgroundProcess&) = delete;

    std::string out() const;
    std::string err() const;
    std::string output() const { return "--- stdout ---\n" + out() + "--- stderr ---\n" + err(); }
    bool running();
    pid_t pid() const { return m_pid; }
    // Waits up to `limit` for the process to end; its exit code, or -1 when it was killed by a
    // signal or is still running at the deadline.
    int wait_for_exit(std::chrono::milliseconds limit);
    // Waits until stdout holds `needle` `count` times; false at the deadline or when the process has ended.
    bool wait_for_output(const std::string& needle, std::chrono::seconds limit, int count = 1);

private:
    pid_t m_pid = -1;  // -1 once reaped
    int m_wait_status = -1;
    std::string m_out_path;
    std::string m_err_path;
};

// How many times `needle` occurs in `text` (overlaps counted).
int count_occurrences(const std::string& text, const std::string& needle);

// A connected unix stream socket, or -1.
int connect_unix_socket(const std::string& path);

} // namespace delos::test
