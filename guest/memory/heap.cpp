// heap.cpp: size-class free lists carved from page slabs; large blocks straight from frames.
#include "memory/heap.h"

#include <array>

#include "arch/x86_64/cpu.h"
#include "log/kernel_log.h"
#include "log/panic.h"
#include "memory/call_ownership.h"
#include "memory/frame_allocator.h"
#include "memory/page_table.h"
#include "sync/spin_lock.h"

namespace delos::memory {

namespace {

constexpr std::uint32_t kMagic = 0xde1054a1;
constexpr std::size_t kClassSizes[] = {32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096 - 16};
constexpr std::size_t kClassCount = sizeof kClassSizes / sizeof kClassSizes[0];
constexpr std::size_t kSlabPages = 4;
// ceil(2^32 / size) per class: heap_write_fits divides by a multiplication.
constexpr auto kClassReciprocals = [] {
    std::array<std::uint64_t, kClassCount> reciprocals{};
    for (std::size_t i = 0; i < kClassCount; ++i)
        reciprocals[i] = ((std::uint64_t(1) << 32) + kClassSizes[i] - 1) / kClassSizes[i];
    return reciprocals;
}();
static_assert(kSlabPages * 4096 <= (1u << 14) && kClassSizes[0] >= 32, "the reciprocals are exact for offsets below 2^14");
constexpr std::uint32_t kLargeClass = 0xffff;
// In Header::alignment_padding (paddings stay below 1 << 15): the object is recorded in an open
// call's ledger (memory/call_ownership.h), which must forget it when it is freed.
constexpr std::uint16_t kCallOwned = 0x8000;
constexpr std::uint16_t kPaddingMask = 0x7fff;

// 16 bytes before every allocation, so the payload keeps 16-byte alignment.
struct Header {
    std::uint32_t magic;
    std::uint16_t size_class;  // index into kClassSizes, or kLargeClass
    std::uint16_t alignment_padding;  // bytes between the block start and this header; kCallOwned bit
    std::uint32_t requested;   // requested size (large blocks: low 32 bits; pages give the rest)
    std::uint32_t owner;
};
static_assert(sizeof(Header) == 16);

struct FreeBlock {
    FreeBlock* next;
};

struct HeapState {
    SpinLock lock;
    FreeBlock* free_lists[kClassCount] = {};
    HeapStatistics stats{};
    HeapOwnerHook owner_hook = nullptr;
    HeapAccountingHook accounting_hook = nullptr;
};

HeapState g_heap;

// One byte per RAM frame, for heap_write_fits: 0 = not the heap's; a slab page is its class + 1
// (low nibble) and its page within the slab (bits 4-5); a large block's pages are kLargeFirst,
// then kLargeNext. Written under the heap's lock, read without it (a frame keeps its tag while
// anything can legitimately write to it). Made at the first slab.
constexpr std::uint8_t kLargeFirst = 0xc0;
constexpr std::uint8_t kLargeNext = 0x80;
std::uint8_t* g_page_tags = nullptr;
std::size_t g_page_tag_count = 0;

void make_page_tags()
{
    std::size_t frames = static_cast<std::size_t>(frame_allocator().ram_end() / kPageSize);
    auto range = frame_allocator().allocate(static_cast<std::size_t>(align_up(frames, kPageSize) / kPageSize));
    if (range.is_error())
        return;  // no map: writes are not judged (no worse than before)
    if (kernel_page_table().set_access(range->start, range->size, Access::ReadWrite).is_error()) {
        frame_allocator().free(range.value());
        return;
    }
    auto* tags = reinterpret_cast<std::uint8_t*>(range->start);
    for (std::size_t i = 0; i < frames; ++i)
        tags[i] = 0;
    g_page_tag_count = frames;
    __atomic_store_n(&g_page_tags, tags, __ATOMIC_RELEASE);
}

void tag_pages(std::uint64_t start, std::size_t pages, std::uint8_t first, std::uint8_t next)
{
    std::size_t frame = static_cast<std::size_t>(start / kPageSize);
    for (std::size_t i = 0; i < pages && frame + i < g_page_tag_count; ++i)
        __atomic_store_n(&g_page_tags[frame + i], i == 0 ? first : next, __ATOMIC_RELAXED);
}

std::size_t class_for(std::size_t block_size)
{
    for (std::size_t i = 0; i < kClassCount; ++i) {
        if (block_size <= kClassSizes[i])
            return i;
    }
    return kClassCount;
}

bool refill(std::size_t size_class)
{
    auto slab = frame_allocator().allocate(kSlabPages);
    if (slab.is_error())
        return false;
    if (kernel_page_table().set_access(slab->start, slab->size, Access::ReadWrite).is_error()) {
        frame_allocator().free(slab.value());
        return false;
    }
    g_heap.stats.pages_held += kSlabPages;
    if (!g_page_tags)
        make_page_tags();
    if (g_page_tags) {
        for (std::size_t page = 0; page < kSlabPages; ++page)
            tag_pages(slab->start + page * kPageSize, 1, static_cast<std::uint8_t>((size_class + 1) | (page << 4)), 0);
    }
    std::size_t block = kClassSizes[size_class];
    for (std::uint64_t at = slab->start; at + block <= slab->end(); at += block) {
        auto* free_block = reinterpret_cast<FreeBlock*>(at);
        free_block->next = g_heap.free_lists[size_class];
        g_heap.free_lists[size_class] = free_block;
    }
    return true;
}

// A pointer the heap did not hand out (a corrupted pointer, a double free). Nothing of the heap
// has changed yet, so with interrupts on (task context, no spin lock held) it is the calling
// task's fault, not the kernel's: an invalid opcode here is contained like any CPU exception of
// that task (recovery/fault_containment.h), which is unwound and ends Faulted. With interrupts
// masked (an interrupt handler, a spin lock held, early boot) it stays a panic.
[[noreturn]] void refuse_pointer(const void* pointer)
{
    if (cpu::interrupts_enabled()) {
        kprint("heap: free or query of {:#x}, which the heap did not hand out (or a corrupted header): a fault of the calling task\n",
               reinterpret_cast<std::uintptr_t>(pointer));
        __builtin_trap();
    }
    panic("heap: free or query of a pointer the heap did not hand out (or a corrupted header)");
}

Header* header_of(const void* pointer)
{
    auto* header = reinterpret_cast<Header*>(reinterpret_cast<std::uintptr_t>(pointer) - sizeof(Header));
    if (header->magic != kMagic)
        refuse_pointer(pointer);
    return header;
}

} // namespace

void set_heap_owner_hooks(HeapOwnerHook owner, HeapAccountingHook accounting)
{
    g_heap.owner_hook = owner;
    g_heap.accounting_hook = accounting;
}

void* heap_allocate(std::size_t size, std::size_t alignment)
{
    if (alignment < 16)
        alignment = 16;
    if (size == 0)
        size = 1;
    std::uint32_t owner = g_heap.owner_hook ? static_cast<std::uint32_t>(g_heap.owner_hook()) : 0;
    std::size_t padding = alignment - sizeof(Header);  // payload = block + padding + header
    std::size_t block_size = padding + sizeof(Header) + size;
    if (size >= (1ull << 32) || alignment > (1u << 15))
        return nullptr;  // the header records sizes and padding in 32 and 16 bits

    std::uintptr_t block = 0;
    std::uint16_t size_class = kLargeClass;
    {
        SpinLockGuard guard(g_heap.lock);
        std::size_t index = alignment <= 16 ? class_for(block_size) : kClassCount;
        if (index < kClassCount) {
            if (!g_heap.free_lists[index] && !refill(index))
                return nullptr;
            FreeBlock* free_block = g_heap.free_lists[index];
            g_heap.free_lists[index] = free_block->next;
            block = reinterpret_cast<std::uintptr_t>(free_block);
            size_class = static_cast<std::uint16_t>(index);
        } else {
            std::size_t pages = static_cast<std::size_t>(align_up(block_size, kPageSize) / kPageSize);
            auto range = frame_allocator().allocate(pages, alignment > kPageSize ? alignment : kPageSize);
            if (range.is_error())
                return nullptr;
            if (kernel_page_table().set_access(range->start, range->size, Access::ReadWrite).is_error()) {
                frame_allocator().free(range.value());
                return nullptr;
            }
            g_heap.stats.pages_held += pages;
            block = range->start;
            if (g_page_tags)
                tag_pages(block, pages, kLargeFirst, kLargeNext);
        }
        g_heap.stats.bytes_in_use += size;
        g_heap.stats.allocations_in_use += 1;
    }
    auto* header = reinterpret_cast<Header*>(block + padding);
    header->magic = kMagic;
    header->size_class = size_class;
    header->alignment_padding = static_cast<std::uint16_t>(padding);
    header->requested = static_cast<std::uint32_t>(size);
    header->owner = owner;
    if (g_heap.accounting_hook)
        g_heap.accounting_hook(owner, static_cast<std::int64_t>(size));
    return header + 1;
}

std::size_t heap_allocation_size(const void* pointer)
{
    return header_of(pointer)->requested;
}

void heap_free(void* pointer)
{
    if (!pointer)
        return;
    Header* header = header_of(pointer);
    bool call_owned = (header->alignment_padding & kCallOwned) != 0;
    std::uint16_t padding = header->alignment_padding & kPaddingMask;
    std::uintptr_t block = reinterpret_cast<std::uintptr_t>(header) - padding;
    std::size_t size = header->requested;
    std::uint32_t owner = header->owner;
    std::uint16_t size_class = header->size_class;
    // Forgotten by its call's ledger before the block can be handed out again (on another CPU),
    // so a new allocation at the same address is never taken for the old one.
    if (call_owned)
        forget_call_owned_object(pointer);
    header->magic = 0;  // a second free of the same pointer panics instead of corrupting a list
    {
        SpinLockGuard guard(g_heap.lock);
        if (size_class != kLargeClass) {
            if (size_class >= kClassCount)
                panic("heap: corrupted size class");
            auto* free_block = reinterpret_cast<FreeBlock*>(block);
            free_block->next = g_heap.free_lists[size_class];
            g_heap.free_lists[size_class] = free_block;
        } else {
            std::size_t block_size = padding + sizeof(Header) + size;
            std::size_t pages = static_cast<std::size_t>(align_up(block_size, kPageSize) / kPageSize);
            // Unmapped before it is freed: a use after free faults instead of corrupting a new owner.
            (void)kernel_page_table().set_access(block, pages * kPageSize, Access::None);
            if (g_page_tags)
                tag_pages(block, pages, 0, 0);
            frame_allocator().free({block, pages * kPageSize});
            g_heap.stats.pages_held -= pages;
        }
        g_heap.stats.bytes_in_use -= size;
        g_heap.stats.allocations_in_use -= 1;
    }
    if (g_heap.accounting_hook)
        g_heap.accounting_hook(owner, -static_cast<std::int64_t>(size));
}

std::uint64_t heap_current_owner() { return g_heap.owner_hook ? g_heap.owner_hook() : 0; }

void heap_mark_call_owned(void* pointer, bool owned)
{
    Header* header = header_of(pointer);
    if (owned)
        header->alignment_padding = static_cast<std::uint16_t>(header->alignment_padding | kCallOwned);
    else
        header->alignment_padding = static_cast<std::uint16_t>(header->alignment_padding & kPaddingMask);
}

bool heap_is_live_call_owned(const void* pointer)
{
    auto* header = reinterpret_cast<const Header*>(reinterpret_cast<std::uintptr_t>(pointer) - sizeof(Header));
    return header->magic == kMagic && (header->alignment_padding & kCallOwned) != 0;
}

bool heap_write_fits(const void* destination, std::size_t count)
{
    const std::uint8_t* tags = __atomic_load_n(&g_page_tags, __ATOMIC_ACQUIRE);
    auto start = reinterpret_cast<std::uintptr_t>(destination);
    std::size_t frame = static_cast<std::size_t>(start / kPageSize);
    if (!tags || count == 0 || frame >= g_page_tag_count)
        return true;
    std::uint8_t tag = __atomic_load_n(&tags[frame], __ATOMIC_RELAXED);
    if (tag == 0)
        return true;
    if (count > ~start)
        return false;  // wraps around the address space
    std::uintptr_t end = start + count;
    if (tag & kLargeNext) {
        // A large block: every page the write touches must be a page of the same block.
        std::size_t last = static_cast<std::size_t>((end - 1) / kPageSize);
        for (std::size_t page = frame + 1; page <= last; ++page) {
            if (page >= g_page_tag_count || __atomic_load_n(&tags[page], __ATOMIC_RELAXED) != kLargeNext)
                return false;
        }
        return true;
    }
    std::size_t size_class = (tag & 0x0f) - 1u;
    if (size_class >= kClassCount)
        return true;  // not a tag this heap writes
    std::uintptr_t slab = (frame - ((tag >> 4) & 3u)) * kPageSize;
    std::size_t block = kClassSizes[size_class];
    // offset / block by a reciprocal (exact: offset < 2^14 and block < 2^12, so offset * block < 2^32).
    std::uint64_t offset = start - slab;
    std::uintptr_t block_start = slab + ((offset * kClassReciprocals[size_class]) >> 32) * block;
    std::uintptr_t block_end = block_start + block;
    std::uintptr_t slab_end = slab + kSlabPages * kPageSize;
    return end <= (block_end < slab_end ? block_end : slab_end);
}

void refuse_heap_overflow(const void* destination, std::size_t count)
{
    if (cpu::interrupts_enabled()) {
        kprint("heap: a write of {} bytes at {:#x} would run past the end of its heap block: a fault of the calling task, nothing written\n",
               count, reinterpret_cast<std::uintptr_t>(destination));
        __builtin_trap();
    }
    panic("heap: a write would run past the end of its heap block (interrupts masked)");
}

HeapStatistics heap_statistics()
{
    SpinLockGuard guard(g_heap.lock);
    return g_heap.stats;
}

} // namespace delos::memory
