// mapped_pages.cpp: mapping, unmapping, access changes and the ownership accounting of pages.
#include "memory/mapped_pages.h"

#include <new>
#include <utility>

#include "arch/x86_64/cpu.h"
#include "log/kernel_log.h"
#include "memory/call_ownership.h"

namespace delos::memory {

namespace {

FrameOwnerHook g_owner_hook = nullptr;
FrameAccountingHook g_accounting_hook = nullptr;
std::atomic<std::uint64_t> g_frames_in_use{0};

void charge(std::uint64_t owner, std::int64_t frames)
{
    g_frames_in_use.fetch_add(static_cast<std::uint64_t>(frames), std::memory_order_relaxed);
    if (g_accounting_hook)
        g_accounting_hook(owner, frames);
}

// A call's own code releasing a run it did not map: nothing has changed yet, so with interrupts on
// it is the calling task's fault (contained like the heap's refused pointers, memory/heap.cpp).
void refuse_foreign_run(std::uint64_t start)
{
    if (cpu::interrupts_enabled()) {
        kprint("mapped pages: a call released the run at {:#x}, which it did not map: a fault of the calling task\n", start);
        __builtin_trap();
    }
}

} // namespace

void set_frame_owner_hooks(FrameOwnerHook owner, FrameAccountingHook accounting)
{
    g_owner_hook = owner;
    g_accounting_hook = accounting;
}

std::uint64_t mapped_pages_frames_in_use() { return g_frames_in_use.load(std::memory_order_relaxed); }

ErrorOr<PhysicalRange> allocate_device_frames(std::size_t count)
{
    PhysicalRange frames = TRY(frame_allocator().allocate(count));
    auto mapped = kernel_page_table().set_access(frames.start, frames.size, Access::ReadWrite);
    if (mapped.is_error()) {
        frame_allocator().free(frames);
        return mapped.release_error();
    }
    return frames;
}

void free_device_frames(PhysicalRange frames)
{
    if (frames.size == 0)
        return;
    (void)kernel_page_table().set_access(frames.start, frames.size, Access::None);
    frame_allocator().free(frames);
}

ErrorOr<MappedPages> MappedPages::allocate(std::size_t page_count, Access access)
{
    const void* caller = __builtin_return_address(0);
    if (page_count == 0)
        return Error::make(ErrorCode::InvalidArgument, "MappedPages: zero pages requested");
    PhysicalRange frames = TRY(frame_allocator().allocate(page_count));
    // Mapped writable to be zeroed (frames keep their previous owner's bytes), then given `access`.
    auto mapped = kernel_page_table().set_access(frames.start, frames.size, Access::ReadWrite);
    if (mapped.is_error()) {
        frame_allocator().free(frames);
        return mapped.release_error();
    }
    // Eight bytes per iteration: under instruction emulation each string iteration costs alike.
    // Forwards whatever the calling cell left in the direction flag (memory_functions.cpp).
    std::uint64_t destination = frames.start, quadwords = frames.size / 8;
    asm volatile("cld\n\trep stosq" : "+D"(destination), "+c"(quadwords) : "a"(0ull) : "memory");
    if (access != Access::ReadWrite) {
        mapped = kernel_page_table().set_access(frames.start, frames.size, access);
        if (mapped.is_error()) {
            (void)kernel_page_table().set_access(frames.start, frames.size, Access::None);
            frame_allocator().free(frames);
            return mapped.release_error();
        }
    }
    std::uint64_t owner = g_owner_hook ? g_owner_hook() : 0;
    charge(owner, static_cast<std::int64_t>(page_count));
    charge_page_run_to_call(frames.start, frames.size, owner, caller);
    return MappedPages(frames, access, owner);
}

MappedPages::MappedPages(MappedPages&& other) noexcept
    : m_frames(other.m_frames), m_access(other.m_access), m_owner(other.m_owner)
{
    other.m_frames = {};
    other.m_access = Access::None;
}

MappedPages& MappedPages::operator=(MappedPages&& other) noexcept
{
    if (this != &other) {
        release();
        m_frames = other.m_frames;
        m_access = other.m_access;
        m_owner = other.m_owner;
        other.m_frames = {};
        other.m_access = Access::None;
    }
    return *this;
}

ErrorOr<void> MappedPages::set_access(Access access)
{
    if (!valid())
        return Error::make(ErrorCode::InvalidArgument, "MappedPages: no pages to change");
    if (access == Access::None)
        return Error::make(ErrorCode::InvalidArgument, "MappedPages: unmapping is release(), not an access");
    TRY(kernel_page_table().set_access(m_frames.start, m_frames.size, access));
    m_access = access;
    return {};
}

// Not inlined: the return address says whose code asked for the release (a cell's, in a call).
[[gnu::noinline]] void MappedPages::release()
{
    if (!valid())
        return;
    CallLedger::PageRun recorded;
    switch (settle_released_page_run(m_frames.start, __builtin_return_address(0), recorded)) {
    case RunRelease::Foreign:
        refuse_foreign_run(m_frames.start);
        return;  // interrupts masked: left as it is (nothing was changed)
    case RunRelease::Recorded:
        m_frames = PhysicalRange{recorded.start, recorded.size};
        m_owner = recorded.owner;
        break;
    case RunRelease::NotRecorded:
        break;
    }
    // Unmapped before the frames are freed: a stale pointer faults instead of reading a new owner's data.
    (void)kernel_page_table().set_access(m_frames.start, m_frames.size, Access::None);
    frame_allocator().free(m_frames);
    charge(m_owner, -static_cast<std::int64_t>(m_frames.frame_count()));
    m_frames = {};
    m_access = Access::None;
}

void MappedPages::release_leftover_run(std::uint64_t start, std::uint64_t size, std::uint64_t owner)
{
    MappedPages lost(PhysicalRange{start, size}, Access::ReadWrite, owner);
    lost.release();
}

ErrorOr<SharedMappedPages> MappedPages::into_shared() &&
{
    // Taken out of *this before anything is allocated: a corrupted `this` (a faulty cell's call)
    // faults here, with nothing allocated yet that the unwind could not release.
    MappedPages pages(std::move(*this));
    auto* block = new (std::nothrow) SharedMappedPages::Block{std::move(pages)};
    if (!block) {
        *this = std::move(pages);  // still the caller's
        return Error::make(ErrorCode::OutOfMemory, "SharedMappedPages: no memory for the reference count");
    }
    // A block whose run no open call recorded, made by a call's code (a corrupted `this` named an
    // extent the call never mapped): the block itself is that call's, as an object, so its close()
    // frees it if the reply that names it is refused; its extent is not trusted, never released.
    if (!share_call_owned_page_run(block->pages.start(), block))
        charge_object_to_call(block, __builtin_return_address(0));
    return SharedMappedPages(block);
}

SharedMappedPages::SharedMappedPages(const SharedMappedPages& other) : m_block(other.m_block)
{
    if (m_block)
        m_block->references.fetch_add(1, std::memory_order_relaxed);
}

SharedMappedPages& SharedMappedPages::operator=(const SharedMappedPages& other)
{
    if (this != &other) {
        SharedMappedPages copy(other);
        *this = std::move(copy);
    }
    return *this;
}

SharedMappedPages& SharedMappedPages::operator=(SharedMappedPages&& other) noexcept
{
    if (this != &other) {
        reset();
        m_block = other.m_block;
        other.m_block = nullptr;
    }
    return *this;
}

void SharedMappedPages::reset()
{
    if (m_block && m_block->references.fetch_sub(1, std::memory_order_acq_rel) == 1)
        delete m_block;
    m_block = nullptr;
}

void SharedMappedPages::drop_leftover_block(void* block, std::uint64_t start, std::uint64_t size, std::uint64_t owner)
{
    auto* leftover = static_cast<Block*>(block);
    // Set without releasing: the pages the block names now may be a faulty cell's corrupted extent.
    leftover->pages.m_frames = PhysicalRange{start, size};
    leftover->pages.m_owner = owner;
    SharedMappedPages lost(leftover);
    lost.reset();
}

bool SharedMappedPages::block_holds(const void* block, std::uint64_t start, std::uint64_t size)
{
    const auto* recorded = static_cast<const Block*>(block);
    return recorded->pages.start() == start && recorded->pages.size() == size;
}

} // namespace delos::memory
