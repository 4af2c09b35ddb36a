// memory_functions.cpp: the C memory and string functions the compiler may call on its own.
#include <cstddef>
#include <cstdint>

#include "memory/heap.h"

namespace {

// Nothing is written past the end of the heap block the destination starts in (memory/heap.h,
// heap_write_fits): the fault campaign's wild lengths in cells' inlined String code zeroed tens
// of KiB of the kernel heap before anything faulted.
inline void check_destination(void* destination, std::size_t count)
{
    if (!delos::memory::heap_write_fits(destination, count)) [[unlikely]]
        delos::memory::refuse_heap_overflow(destination, count);
}

} // namespace

extern "C" {

// Each clears the direction flag first: the ABI says it is clear at a call, but a cell whose code
// was corrupted (a garbage popf, a stray std) may call with it set, and a copy run backwards writes
// below its destination, past every bound checked here.
// Eight bytes per step, then the tail: an emulated CPU (QEMU TCG, KVM's instruction emulator)
// pays per step of a rep instruction whatever its width, so quadwords copy a pushed cell ~8x
// faster there; on hardware (fast strings) both widths run at memory speed.
void* memcpy(void* destination, const void* source, std::size_t count)
{
    check_destination(destination, count);
    void* result = destination;
    std::size_t words = count / 8, tail = count % 8;
    asm volatile("cld\n\trep movsq" : "+D"(destination), "+S"(source), "+c"(words)::"memory");
    asm volatile("rep movsb" : "+D"(destination), "+S"(source), "+c"(tail)::"memory");
    return result;
}

void* memset(void* destination, int value, std::size_t count)
{
    check_destination(destination, count);
    void* result = destination;
    std::size_t words = count / 8, tail = count % 8;
    std::uint64_t pattern = 0x0101010101010101ull * static_cast<unsigned char>(value);
    asm volatile("cld\n\trep stosq" : "+D"(destination), "+c"(words) : "a"(pattern) : "memory");
    asm volatile("rep stosb" : "+D"(destination), "+c"(tail) : "a"(pattern) : "memory");
    return result;
}

void* memmove(void* destination, const void* source, std::size_t count)
{
    auto* to = static_cast<unsigned char*>(destination);
    const auto* from = static_cast<const unsigned char*>(source);
    if (to == from || count == 0)
        return destination;
    check_destination(destination, count);
    if (to < from || to >= from + count)
        return memcpy(destination, source, count);
    // Overlapping with destination above source: copy backwards.
    to += count - 1;
    from += count - 1;
    asm volatile("std; rep movsb; cld" : "+D"(to), "+S"(from), "+c"(count)::"memory");
    return destination;
}

int memcmp(const void* left, const void* right, std::size_t count)
{
    const auto* a = static_cast<const unsigned char*>(left);
    const auto* b = static_cast<const unsigned char*>(right);
    for (std::size_t i = 0; i < count; ++i) {
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    }
    return 0;
}

std::size_t strlen(const char* text)
{
    std::size_t length = 0;
    while (text[length])
        ++length;
    return length;
}

} // extern "C"
