// frame_tables.cpp: a spin-locked list of indexed .eh_frame sections; lookups copy the parsed
// FDE out under the lock.
#include "runtime/frame_tables.h"

#include "lib/core/own_ptr.h"
#include "lib/core/string.h"
#include "lib/core/vector.h"
#include "sync/spin_lock.h"

extern "C" const unsigned char __eh_frame_start[];
extern "C" const unsigned char __eh_frame_end[];
extern "C" const unsigned char __text_start[];
extern "C" const unsigned char __text_end[];
extern "C" const unsigned char __rodata_start[];
extern "C" const unsigned char __rodata_end[];

namespace delos::unwinding {

struct FrameTable {
    String owner;
    bool kernel = false;
    unwind::EhFrameIndex index;
    FrameTableBounds bounds;
};

namespace {

SpinLock g_lock;
Vector<FrameTable*>* g_tables = nullptr;  // created on first registration (no static constructor order issue)

} // namespace

ErrorOr<FrameTableHandle> register_frame_table(StringView owner, ByteView eh_frame, std::uint64_t address,
                                               const FrameTableBounds& bounds)
{
    auto index = TRY(unwind::EhFrameIndex::build(eh_frame, address, eh_frame.size() / 8));
    for (const auto& entry : index.entries()) {
        if (entry.pc_begin < bounds.code_start || entry.pc_end > bounds.code_end)
            return Error::make(ErrorCode::OutOfRange, ".eh_frame describes code outside its owner", entry.pc_begin);
    }
    auto* table = new (std::nothrow) FrameTable{String(owner), false, std::move(index), bounds};
    if (!table)
        return Error::make(ErrorCode::OutOfMemory, "no memory for a frame table");
    SpinLockGuard guard(g_lock);
    if (!g_tables)
        g_tables = new Vector<FrameTable*>();
    g_tables->append(table);
    return table;
}

void unregister_frame_table(FrameTableHandle handle)
{
    if (!handle)
        return;
    {
        SpinLockGuard guard(g_lock);
        if (g_tables)
            g_tables->remove_all_matching([&](FrameTable* table) { return table == handle; });
    }
    delete handle;
}

ErrorOr<FoundFrame> find_frame(std::uint64_t pc)
{
    SpinLockGuard guard(g_lock);
    if (!g_tables)
        return Error::make(ErrorCode::NotFound, "no frame tables registered");
    for (FrameTable* table : *g_tables) {
        if (pc < table->index.lowest_pc() || pc >= table->index.highest_pc())
            continue;
        auto fde = table->index.find(pc);
        if (fde.is_error()) {
            if (fde.error().code == ErrorCode::NotFound)
                continue;
            return fde.release_error();
        }
        FoundFrame found;
        found.fde = fde.release_value();
        if (found.fde.lsda) {
            const FrameTableBounds& bounds = table->bounds;
            if (found.fde.lsda < bounds.data_start || found.fde.lsda >= bounds.data_end)
                return Error::make(ErrorCode::OutOfRange, "LSDA lies outside its owner's read-only data", found.fde.lsda);
            found.lsda = ByteView(reinterpret_cast<const void*>(found.fde.lsda),
                                  static_cast<std::size_t>(bounds.data_end - found.fde.lsda));
            found.lsda_address = found.fde.lsda;
        }
        return found;
    }
    return Error::make(ErrorCode::NotFound, "no FDE covers the address", pc);
}

bool is_registered_cell_code(std::uint64_t pc)
{
    SpinLockGuard guard(g_lock);
    if (!g_tables)
        return false;
    for (const FrameTable* table : *g_tables) {
        if (!table->kernel && pc >= table->bounds.code_start && pc < table->bounds.code_end)
            return true;
    }
    return false;
}

ErrorOr<void> register_kernel_frame_table()
{
    auto start = reinterpret_cast<std::uint64_t>(__eh_frame_start);
    auto end = reinterpret_cast<std::uint64_t>(__eh_frame_end);
    FrameTableBounds bounds{0, reinterpret_cast<std::uint64_t>(__text_end), reinterpret_cast<std::uint64_t>(__rodata_start),
                            reinterpret_cast<std::uint64_t>(__rodata_end)};
    // code_start 0: the kernel's FDEs include the nano_core's (unmapped after boot, never unwound).
    auto table = TRY(register_frame_table("kernel", ByteView(__eh_frame_start, static_cast<std::size_t>(end - start)), start, bounds));
    table->kernel = true;  // before any cell exists: nothing reads it yet
    return {};
}

std::size_t registered_table_count()
{
    SpinLockGuard guard(g_lock);
    return g_tables ? g_tables->size() : 0;
}

} // namespace delos::unwinding
