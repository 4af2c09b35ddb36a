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

std::string demangle_names_in(const std::string& text)
{
    auto is_name_char = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '$';
    };
    std::string out;
    std::size_t i = 0;
    while (i < text.size()) {
        bool starts_name = text.compare(i, 2, "_Z") == 0 && (i == 0 || !is_name_char(text[i - 1]));
        if (!starts_name) {
            out += text[i++];
            continue;
        }
        std::size_t end = i;
        while (end < text.size() && is_name_char(text[end]))
            ++end;
        while (end > i && text[end - 1] == '.')  // a sentence's full stop is not part of the name
            --end;
        out += demangled_symbol(text.substr(i, end - i));
        i = end;
    }
    return out;
}

std::string short_symbol_and_offset(const std::string& symbol, std::uint64_t offset)
{
    char hex[24];
    std::snprintf(hex, sizeof hex, "+0x%llx", static_cast<unsigned long long>(offset));
    return (symbol.empty() ? std::string("??") : short_symbol(symbol)) + hex;
}

} // namespace delos::controller
