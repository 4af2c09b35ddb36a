// memory_tests.cpp: in-guest tests of the frame allocator, the heap and guarded stacks.
#include "debug/fault_probe.h"
#include "lib/core/vector.h"
#include "memory/frame_allocator.h"
#include "memory/heap.h"
#include "log/kernel_log.h"
#include "memory/kernel_stack.h"
#include "memory/mapped_pages.h"
#include "memory/page_table.h"
#include "selftest/selftest.h"

namespace delos::selftest {

namespace {

using namespace memory;

ErrorOr<void> frames_allocate_and_free()
{
    auto& frames = frame_allocator();
    std::size_t before = frames.free_frames();
    auto one = SELFTEST_TRY(frames.allocate(1));
    auto run = SELFTEST_TRY(frames.allocate(7));
    SELFTEST_CHECK(one.start % kPageSize == 0 && one.size == kPageSize);
    SELFTEST_CHECK(run.size == 7 * kPageSize);
    SELFTEST_CHECK(run.end() <= one.start || one.end() <= run.start);  // no overlap
    SELFTEST_CHECK(!frames.is_free(one.start) && !frames.is_free(run.start + 6 * kPageSize));
    SELFTEST_CHECK(frames.free_frames() == before - 8);
    frames.free(one);
    frames.free(run);
    SELFTEST_CHECK(frames.free_frames() == before);
    SELFTEST_CHECK(frames.is_free(one.start));
    return {};
}

ErrorOr<void> frames_honour_alignment()
{
    auto& frames = frame_allocator();
    auto aligned = SELFTEST_TRY(frames.allocate(4, kLargePageSize));
    SELFTEST_CHECK(aligned.start % kLargePageSize == 0);
    frames.free(aligned);
    return {};
}

ErrorOr<void> frames_refuse_impossible_requests()
{
    auto& frames = frame_allocator();
    auto too_many = frames.allocate(frames.free_frames() + 1);
    SELFTEST_CHECK(too_many.is_error() && too_many.error().code == ErrorCode::OutOfMemory);
    SELFTEST_CHECK(frames.allocate(0).is_error());
    SELFTEST_CHECK(frames.allocate(1, 3000).is_error());
    return {};
}

ErrorOr<void> frames_never_hand_out_the_kernel_or_null()
{
    auto& frames = frame_allocator();
    auto layout = kernel_layout();
    SELFTEST_CHECK(!frames.is_free(0));
    SELFTEST_CHECK(!frames.is_free(layout.text_start));
    SELFTEST_CHECK(!frames.is_free(layout.data_end - kPageSize));
    return {};
}

ErrorOr<void> heap_sizes_and_alignment()
{
    auto before = heap_statistics();
    void* blocks[9];
    std::size_t count = 0;
    for (std::size_t size : {1ul, 15ul, 16ul, 17ul, 100ul, 1000ul, 2048ul, 5000ul, 70000ul}) {
        void* block = heap_allocate(size, 16);
        SELFTEST_CHECK(block != nullptr);
        SELFTEST_CHECK(reinterpret_cast<std::uintptr_t>(block) % 16 == 0);
        SELFTEST_CHECK(heap_allocation_size(block) == size);
        __builtin_memset(block, 0xab, size);
        blocks[count++] = block;
    }
    void* page_aligned = heap_allocate(100, 4096);
    SELFTEST_CHECK(page_aligned && reinterpret_cast<std::uintptr_t>(page_aligned) % 4096 == 0);
    void* cache_aligned = heap_allocate(10, 64);
    SELFTEST_CHECK(cache_aligned && reinterpret_cast<std::uintptr_t>(cache_aligned) % 64 == 0);
    heap_free(page_aligned);
    heap_free(cache_aligned);
    for (std::size_t i = 0; i < count; ++i)
        heap_free(blocks[i]);
    auto after = heap_statistics();
    SELFTEST_CHECK(after.bytes_in_use == before.bytes_in_use);
    SELFTEST_CHECK(after.allocations_in_use == before.allocations_in_use);
    return {};
}

ErrorOr<void> heap_counters_return_to_baseline()
{
    auto before = heap_statistics();
    {
        Vector<Vector<int>> nested;
        for (int i = 0; i < 200; ++i) {
            nested.emplace();
            for (int j = 0; j < i; ++j)
                nested.last().append(j);
        }
        SELFTEST_CHECK(heap_statistics().allocations_in_use > before.allocations_in_use);
    }
    auto after = heap_statistics();
    SELFTEST_CHECK(after.bytes_in_use == before.bytes_in_use);
    SELFTEST_CHECK(after.allocations_in_use == before.allocations_in_use);
    return {};
}

ErrorOr<void> heap_large_blocks_are_unmapped_when_freed()
{
    auto* block = static_cast<volatile std::uint8_t*>(heap_allocate(64 * 1024, 16));
    SELFTEST_CHECK(block != nullptr);
    block[0] = 1;
    heap_free(const_cast<std::uint8_t*>(block));
    FaultRecord record{};
    bool faulted = run_expecting_fault([](void* pointer) { *static_cast<volatile std::uint8_t*>(pointer) = 2; },
                                       const_cast<std::uint8_t*>(block), record);
    SELFTEST_CHECK(faulted);
    SELFTEST_CHECK(record.vector == 14);
    return {};
}

// The linear map's baseline agrees with unmap-on-free: no free frame is mapped, whether it was
// never used or freed (a stray pointer into free RAM faults), and every frame the allocator holds
// is reachable by the kernel or deliberately unmapped by its owner.
ErrorOr<void> free_frames_are_not_mapped()
{
    auto& frames = frame_allocator();
    std::size_t mapped_free = 0, first = 0;
    for (std::uint64_t address = kPageSize; address < frames.ram_end(); address += kPageSize) {
        if (frames.is_free(address) && kernel_page_table().access_of(address) != Access::None) {
            if (mapped_free++ == 0)
                first = address;
        }
    }
    if (mapped_free != 0)
        kprint("selftest: {} free frames are mapped, the first at {:#x}\n", mapped_free, first);
    SELFTEST_CHECK(mapped_free == 0);
    return {};
}

// Every way RAM is taken and given back (pages with each right, heap slabs and large blocks,
// stacks with their guard page, device frames), many times and in sizes that cross 2 MiB
// regions: the free frames come back exactly, no page table is made and no entry above the last
// level is written (RAM's tables are all built at boot and never split or freed).
ErrorOr<void> taking_and_giving_back_ram_costs_no_table()
{
    for (int round = 0; round < 2; ++round) {  // the first round may grow heap slabs for good
        std::size_t frames_before = frame_allocator().free_frames();
        PageTableStatistics paging_before = kernel_page_table().statistics();
        for (int i = 0; i < 64; ++i) {
            auto code = SELFTEST_TRY(MappedPages::allocate(3, Access::ReadExecute));
            auto data = SELFTEST_TRY(MappedPages::allocate(600));  // more than a 2 MiB region
            auto rodata = SELFTEST_TRY(MappedPages::allocate(1 + i % 5, Access::Read));
            void* large = heap_allocate(40 * 1024 + i * 4096, 16);
            SELFTEST_CHECK(large != nullptr);
            auto stack = SELFTEST_TRY(KernelStack::allocate(4));
            auto device = SELFTEST_TRY(allocate_device_frames(2));
            *reinterpret_cast<volatile std::uint64_t*>(device.start) = 1;
            *data.as<volatile std::uint64_t>(data.size() - 8) = 2;
            free_device_frames(device);
            heap_free(large);
        }
        PageTableStatistics paging_after = kernel_page_table().statistics();
        SELFTEST_CHECK(paging_after.table_frames == paging_before.table_frames);
        SELFTEST_CHECK(paging_after.structure_writes == paging_before.structure_writes);
        if (round == 1)
            SELFTEST_CHECK(frame_allocator().free_frames() == frames_before);
    }
    return free_frames_are_not_mapped();
}

ErrorOr<void> stack_guard_page_faults()
{
    auto stack = SELFTEST_TRY(KernelStack::allocate(2));
    FaultRecord record{};
    auto* below = reinterpret_cast<void*>(stack.bottom() - 8);
    bool faulted = run_expecting_fault([](void* pointer) { *static_cast<volatile std::uint64_t*>(pointer) = 1; }, below, record);
    SELFTEST_CHECK(faulted);
    SELFTEST_CHECK(record.vector == 14 && record.fault_address == stack.bottom() - 8);
    // The usable part is writable.
    *reinterpret_cast<volatile std::uint64_t*>(stack.top() - 8) = 42;
    return {};
}

} // namespace

extern const TestCase kMemoryTests[] = {
    {"frames", "allocate_and_free", frames_allocate_and_free},
    {"frames", "honour_alignment", frames_honour_alignment},
    {"frames", "refuse_impossible_requests", frames_refuse_impossible_requests},
    {"frames", "never_hand_out_the_kernel_or_null", frames_never_hand_out_the_kernel_or_null},
    {"heap", "sizes_and_alignment", heap_sizes_and_alignment},
    {"heap", "counters_return_to_baseline", heap_counters_return_to_baseline},
    {"heap", "large_blocks_are_unmapped_when_freed", heap_large_blocks_are_unmapped_when_freed},
    {"stack", "guard_page_faults", stack_guard_page_faults},
    {"pages", "free_frames_are_not_mapped", free_frames_are_not_mapped},
    {"pages", "taking_and_giving_back_ram_costs_no_table", taking_and_giving_back_ram_costs_no_table},
};
extern const std::size_t kMemoryTestCount = sizeof kMemoryTests / sizeof kMemoryTests[0];

} // namespace delos::selftest
