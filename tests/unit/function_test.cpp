// function_test.cpp: UniqueFunction owns its callable: moves transfer it, destruction releases
// captures exactly once, and small callables stay inline while large ones use the heap.
#include "lib/core/function.h"

#include <gtest/gtest.h>

#include <memory>

namespace delos {
namespace {

struct DestructionCounter {
    int* destroyed;
    explicit DestructionCounter(int* counter) : destroyed(counter) {}
    DestructionCounter(DestructionCounter&& other) noexcept : destroyed(other.destroyed) { other.destroyed = nullptr; }
    ~DestructionCounter()
    {
        if (destroyed)
            ++*destroyed;
    }
};

TEST(UniqueFunction, CallsWithArgumentsAndReturnsTheResult)
{
    UniqueFunction<int(int, int)> add = [](int a, int b) { return a + b; };
    EXPECT_TRUE(add);
    EXPECT_EQ(add(2, 3), 5);
}

TEST(UniqueFunction, EmptyByDefault)
{
    UniqueFunction<void()> empty;
    EXPECT_FALSE(empty);
    UniqueFunction<void()> null = nullptr;
    EXPECT_FALSE(null);
}

TEST(UniqueFunction, OwnsMoveOnlyCaptures)
{
    auto owned = std::make_unique<int>(41);
    UniqueFunction<int()> take = [value = std::move(owned)]() { return *value + 1; };
    EXPECT_EQ(owned, nullptr);
    EXPECT_EQ(take(), 42);
}

TEST(UniqueFunction, MovingTransfersTheCallableWithoutDestroyingCaptures)
{
    int destroyed = 0;
    {
        UniqueFunction<int()> first = [counter = DestructionCounter(&destroyed)]() { return 7; };
        EXPECT_TRUE(first.is_inline());
        UniqueFunction<int()> second = std::move(first);
        EXPECT_FALSE(first);
        EXPECT_EQ(destroyed, 0);
        EXPECT_EQ(second(), 7);
        UniqueFunction<int()> third;
        third = std::move(second);
        EXPECT_EQ(destroyed, 0);
        EXPECT_EQ(third(), 7);
    }
    EXPECT_EQ(destroyed, 1);
}

TEST(UniqueFunction, LargeCallablesLiveOnTheHeapAndAreReleasedOnce)
{
    int destroyed = 0;
    {
        char padding[200] = {1};
        UniqueFunction<int()> large = [padding, counter = DestructionCounter(&destroyed)]() { return padding[0] + 1; };
        EXPECT_FALSE(large.is_inline());
        UniqueFunction<int()> moved = std::move(large);
        EXPECT_EQ(moved(), 2);
        EXPECT_EQ(destroyed, 0);
    }
    EXPECT_EQ(destroyed, 1);
}

TEST(UniqueFunction, ResetReleasesCapturesImmediately)
{
    int destroyed = 0;
    UniqueFunction<void()> function = [counter = DestructionCounter(&destroyed)]() {};
    function.reset();
    EXPECT_EQ(destroyed, 1);
    EXPECT_FALSE(function);
}

TEST(UniqueFunction, AssigningOverAFunctionDestroysTheOldCallable)
{
    int destroyed = 0;
    UniqueFunction<int()> function = [counter = DestructionCounter(&destroyed)]() { return 1; };
    function = [] { return 2; };
    EXPECT_EQ(destroyed, 1);
    EXPECT_EQ(function(), 2);
}

TEST(UniqueFunction, MutableCallablesKeepStateAcrossCalls)
{
    UniqueFunction<int()> counter = [count = 0]() mutable { return ++count; };
    EXPECT_EQ(counter(), 1);
    EXPECT_EQ(counter(), 2);
}

} // namespace
} // namespace delos
