// symbol_names_test.cpp: guest symbols shown to people: demangled, shortened for tables, and
// anything that is not a mangled name (or is hostile garbage) left as it came.
#include <gtest/gtest.h>

#include "symbol_names.h"

using delos::controller::demangled_symbol;
using delos::controller::short_symbol;
using delos::controller::short_symbol_and_offset;

TEST(SymbolNames, MangledNamesAreDemangled)
{
    EXPECT_EQ(demangled_symbol("_ZN5delos13rollout_probe6handleEm"), "delos::rollout_probe::handle(unsigned long)");
    EXPECT_EQ(short_symbol("_ZN5delos13rollout_probe6handleEm"), "delos::rollout_probe::handle");
    EXPECT_EQ(short_symbol_and_offset("_ZN5delos13rollout_probe6handleEm", 0x2a), "delos::rollout_probe::handle+0x2a");
}

TEST(SymbolNames, QualifiersAndLambdasKeepTheirInsides)
{
    // const member function: the qualifier and the parameter list go, the name stays.
    EXPECT_EQ(short_symbol("_ZNK5delos2kv5Store4sizeEv"), "delos::kv::Store::size");
    // A lambda's operator(): its own "(...)" inside the name stays, only the last list goes.
    std::string lambda = demangled_symbol("_ZZN5delos4task5spawnEvENKUlPvE_clES1_");
    ASSERT_NE(lambda, "_ZZN5delos4task5spawnEvENKUlPvE_clES1_") << "the C++ runtime could not demangle it";
    std::string shortened = short_symbol("_ZZN5delos4task5spawnEvENKUlPvE_clES1_");
    EXPECT_LT(shortened.size(), lambda.size());
    EXPECT_EQ(lambda.rfind(shortened, 0), 0u) << lambda << " -> " << shortened;
    EXPECT_NE(shortened.find("{lambda(void*)#1}"), std::string::npos) << shortened;
}

TEST(SymbolNames, OtherNamesComeBackUnchanged)
{
    EXPECT_EQ(demangled_symbol("delos_task_entry"), "delos_task_entry");
    EXPECT_EQ(short_symbol("hello_main"), "hello_main");
    EXPECT_EQ(short_symbol("_Z"), "_Z");                  // not valid: unchanged
    EXPECT_EQ(short_symbol("_Zgarbage(("), "_Zgarbage((");
    EXPECT_EQ(short_symbol(""), "");
    EXPECT_EQ(short_symbol_and_offset("", 0x10), "??+0x10");
    EXPECT_EQ(short_symbol_and_offset("crash_now", 0), "crash_now+0x0");
}

TEST(SymbolNames, NamesInsideGuestTextAreDemangled)
{
    EXPECT_EQ(delos::controller::demangle_names_in(
                  "cell counter needs _ZN5delos2kv6writesENS_10StringViewE, which nothing exports"),
              "cell counter needs delos::kv::writes(delos::StringView), which nothing exports");
    EXPECT_EQ(delos::controller::demangle_names_in("at _ZN5delos4mainEv."), "at delos::main().");
    EXPECT_EQ(delos::controller::demangle_names_in("x_Zfoo and _Z alone"), "x_Zfoo and _Z alone");
    EXPECT_EQ(delos::controller::demangle_names_in(""), "");
}

TEST(SymbolNames, HostileLongNamesDoNotBreakIt)
{
    std::string nested = "_Z1f";
    for (int i = 0; i < 2000; ++i)
        nested += "PFvv";  // deeply nested function pointer types
    nested += "E";
    std::string out = short_symbol(nested);  // whatever the demangler makes of it, it returns
    EXPECT_FALSE(out.empty());
}
