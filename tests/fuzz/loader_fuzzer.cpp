// loader_fuzzer.cpp: fuzz-loader: arbitrary bytes through the whole cell-loading path: as an
// archive (ar parsing, cell library indexing, loading every cell with its dependencies) or as
// one object (ET_REL parsing, cell record, loading), then describing and unloading. Memory comes
// from mmap(MAP_32BIT) with real page protections, the kernel is a table of fake addresses, and
// no cell code ever runs. Every input must leave no region allocated, loaded or refused.
#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "lib/archive/archive.h"
#include "linker/cell_identity.h"
#include "linker/cell_library.h"
#include "linker/describe.h"
#include "linker/namespace.h"
#include "linker/relocatable_object.h"

using namespace delos;
using namespace delos::link;

namespace {

constexpr std::uint64_t kMemoryLimit = 16ull << 20;

class FuzzMemory final : public SectionMemory {
public:
    ErrorOr<Region> allocate(std::uint64_t size, std::uint64_t alignment) override
    {
        if (size == 0 || size % kPageSize != 0 || alignment < kPageSize || (alignment & (alignment - 1)) != 0)
            abort_with("linker asked for a malformed allocation");
        if (size > kMemoryLimit - m_live_bytes || alignment > kMemoryLimit)
            return Error::make(ErrorCode::OutOfMemory, "fuzz memory limit", size);
        std::uint64_t mapped = size + alignment - kPageSize;
        void* base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (base == MAP_FAILED)
            return Error::make(ErrorCode::OutOfMemory, "mmap failed", size);
        auto start = reinterpret_cast<std::uint64_t>(base);
        std::uint64_t aligned = (start + alignment - 1) & ~(alignment - 1);
        if (aligned > start)
            munmap(base, aligned - start);
        if (start + mapped > aligned + size)
            munmap(reinterpret_cast<void*>(aligned + size), start + mapped - (aligned + size));
        m_live[aligned] = size;
        m_live_bytes += size;
        return Region{aligned, size};
    }
    ErrorOr<void> protect(Region region, Permissions permissions) override
    {
        auto live = m_live.find(region.address);
        if (live == m_live.end() || live->second != region.size)
            abort_with("protect of a region that was not allocated");
        int prot = permissions == Permissions::ReadWrite ? PROT_READ | PROT_WRITE
            : permissions == Permissions::ReadOnly      ? PROT_READ
                                                        : PROT_READ | PROT_EXEC;
        mprotect(reinterpret_cast<void*>(region.address), region.size, prot);
        return {};
    }
    void release(Region region) override
    {
        auto live = m_live.find(region.address);
        if (live == m_live.end() || live->second != region.size)
            abort_with("release of a region that was not allocated");
        munmap(reinterpret_cast<void*>(region.address), region.size);
        m_live_bytes -= region.size;
        m_live.erase(live);
    }
    std::size_t live_regions() const { return m_live.size(); }

    [[noreturn]] static void abort_with(const char* why)
    {
        std::fprintf(stderr, "fuzz-loader: %s\n", why);
        std::abort();
    }

private:
    std::map<std::uint64_t, std::uint64_t> m_live;
    std::uint64_t m_live_bytes = 0;
};

// Never runs cell code (the bytes are hostile); only checks what it would be asked to call.
class NoCallInvoker final : public EntryInvoker {
public:
    ErrorOr<void> call_init(StringView, CellInitFunction) override { return {}; }
    void call(StringView, EntryKind, void (*)()) override {}
    // A swap hands state over through these: fake states that the (never run) cells never see.
    ErrorOr<void*> call_export_state(StringView, CellStateExportFunction, StringView) override
    {
        return reinterpret_cast<void*>(std::uintptr_t(0x5ea1));
    }
    ErrorOr<void> call_adopt_state(StringView, CellStateAdoptFunction, StringView, void*) override { return {}; }
    std::uint64_t call_outstanding(StringView, CellOutstandingFunction) override { return 0; }
};

class NullSink final : public FormatSink {
public:
    void write(StringView text) override { m_bytes += text.size(); }

private:
    std::size_t m_bytes = 0;
};

// What the boot cells import from the kernel, at fake addresses in the low 2 GiB.
const char* const kKernelSymbols[] = {
    "_ZN5delos6serial5writeENS_10StringViewE",
    "_ZN5delos7vformatERNS_10FormatSinkENS_10StringViewEPKNS_14FormatArgumentEm",
    "_ZnwmSt11align_val_t",
    "_ZdlPvSt11align_val_t",
    "__gxx_personality_v0",
    "_Unwind_Resume",
    "strlen",
    "memcpy",
    "memset",
    "atexit",
};

void unload_everything(Namespace& linker_namespace)
{
    if (linker_namespace.cells().empty())
        return;
    Vector<StringView> names;
    for (const OwnPtr<LoadedCell>& cell : linker_namespace.cells())
        names.append(cell->name());
    if (linker_namespace.unload_cells(names).is_error())
        FuzzMemory::abort_with("unloading every loaded cell together was refused");
}

void check_after_refusal(const Namespace& linker_namespace, const FuzzMemory& memory, std::size_t symbols)
{
    if (!linker_namespace.cells().empty() || memory.live_regions() != 0 || linker_namespace.symbol_count() != symbols)
        FuzzMemory::abort_with("a refused load left something behind");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static FuzzMemory memory;
    static NoCallInvoker invoker;
    ByteView bytes(data, size);
    {
        Namespace linker_namespace(memory, invoker);
        std::uint64_t fake_address = 0x100000;
        for (const char* name : kKernelSymbols) {
            (void)linker_namespace.add_kernel_symbol(name, fake_address);
            fake_address += 16;
        }
        std::size_t kernel_symbols = linker_namespace.symbol_count();
        NullSink sink;

        if (size >= archive::kArchiveMagicSize && __builtin_memcmp(data, archive::kArchiveMagic, archive::kArchiveMagicSize) == 0) {
            auto parsed = archive::Archive::parse(bytes);
            if (!parsed.is_error()) {
                for (const archive::ArchiveMember& member : parsed->members())
                    (void)parsed->find(member.name);
            }
            String detail;
            auto library = CellLibrary::from_archive(bytes, &detail);
            if (!library.is_error()) {
                for (const LibraryCell& cell : library->cells()) {
                    if (linker_namespace.find_cell(cell.name))
                        continue;
                    std::size_t cells_before = linker_namespace.cells().size();
                    std::size_t symbols_before = linker_namespace.symbol_count();
                    auto loaded = linker_namespace.load_cell(cell.name, library.value());
                    if (loaded.is_error() && (linker_namespace.cells().size() != cells_before
                                              || linker_namespace.symbol_count() != symbols_before))
                        FuzzMemory::abort_with("a refused load changed the namespace");
                }
                // Every other version in the archive is swapped in for its loaded namesake (live
                // evolution): a refusal must leave the namespace as it was.
                for (const LibraryCell& version : library->versions()) {
                    if (!linker_namespace.find_cell(version.name))
                        continue;
                    std::size_t cells_before = linker_namespace.cells().size();
                    std::size_t symbols_before = linker_namespace.symbol_count();
                    std::size_t regions_before = memory.live_regions();
                    auto swapped = linker_namespace.swap_cells(Vector<SwapPair>{SwapPair{version.name, version.object, true}},
                                                               &library.value());
                    if (swapped.is_error() && (linker_namespace.cells().size() != cells_before
                                               || linker_namespace.symbol_count() != symbols_before
                                               || memory.live_regions() != regions_before))
                        FuzzMemory::abort_with("a refused swap changed the namespace");
                    if (!linker_namespace.retiring_cells().empty())
                        FuzzMemory::abort_with("a swap with no other task left a retiring cell");
                    (void)linker_namespace.rollback_cell(version.name, &library.value());
                }
                describe_cells(linker_namespace, sink);
                for (const OwnPtr<LoadedCell>& cell : linker_namespace.cells())
                    describe_cell(*cell, sink);
                unload_everything(linker_namespace);
            }
        } else {
            auto object = RelocatableObject::parse(bytes);
            if (!object.is_error())
                (void)read_cell_identity(object.value());
            auto loaded = linker_namespace.load_object(bytes);
            if (loaded.is_error()) {
                check_after_refusal(linker_namespace, memory, kernel_symbols);
            } else {
                describe_cell(*loaded.value(), sink);
                if (linker_namespace.unload_cell(loaded.value()->name()).is_error())
                    FuzzMemory::abort_with("unloading the only loaded cell was refused");
            }
        }
        check_after_refusal(linker_namespace, memory, kernel_symbols);
    }
    if (memory.live_regions() != 0)
        FuzzMemory::abort_with("section memory leaked");
    return 0;
}
