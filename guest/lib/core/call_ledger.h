// call_ledger.h: the bookkeeping of what one call into a cell owns (docs/cell-memory-ownership.md):
// the heap objects the cell's own code allocated and the page runs it mapped during the call,
// still alive. Fixed capacity, no allocation, no locking (the kernel's CallOwnership adds those),
// so the rules are host-tested. Every count is read bounded by its capacity: a ledger lives in its
// caller's memory, which a faulty cell's wild write can reach, and a garbage count must never make
// the ledger read or write past its arrays (or close() copy past its Leftovers).
#pragma once

#include <cstddef>
#include <cstdint>

namespace delos {

class CallLedger {
public:
    static constexpr std::size_t kMaxObjects = 64;
    static constexpr std::size_t kMaxPageRuns = 8;

    struct PageRun {
        std::uint64_t start = 0;
        std::uint64_t size = 0;
        std::uint64_t owner = 0;      // the task the frames are charged to
        void* shared_block = nullptr;  // set once the run went into a shared handle's block
    };

    // What was still owned when the call ended: to be released by the caller of close().
    struct Leftovers {
        void* objects[kMaxObjects] = {};
        std::size_t object_count = 0;
        PageRun runs[kMaxPageRuns] = {};
        std::size_t run_count = 0;
        std::uint64_t untracked = 0;  // charges that did not fit (never released: reported)
    };

    // A range of code whose allocations belong to the call (the cell's; the caller's own code
    // around the call, when it keeps nothing either).
    struct CodeRange {
        std::uint64_t start = 0;
        std::uint64_t size = 0;
        bool contains(std::uint64_t address) const { return address >= start && address - start < size; }
    };
    // Two given at open (the cell's, its caller's), one more added when the cell's code moves.
    static constexpr std::size_t kMaxCodeRanges = 3;
    static constexpr std::size_t kMaxOpenedCodeRanges = 2;

    // Starts a call of `task` into code at [code_start, code_start + code_size).
    void open(std::uint64_t task, std::uint64_t code_start, std::uint64_t code_size)
    {
        CodeRange range{code_start, code_size};
        open(task, &range, 1);
    }
    // Starts a call of `task` charging allocations asked for from any of `ranges` (at most
    // kMaxOpenedCodeRanges are kept).
    void open(std::uint64_t task, const CodeRange* ranges, std::size_t count)
    {
        *this = CallLedger();
        m_open = true;
        m_task = task;
        for (std::size_t i = 0; i < count && i < kMaxOpenedCodeRanges; ++i)
            m_code[m_code_count++] = ranges[i];
    }
    // The charged code at [old_start, old_start + old_size) was loaded again at `moved` (a reload
    // or swap while the call was open: the caller's call site now leads there). Both stay charged:
    // the call may still run in the old copy. False when no charged range overlaps the old one,
    // or there is no room (then the call cannot know what the new copy allocates).
    bool follow_moved_code(std::uint64_t old_start, std::uint64_t old_size, CodeRange moved)
    {
        if (!m_open)
            return false;
        std::size_t count = m_code_count < kMaxCodeRanges ? m_code_count : kMaxCodeRanges;
        bool overlaps = false;
        for (std::size_t i = 0; i < count; ++i) {
            if (m_code[i].start < old_start + old_size && old_start < m_code[i].start + m_code[i].size)
                overlaps = true;
            if (m_code[i].start == moved.start && m_code[i].size == moved.size)
                return true;  // already followed
        }
        if (!overlaps || count == kMaxCodeRanges)
            return false;
        m_code[count] = moved;
        m_code_count = count + 1;
        return true;
    }
    bool is_open() const { return m_open; }
    std::uint64_t task() const { return m_task; }

    // The start of the code this call was opened into (the cell called), if `task` made it; else 0.
    std::uint64_t called_code_of(std::uint64_t task) const
    {
        return m_open && task == m_task && m_code_count > 0 ? m_code[0].start : 0;
    }

    // Whether an allocation by `task`, asked for by code at `caller`, belongs to this call.
    bool charges(std::uint64_t task, std::uint64_t caller) const
    {
        if (!m_open || task != m_task)
            return false;
        for (std::size_t i = 0; i < m_code_count && i < kMaxCodeRanges; ++i) {
            if (m_code[i].contains(caller))
                return true;
        }
        return false;
    }

    // False when the ledger is full (the object is then not tracked, and counted).
    bool add_object(void* object)
    {
        if (m_object_count >= kMaxObjects) {
            ++m_untracked;
            return false;
        }
        m_objects[m_object_count++] = object;
        return true;
    }
    // The object was freed (by anyone): no longer the call's. False if it was not recorded here.
    bool remove_object(void* object)
    {
        for (std::size_t i = 0; i < objects_in_use(); ++i) {
            if (m_objects[i] == object) {
                m_object_count = objects_in_use() - 1;
                m_objects[i] = m_objects[m_object_count];
                return true;
            }
        }
        return false;
    }

    bool add_run(std::uint64_t start, std::uint64_t size, std::uint64_t owner)
    {
        if (m_run_count >= kMaxPageRuns) {
            ++m_untracked;
            return false;
        }
        m_runs[m_run_count++] = PageRun{start, size, owner, nullptr};
        return true;
    }
    // The run was unmapped and freed, or handed out: no longer the call's.
    bool remove_run(std::uint64_t start)
    {
        PageRun ignored;
        return take_run(start, ignored);
    }
    // The same, giving the call's own record of the run: it is released by that extent, never by
    // what the object being released says (a cell's corrupted size would free other owners' frames).
    bool take_run(std::uint64_t start, PageRun& recorded)
    {
        for (std::size_t i = 0; i < runs_in_use(); ++i) {
            if (m_runs[i].start == start) {
                recorded = m_runs[i];
                m_run_count = runs_in_use() - 1;
                m_runs[i] = m_runs[m_run_count];
                return true;
            }
        }
        return false;
    }
    // The recorded run that went into `block`, or null (never reads through `block`).
    const PageRun* run_shared_into(const void* block) const
    {
        if (block == nullptr)
            return nullptr;
        for (std::size_t i = 0; i < runs_in_use(); ++i) {
            if (m_runs[i].shared_block == block)
                return &m_runs[i];
        }
        return nullptr;
    }
    // The run now lives in a shared handle's block: a leftover releases that block.
    bool share_run(std::uint64_t start, void* block)
    {
        for (std::size_t i = 0; i < runs_in_use(); ++i) {
            if (m_runs[i].start == start) {
                m_runs[i].shared_block = block;
                return true;
            }
        }
        return false;
    }
    // A shared handle leaving the call (its reply): true, and the run is no longer the call's, if
    // `block` is the block this call put one of its runs into. False for anything else — a block
    // of another call, a freed one, a pointer the cell made up — which the caller must not touch.
    bool hand_out_block(const void* block)
    {
        if (block == nullptr)
            return false;
        for (std::size_t i = 0; i < runs_in_use(); ++i) {
            if (m_runs[i].shared_block == block) {
                m_run_count = runs_in_use() - 1;
                m_runs[i] = m_runs[m_run_count];
                return true;
            }
        }
        return false;
    }
    // The recorded run starting at `start`, or null.
    const PageRun* run_at(std::uint64_t start) const
    {
        for (std::size_t i = 0; i < runs_in_use(); ++i) {
            if (m_runs[i].start == start)
                return &m_runs[i];
        }
        return nullptr;
    }
    bool holds_run(std::uint64_t start) const
    {
        for (std::size_t i = 0; i < runs_in_use(); ++i) {
            if (m_runs[i].start == start)
                return true;
        }
        return false;
    }

    std::size_t object_count() const { return m_object_count; }
    std::size_t run_count() const { return m_run_count; }
    std::uint64_t untracked() const { return m_untracked; }

    // Ends the call: everything still recorded moves to `leftovers`; the ledger is closed and
    // charges nothing more.
    void close(Leftovers& leftovers)
    {
        leftovers = Leftovers();
        std::size_t objects = objects_in_use();
        for (std::size_t i = 0; i < objects; ++i)
            leftovers.objects[i] = m_objects[i];
        leftovers.object_count = objects;
        std::size_t runs = runs_in_use();
        for (std::size_t i = 0; i < runs; ++i)
            leftovers.runs[i] = m_runs[i];
        leftovers.run_count = runs;
        leftovers.untracked = m_untracked;
        *this = CallLedger();
    }

private:
    std::size_t objects_in_use() const { return m_object_count < kMaxObjects ? m_object_count : kMaxObjects; }
    std::size_t runs_in_use() const { return m_run_count < kMaxPageRuns ? m_run_count : kMaxPageRuns; }

    bool m_open = false;
    std::uint64_t m_task = 0;
    CodeRange m_code[kMaxCodeRanges] = {};
    std::size_t m_code_count = 0;
    void* m_objects[kMaxObjects] = {};
    std::size_t m_object_count = 0;
    PageRun m_runs[kMaxPageRuns] = {};
    std::size_t m_run_count = 0;
    std::uint64_t m_untracked = 0;
};

} // namespace delos
