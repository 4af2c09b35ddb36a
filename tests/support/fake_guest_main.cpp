// fake_guest_main.cpp: delos-fake-guest, the fake guest (the guest's channel engine) on a socket, for trying
// delos-chan and building the controller before a real guest answers.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "fake_guest.h"

int main(int argc, char** argv)
{
    std::string socket_path;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
            socket_path = argv[++i];
        else {
            std::fprintf(stderr, "usage: delos-fake-guest --socket PATH\n");
            return 64;
        }
    }
    if (socket_path.empty()) {
        std::fprintf(stderr, "usage: delos-fake-guest --socket PATH\n");
        return 64;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before the serving thread starts
    try {
        delos::chan::FakeGuest guest(socket_path);
        std::fprintf(stderr, "delos-fake-guest: serving %s (Ctrl-C stops)\n", socket_path.c_str());
        int signal = 0;
        sigwait(&signals, &signal);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "delos-fake-guest: %s\n", error.what());
        return 2;
    }
    return 0;
}
