// error_detail_test.cpp: errors that own their explanation: the static message and value keep
// working as before, a detail travels with copies and moves (shared, not copied), through TRY
// and ErrorOr, and context can be added on the way up.
#include <gtest/gtest.h>

#include <string>

#include "lib/core/error_or.h"
#include "lib/core/format.h"

using namespace delos;

namespace {

std::string str(StringView text) { return std::string(text.data(), text.size()); }

ErrorOr<int> refuse_with_detail(const char* cell)
{
    return Error::make(ErrorCode::NotFound, "undefined symbol", 7).with_detail(format("cell {} needs kv::put", cell));
}

ErrorOr<int> passes_it_up()
{
    int value = TRY(refuse_with_detail("counter"));
    return value + 1;
}

ErrorOr<void> adds_context()
{
    auto result = passes_it_up();
    if (result.is_error())
        return result.release_error().with_context("loading counter");
    return {};
}

} // namespace

TEST(ErrorDetail, PlainErrorsAreAsBefore)
{
    Error error = Error::make(ErrorCode::Busy, "cell is still used by another cell");
    EXPECT_EQ(error.code, ErrorCode::Busy);
    EXPECT_STREQ(error.message, "cell is still used by another cell");
    EXPECT_FALSE(error.has_value);
    EXPECT_FALSE(error.has_detail());
    EXPECT_EQ(str(error.explanation()), "cell is still used by another cell");
    Error aggregate{ErrorCode::Io, "io", 3, true};  // aggregate initialisation still compiles
    EXPECT_EQ(aggregate.value, 3u);
    EXPECT_FALSE(aggregate.has_detail());
    constexpr Error at_compile_time = Error::make(ErrorCode::Internal, "constant");
    EXPECT_STREQ(at_compile_time.message, "constant");
}

TEST(ErrorDetail, DetailTravelsThroughTryAndKeepsMessageAndValue)
{
    auto result = passes_it_up();
    ASSERT_TRUE(result.is_error());
    const Error& error = result.error();
    EXPECT_EQ(error.code, ErrorCode::NotFound);
    EXPECT_STREQ(error.message, "undefined symbol");
    EXPECT_TRUE(error.has_value);
    EXPECT_EQ(error.value, 7u);
    ASSERT_TRUE(error.has_detail());
    EXPECT_EQ(str(error.detail.text()), "cell counter needs kv::put");
    EXPECT_EQ(str(error.explanation()), "cell counter needs kv::put");
}

TEST(ErrorDetail, ContextWrapsTheDetailOrTheMessage)
{
    auto wrapped = adds_context();
    ASSERT_TRUE(wrapped.is_error());
    EXPECT_EQ(str(wrapped.error().explanation()), "loading counter: cell counter needs kv::put");
    EXPECT_STREQ(wrapped.error().message, "undefined symbol");
    Error bare = Error::make(ErrorCode::Malformed, "not an ELF object").with_context("cell hello");
    EXPECT_EQ(str(bare.explanation()), "cell hello: not an ELF object");
}

TEST(ErrorDetail, CopiesShareAndOutliveTheOriginal)
{
    Error copy;
    {
        Error original = Error::make(ErrorCode::Busy, "busy").with_detail("cell kv is used by counter");
        copy = original;
        Error moved = std::move(original);
        EXPECT_EQ(moved.detail.text().data(), copy.detail.text().data());  // shared, not copied
        EXPECT_TRUE(original.detail.empty());
    }
    EXPECT_EQ(str(copy.explanation()), "cell kv is used by counter");
    Error replaced = copy.with_detail("another reason");
    EXPECT_EQ(str(replaced.explanation()), "another reason");
    EXPECT_EQ(str(copy.explanation()), "cell kv is used by counter");
    copy = replaced;  // assigning over a shared detail releases the old one
    EXPECT_EQ(str(copy.explanation()), "another reason");
}

TEST(ErrorDetail, ErrorOrMovesKeepTheDetail)
{
    ErrorOr<std::string> first = Error::make(ErrorCode::Io, "write failed").with_detail("port org.delos.control.0 closed");
    ErrorOr<std::string> second = std::move(first);
    ASSERT_TRUE(second.is_error());
    EXPECT_EQ(str(second.error().explanation()), "port org.delos.control.0 closed");
    ErrorOr<std::string> third = std::string("value");
    third = std::move(second);
    ASSERT_TRUE(third.is_error());
    EXPECT_EQ(str(third.release_error().explanation()), "port org.delos.control.0 closed");
    ErrorOr<void> none = Error::make(ErrorCode::Timeout, "timeout").with_detail("");
    EXPECT_FALSE(none.error().has_detail());  // an empty detail is no detail
}

TEST(ErrorDetail, AHugeDetailIsCutNotRefused)
{
    std::string huge(100000, 'x');
    Error error = Error::make(ErrorCode::Internal, "internal").with_detail(StringView(huge.data(), huge.size()));
    ASSERT_TRUE(error.has_detail());
    EXPECT_EQ(error.detail.text().size(), 4096u);
}

// A detail that was never constructed holds whatever the stack slot held: the ErrorOr a skipped
// or corrupted call left unwritten in its caller (the fault campaign's counter workload). Its
// destructor must not count down through that pointer (it would write into whatever object lives
// there now): it stops on the block's missing mark, and the stale object is left as it was.
TEST(ErrorDetail, AStaleHandleStopsBeforeWritingThroughIt)
{
    struct NotABlock {
        std::uint32_t words[4] = {0x11111111, 2, 3, 4};
    };
    static NotABlock victim;
    auto destroy_stale = [] {
        alignas(ErrorDetail) unsigned char storage[sizeof(ErrorDetail)];
        NotABlock* stale = &victim;
        static_assert(sizeof(ErrorDetail) == sizeof stale);
        __builtin_memcpy(storage, &stale, sizeof stale);
        std::launder(reinterpret_cast<ErrorDetail*>(storage))->~ErrorDetail();
    };
    EXPECT_DEATH(destroy_stale(), "");
    EXPECT_EQ(victim.words[0], 0x11111111u);
    EXPECT_EQ(victim.words[1], 2u);

    // A real detail still counts: copies share the block, and the last one frees it.
    ErrorDetail shared(StringView("kept"));
    {
        ErrorDetail copy = shared;
        EXPECT_EQ(str(copy.text()), "kept");
    }
    EXPECT_EQ(str(shared.text()), "kept");
}
