// error_or.cpp: names for error codes, so every layer prints the same word, and the owned
// detail an error can carry.
#include "lib/core/error_or.h"

#include <initializer_list>
#include <new>

namespace delos {

const char* error_code_name(ErrorCode code)
{
    switch (code) {
    case ErrorCode::InvalidArgument: return "invalid-argument";
    case ErrorCode::Malformed: return "malformed";
    case ErrorCode::OutOfRange: return "out-of-range";
    case ErrorCode::Unsupported: return "unsupported";
    case ErrorCode::NotFound: return "not-found";
    case ErrorCode::AlreadyExists: return "already-exists";
    case ErrorCode::Busy: return "busy";
    case ErrorCode::OutOfMemory: return "out-of-memory";
    case ErrorCode::Overflow: return "overflow";
    case ErrorCode::PermissionDenied: return "permission-denied";
    case ErrorCode::Io: return "io";
    case ErrorCode::Timeout: return "timeout";
    case ErrorCode::Internal: return "internal";
    }
    return "unknown";
}

namespace {
constexpr std::size_t kMaxDetailBytes = 4096;  // a runaway explanation is cut, never refused
}

ErrorDetail::ErrorDetail(StringView text) : ErrorDetail(text, StringView(), StringView()) {}

ErrorDetail::ErrorDetail(StringView first, StringView second, StringView third)
{
    std::size_t size = first.size() + second.size() + third.size();
    if (size == 0)
        return;
    if (size > kMaxDetailBytes)
        size = kMaxDetailBytes;
    void* memory = ::operator new(sizeof(Block) + size, std::nothrow);
    if (!memory)
        return;  // no memory for the explanation: the error keeps its static message
    m_block = static_cast<Block*>(memory);
    m_block->mark = kBlockMark;
    m_block->references = 1;
    m_block->size = static_cast<std::uint32_t>(size);
    std::size_t at = 0;
    for (StringView part : {first, second, third}) {
        std::size_t take = part.size() < size - at ? part.size() : size - at;
        if (take)
            __builtin_memcpy(m_block->text + at, part.data(), take);
        at += take;
    }
}

Error Error::with_context(StringView context) const
{
    Error copy = *this;
    copy.detail = ErrorDetail(context, ": ", explanation());
    return copy;
}

} // namespace delos
