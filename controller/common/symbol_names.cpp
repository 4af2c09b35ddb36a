// symbol_names.cpp: demangling with the C++ runtime's own demangler (libstdc++'s __cxa_demangle).
#include "symbol_names.h"

#include <cstdio>
#include <cstdlib>
#include <cxxabi.h>

namespace delos::controller {

std::string demangled_symbol(const std::string& symbol)
{
    if (symbol.rfind("_Z", 0) != 0)
        return symbol;
    int status = 0;
    char* readable = abi::__cxa_demangle(symbol.c_str(), nullptr, nullptr, &status);
    std::string out = status == 0 && readable ? readable : symbol;
    std::free(readable);
    return out;
}

std::string short_symbol(const std::string& symbol)
{
    std::string name = demangled_symbol(symbol);
    if (name == symbol)
        return name;
    // Drop trailing qualifiers (" const", " &&") and then the outermost parameter list, found by
    // walking back from its closing parenthesis; lambdas' own "(...)" sit inside braces and stay.
    std::size_t end = name.size();
    while (end > 0 && name[end - 1] != ')') {
        if (name[end - 1] == '>' || name[end - 1] == ']' || name[end - 1] == '}')
            return name;  // not a function type at the end (a variable, a template argument list)
        --end;
    }
    int depth = 0;
    for (std::size_t i = end; i-- > 0;) {
        if (name[i] == ')')
            ++depth;
        else if (name[i] == '(' && --depth == 0)
            return i == 0 ? name : name.substr(0, i);
    }
    return name;
}

std::string short_symbol_and_offset(const std::string& symbol, std::uint64_t offset)
{
    char hex[24];
    std::snprintf(hex, sizeof hex, "+0x%llx", static_cast<unsigned long long>(offset));
    return (symbol.empty() ? std::string("??") : short_symbol(symbol)) + hex;
}

} // namespace delos::controller
