// main.cpp: delos-chan, a command-line client of the channel protocol (see chan_command.h).
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "chan_command.h"

int main(int argc, char** argv)
{
    std::vector<std::string> arguments(argv + 1, argv + argc);
    return delos::chan::run_chan(arguments, std::cout, std::cerr, ::isatty(STDERR_FILENO));
}
