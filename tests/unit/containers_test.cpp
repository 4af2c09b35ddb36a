// containers_test.cpp: the freestanding Vector, String, HashMap and OwnPtr behave like their std cousins.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "lib/core/hash_map.h"
#include "lib/core/own_ptr.h"
#include "lib/core/string.h"
#include "lib/core/vector.h"

using namespace delos;

namespace {
struct Counted {
    static inline int alive = 0;
    int value;
    explicit Counted(int v) : value(v) { ++alive; }
    Counted(Counted&& other) noexcept : value(other.value) { ++alive; }
    Counted& operator=(Counted&& other) noexcept = default;
    ~Counted() { --alive; }
};
} // namespace

TEST(Vector, AppendGrowRemoveAndDestroy)
{
    {
        Vector<Counted> items;
        for (int i = 0; i < 100; ++i)
            items.emplace(i);
        EXPECT_EQ(items.size(), 100u);
        EXPECT_EQ(Counted::alive, 100);
        items.remove(0);
        EXPECT_EQ(items[0].value, 1);
        EXPECT_EQ(items.remove_all_matching([](const Counted& c) { return c.value % 2 == 0; }), 49u);
        EXPECT_EQ(items.size(), 50u);
        EXPECT_EQ(items.take_last().value, 99);
        EXPECT_EQ(Counted::alive, 49);
        Vector<Counted> moved = std::move(items);
        EXPECT_EQ(moved.size(), 49u);
        EXPECT_EQ(items.size(), 0u);
    }
    EXPECT_EQ(Counted::alive, 0);
}

TEST(String, AppendsAndCompares)
{
    String s("cell");
    s.append('-');
    s.append(StringView("kv"));
    EXPECT_TRUE(s == StringView("cell-kv"));
    EXPECT_STREQ(s.c_str(), "cell-kv");
    EXPECT_TRUE(s.view().starts_with("cell"));
    EXPECT_TRUE(s.view().ends_with("kv"));
    EXPECT_EQ(s.view().find('-'), 4u);
    EXPECT_TRUE(s.view().substr(5) == StringView("kv"));
    EXPECT_LT(StringView("abc").compare("abd"), 0);
}

TEST(HashMap, MatchesStdMapUnderRandomOperations)
{
    HashMap<std::uint64_t, int> map;
    std::map<std::uint64_t, int> reference;
    std::mt19937_64 random(42);
    for (int step = 0; step < 20000; ++step) {
        std::uint64_t key = random() % 512;
        if (random() % 3 == 0) {
            EXPECT_EQ(map.remove(key), reference.erase(key) == 1);
        } else {
            map.set(key, step);
            reference[key] = step;
        }
    }
    EXPECT_EQ(map.size(), reference.size());
    for (auto& [key, value] : reference) {
        ASSERT_NE(map.find(key), nullptr);
        EXPECT_EQ(*map.find(key), value);
    }
    std::size_t visited = 0;
    map.for_each([&](const std::uint64_t&, int&) { ++visited; });
    EXPECT_EQ(visited, reference.size());
}

TEST(HashMap, StringKeysAreFoundByView)
{
    HashMap<String, int> map;
    map.set(String("log"), 1);
    map.set(String("kv"), 2);
    ASSERT_NE(map.find(StringView("kv")), nullptr);
    EXPECT_EQ(*map.find(StringView("kv")), 2);
    EXPECT_EQ(map.find(StringView("nope")), nullptr);
    EXPECT_TRUE(map.remove(StringView("log")));
    EXPECT_FALSE(map.contains(StringView("log")));
}

TEST(OwnPtr, DeletesOnceAndMoves)
{
    {
        OwnPtr<Counted> a = make_own<Counted>(7);
        OwnPtr<Counted> b = std::move(a);
        EXPECT_FALSE(a);
        EXPECT_EQ(b->value, 7);
        EXPECT_EQ(Counted::alive, 1);
    }
    EXPECT_EQ(Counted::alive, 0);
}
