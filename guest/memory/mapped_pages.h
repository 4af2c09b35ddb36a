// mapped_pages.h: MappedPages, the owner of a run of mapped pages: it maps fresh frames on
// creation and unmaps and frees them in its destructor; SharedMappedPages shares one run by
// reference count. Frames are charged to the task that created them (frame owner hooks).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "lib/core/error_or.h"
#include "memory/frame_allocator.h"
#include "memory/page_table.h"

namespace delos::memory {

class SharedMappedPages;

class MappedPages {
public:
    // `page_count` zeroed pages, mapped with `access` in the linear map.
    static ErrorOr<MappedPages> allocate(std::size_t page_count, Access access = Access::ReadWrite);

    MappedPages() = default;
    MappedPages(MappedPages&& other) noexcept;
    MappedPages& operator=(MappedPages&& other) noexcept;
    MappedPages(const MappedPages&) = delete;
    MappedPages& operator=(const MappedPages&) = delete;
    ~MappedPages() { release(); }

    bool valid() const { return m_frames.size != 0; }
    std::uint64_t start() const { return m_frames.start; }
    std::uint64_t size() const { return m_frames.size; }
    std::size_t page_count() const { return m_frames.frame_count(); }
    Access access() const { return m_access; }
    // The task charged for these frames (0 = the kernel).
    std::uint64_t owner() const { return m_owner; }

    template <typename T>
    T* as(std::size_t offset = 0) const { return reinterpret_cast<T*>(m_frames.start + offset); }

    // Changes the rights of every page (e.g. ReadWrite while filling, then ReadExecute).
    ErrorOr<void> set_access(Access access);

    // Unmaps and frees now (the destructor does the same). A run an open call recorded is released
    // by the call's record, not by this object's extent; a call's own code releasing a run that
    // call did not map (a wild `this`) is a fault of the calling task (memory/call_ownership.h).
    void release();

    // Gives the pages to a reference-counted handle.
    ErrorOr<SharedMappedPages> into_shared() &&;

    // A run a call left behind (memory/call_ownership.h): unmaps and frees it, the MappedPages
    // that held it being lost (a skipped destructor, an unwound frame that was skipped).
    static void release_leftover_run(std::uint64_t start, std::uint64_t size, std::uint64_t owner);

private:
    friend class SharedMappedPages;
    MappedPages(PhysicalRange frames, Access access, std::uint64_t owner) : m_frames(frames), m_access(access), m_owner(owner) {}

    PhysicalRange m_frames;
    Access m_access = Access::None;
    std::uint64_t m_owner = 0;
};

// Shared ownership of one MappedPages: copies share it; the last one to go unmaps and frees.
class SharedMappedPages {
public:
    SharedMappedPages() = default;
    SharedMappedPages(const SharedMappedPages& other);
    SharedMappedPages& operator=(const SharedMappedPages& other);
    SharedMappedPages(SharedMappedPages&& other) noexcept : m_block(other.m_block) { other.m_block = nullptr; }
    SharedMappedPages& operator=(SharedMappedPages&& other) noexcept;
    ~SharedMappedPages() { reset(); }

    bool valid() const { return m_block != nullptr; }
    const MappedPages& pages() const { return m_block->pages; }
    std::uint64_t start() const { return m_block->pages.start(); }
    std::uint64_t size() const { return m_block->pages.size(); }
    template <typename T>
    T* as(std::size_t offset = 0) const { return m_block->pages.as<T>(offset); }
    // Changes the rights for every holder.
    ErrorOr<void> set_access(Access access) { return m_block->pages.set_access(access); }
    std::uint32_t reference_count() const { return m_block ? m_block->references.load(std::memory_order_relaxed) : 0; }
    void reset();

    // A block a call left behind (memory/call_ownership.h): drops the reference its lost handle
    // held, its pages first set back to the run the call recorded (start, size, owner).
    static void drop_leftover_block(void* block, std::uint64_t start, std::uint64_t size, std::uint64_t owner);
    // Whether a block a call recorded still holds exactly that run.
    static bool block_holds(const void* block, std::uint64_t start, std::uint64_t size);

private:
    friend class MappedPages;
    friend class CallOwnership;
    // For CallOwnership::hand_out: which block the handle names (never read through), and
    // emptying a handle that names no block of the call without touching what it points at.
    const void* block_identity() const { return m_block; }
    void forget_unchecked() { m_block = nullptr; }
    struct Block {
        MappedPages pages;
        std::atomic<std::uint32_t> references{1};
    };
    explicit SharedMappedPages(Block* block) : m_block(block) {}

    Block* m_block = nullptr;
};

// Frames for a device's rings and buffers (the host reads and writes them): mapped read-write
// like MappedPages, but not charged to a task, and freed by free_device_frames (unmapped first).
// Free RAM is not mapped (docs/memory.md), so frames taken straight from the allocator are not
// usable until mapped.
ErrorOr<PhysicalRange> allocate_device_frames(std::size_t count);
void free_device_frames(PhysicalRange frames);

// Who owns newly mapped pages (the scheduler installs the current task's id) and how frames
// are charged: (owner, +frames) on allocation, (owner, -frames) on release.
using FrameOwnerHook = std::uint64_t (*)();
using FrameAccountingHook = void (*)(std::uint64_t owner, std::int64_t frames);
void set_frame_owner_hooks(FrameOwnerHook owner, FrameAccountingHook accounting);

// Frames held by MappedPages system-wide.
std::uint64_t mapped_pages_frames_in_use();

} // namespace delos::memory
