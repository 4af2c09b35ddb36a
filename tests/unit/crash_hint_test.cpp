// crash_hint_test.cpp: delos-vmm names a likely stack overflow in its crash report when the last
// page fault was at the stack pointer (kvm_pvm native mode has no IST stack for the guest to
// report it on, so the guest triple faults).
#include <gtest/gtest.h>

#include "x86_64_cpu.h"

using delos::vmm::looks_like_stack_overflow;

TEST(CrashHint, FaultAtTheStackPointerIsAStackOverflow)
{
    EXPECT_TRUE(looks_like_stack_overflow(0x27aec0, 0x27aec0));
    EXPECT_TRUE(looks_like_stack_overflow(0x27b000, 0x27aff8));  // the push just below rsp
    EXPECT_TRUE(looks_like_stack_overflow(0x27aff8, 0x27b000));
}

TEST(CrashHint, OtherFaultsAreNot)
{
    EXPECT_FALSE(looks_like_stack_overflow(0x27aec0, 0));         // no page fault at all
    EXPECT_FALSE(looks_like_stack_overflow(0x27aec0, 0x10));      // a null dereference
    EXPECT_FALSE(looks_like_stack_overflow(0x27aec0, 0x27c000));  // far above
    EXPECT_FALSE(looks_like_stack_overflow(0x27aec0, 0x279000));  // far below
    EXPECT_FALSE(looks_like_stack_overflow(0x100, ~0ull - 16));   // no wrap-around
}
