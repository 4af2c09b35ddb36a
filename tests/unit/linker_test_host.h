// linker_test_host.h: the host stand-ins for what the kernel gives the cell linker, shared by
// the archive, object, linker and cells tests: mmap-backed section memory in the low 2 GiB
// (MAP_32BIT, so 32-bit relocations fit) that counts what is live, a "kernel" whose exported
// functions are trampolines in low memory jumping to host implementations, an entry invoker
// that records what it calls, and helpers to read cell objects and build archives.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <map>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "lib/core/byte_view.h"
#include "lib/elf/elf64.h"
#include "lib/core/format.h"
#include "linker/cell_library.h"
#include "linker/entry_invoker.h"
#include "linker/namespace.h"
#include "linker/section_memory.h"
#include "lib/core/string_view.h"

namespace delos::host {

using Bytes = std::vector<std::uint8_t>;

inline Bytes read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string cell_path(const std::string& name) { return std::string(DELOS_BUILD_DIR) + "/cells/" + name + ".o"; }
inline Bytes cell_bytes(const std::string& name) { return read_file(cell_path(name)); }
inline ByteView view(const Bytes& bytes) { return ByteView(bytes.data(), bytes.size()); }
inline std::string str(StringView text) { return std::string(text.data(), text.size()); }

// A GNU-format archive: long names go to a "//" table; no symbol index unless given one.
inline Bytes make_archive(const std::vector<std::pair<std::string, Bytes>>& members)
{
    auto header = [](const std::string& name, std::size_t size) {
        char text[61];
        std::snprintf(text, sizeof text, "%-16s%-12s%-6s%-6s%-8s%-10zu`\n", name.c_str(), "0", "0", "0", "644", size);
        return std::string(text, 60);
    };
    std::string long_names;
    std::vector<std::string> names;
    for (const auto& [name, bytes] : members) {
        if (name.size() + 1 > 16) {
            names.push_back("/" + std::to_string(long_names.size()));
            long_names += name + "/\n";
        } else {
            names.push_back(name + "/");
        }
    }
    std::string out = "!<arch>\n";
    if (!long_names.empty()) {
        out += header("//", long_names.size()) + long_names;
        if (out.size() % 2)
            out += '\n';
    }
    for (std::size_t i = 0; i < members.size(); ++i) {
        out += header(names[i], members[i].second.size());
        out.append(members[i].second.begin(), members[i].second.end());
        if (out.size() % 2)
            out += '\n';
    }
    return Bytes(out.begin(), out.end());
}

// Section memory from mmap(MAP_32BIT): every region lies in the low 2 GiB, as in the guest.
// Counts live regions and bytes, remembers permissions, and can be told to fail.
class HostSectionMemory final : public link::SectionMemory {
public:
    ~HostSectionMemory()
    {
        for (auto& [address, state] : m_live)
            munmap(reinterpret_cast<void*>(address), state.size);
    }

    ErrorOr<link::Region> allocate(std::uint64_t size, std::uint64_t alignment) override
    {
        ++allocations;
        if (fail_allocation_number != 0 && allocations == fail_allocation_number)
            return Error::make(ErrorCode::OutOfMemory, "test: allocation refused", size);
        if (size == 0 || size % link::kPageSize != 0 || alignment < link::kPageSize || (alignment & (alignment - 1)))
            return Error::make(ErrorCode::InvalidArgument, "test: bad allocation request", size);
        // Over-map, then trim to the alignment. Populated at once, as the guest's section memory
        // maps a region's frames in one call (a fault per page would be a cost the guest has not).
        std::uint64_t mapped = size + alignment - link::kPageSize;
        void* base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT | MAP_POPULATE, -1, 0);
        if (base == MAP_FAILED)
            return Error::make(ErrorCode::OutOfMemory, "test: mmap failed", size);
        auto start = reinterpret_cast<std::uint64_t>(base);
        std::uint64_t aligned = (start + alignment - 1) & ~(alignment - 1);
        if (aligned > start)
            munmap(base, aligned - start);
        if (start + mapped > aligned + size)
            munmap(reinterpret_cast<void*>(aligned + size), start + mapped - (aligned + size));
        std::memset(reinterpret_cast<void*>(aligned), 0xcc, size);  // garbage, as a kernel's may be
        m_live[aligned] = Live{size, link::Permissions::ReadWrite};
        live_bytes += size;
        return link::Region{aligned, size};
    }

    ErrorOr<void> protect(link::Region region, link::Permissions permissions) override
    {
        ++protections;
        auto live = m_live.find(region.address);
        if (live == m_live.end() || live->second.size != region.size)
            return Error::make(ErrorCode::InvalidArgument, "test: protect of an unknown region", region.address);
        if (fail_protect)
            return Error::make(ErrorCode::PermissionDenied, "test: protect refused", region.address);
        int prot = permissions == link::Permissions::ReadWrite ? PROT_READ | PROT_WRITE
            : permissions == link::Permissions::ReadOnly      ? PROT_READ
                                                              : PROT_READ | PROT_EXEC;
        if (mprotect(reinterpret_cast<void*>(region.address), region.size, prot) != 0)
            return Error::make(ErrorCode::Io, "test: mprotect failed", region.address);
        live->second.permissions = permissions;
        return {};
    }

    void release(link::Region region) override
    {
        auto live = m_live.find(region.address);
        if (live == m_live.end() || live->second.size != region.size) {
            std::fprintf(stderr, "release of an unknown region %#llx\n", static_cast<unsigned long long>(region.address));
            std::abort();
        }
        munmap(reinterpret_cast<void*>(region.address), region.size);
        live_bytes -= region.size;
        m_live.erase(live);
    }

    std::size_t live_regions() const { return m_live.size(); }
    link::Permissions permissions_of(std::uint64_t address) const { return m_live.at(address).permissions; }

    std::uint64_t allocations = 0;
    std::uint64_t protections = 0;
    std::uint64_t live_bytes = 0;
    std::uint64_t fail_allocation_number = 0;  // 1-based; 0 = never
    bool fail_protect = false;

private:
    struct Live {
        std::uint64_t size;
        link::Permissions permissions;
    };
    std::map<std::uint64_t, Live> m_live;
};

// Calls entries directly and remembers each call as "cell:kind".
class RecordingInvoker final : public link::EntryInvoker {
public:
    ErrorOr<void> call_init(StringView cell, link::CellInitFunction init) override
    {
        calls.push_back(str(cell) + ":init");
        return init();
    }
    void call(StringView cell, link::EntryKind kind, void (*function)()) override
    {
        calls.push_back(str(cell) + ":" + link::entry_kind_name(kind));
        function();
    }
    std::vector<std::string> calls;
};

// The host "kernel": what cells import, as trampolines in low memory (so rel32 calls from cells
// reach them) that jump to host functions. serial::write output is captured.
class HostKernel {
public:
    static inline std::string serial_output;
    static inline link::Namespace* current_namespace = nullptr;

    HostKernel()
    {
        void* page = mmap(nullptr, kTrampolineBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (page == MAP_FAILED)
            std::abort();
        m_trampolines = static_cast<std::uint8_t*>(page);
        serial_output.clear();
        add("_ZN5delos6serial5writeENS_10StringViewE", reinterpret_cast<void*>(&capture_serial));
        add("_ZN5delos7vformatERNS_10FormatSinkENS_10StringViewEPKNS_14FormatArgumentEm",
            reinterpret_cast<void*>(&delos::vformat));
        add("_ZnwmSt11align_val_t", reinterpret_cast<void*>(static_cast<void* (*)(std::size_t, std::align_val_t)>(&::operator new)));
        add("_ZdlPvSt11align_val_t", reinterpret_cast<void*>(static_cast<void (*)(void*, std::align_val_t)>(&::operator delete)));
        add("_Znwm", reinterpret_cast<void*>(static_cast<void* (*)(std::size_t)>(&::operator new)));
        add("_ZdlPv", reinterpret_cast<void*>(static_cast<void (*)(void*)>(&::operator delete)));
        add("_ZdlPvm", reinterpret_cast<void*>(static_cast<void (*)(void*, std::size_t)>(&::operator delete)));
        add("strlen", reinterpret_cast<void*>(static_cast<std::size_t (*)(const char*)>(&std::strlen)));
        add("memcpy", reinterpret_cast<void*>(static_cast<void* (*)(void*, const void*, std::size_t)>(&std::memcpy)));
        add("memmove", reinterpret_cast<void*>(static_cast<void* (*)(void*, const void*, std::size_t)>(&std::memmove)));
        add("memset", reinterpret_cast<void*>(static_cast<void* (*)(void*, int, std::size_t)>(&std::memset)));
        add("memcmp", reinterpret_cast<void*>(static_cast<int (*)(const void*, const void*, std::size_t)>(&std::memcmp)));
        add("atexit", reinterpret_cast<void*>(&host_atexit));
        // kv charges what it returns to its caller's open call: the host opens none.
        add("_ZN5delos6memory22charge_returned_objectEPKvS2_", reinterpret_cast<void*>(&charge_nothing));
        // Referenced by unwind tables and landing pads; never reached because nothing throws.
        add("__gxx_personality_v0", reinterpret_cast<void*>(&trap));
        add("_Unwind_Resume", reinterpret_cast<void*>(&trap));
        add("__morestack", reinterpret_cast<void*>(&trap));  // split-stack prologues (never reached on the host)
        add("__cxa_pure_virtual", reinterpret_cast<void*>(&trap));
    }
    ~HostKernel()
    {
        munmap(m_trampolines, kTrampolineBytes);
        current_namespace = nullptr;
    }
    HostKernel(const HostKernel&) = delete;
    HostKernel& operator=(const HostKernel&) = delete;

    // Adds every kernel export to `target` and routes atexit() to it.
    void install(link::Namespace& target, const std::vector<std::string>& except = {})
    {
        current_namespace = &target;
        for (const auto& [name, address] : m_exports) {
            bool skipped = false;
            for (const auto& excluded : except)
                skipped |= excluded == name;
            if (!skipped) {
                auto added = target.add_kernel_symbol(StringView(name.data(), name.size()), address);
                if (added.is_error())
                    std::abort();
            }
        }
    }

    std::uint64_t address_of(const std::string& name) const { return m_exports.at(name); }
    const std::map<std::string, std::uint64_t>& exports() const { return m_exports; }

private:
    static constexpr std::size_t kTrampolineBytes = 4096;

    void add(const std::string& name, void* target)
    {
        // jmp *0(%rip); .quad target
        mprotect(m_trampolines, kTrampolineBytes, PROT_READ | PROT_WRITE);
        std::uint8_t* slot = m_trampolines + m_exports.size() * 16;
        const std::uint8_t jump[6] = {0xff, 0x25, 0, 0, 0, 0};
        std::memcpy(slot, jump, sizeof jump);
        auto destination = reinterpret_cast<std::uint64_t>(target);
        std::memcpy(slot + 6, &destination, sizeof destination);
        m_exports[name] = reinterpret_cast<std::uint64_t>(slot);
        mprotect(m_trampolines, kTrampolineBytes, PROT_READ | PROT_EXEC);
    }

    static void capture_serial(StringView text) { serial_output.append(text.data(), text.size()); }
    static void charge_nothing(const void*, const void*) {}
    [[gnu::noinline]] static int host_atexit(void (*function)())
    {
        // Reached by a jmp from the trampoline, so the return address is the caller in the cell.
        auto caller = reinterpret_cast<std::uint64_t>(__builtin_return_address(0));
        if (!current_namespace)
            return -1;
        return current_namespace->register_exit_function(caller, function).is_error() ? -1 : 0;
    }
    static void trap()
    {
        std::fprintf(stderr, "a cell called a kernel function the host kernel does not implement\n");
        std::abort();
    }

    std::uint8_t* m_trampolines = nullptr;
    std::map<std::string, std::uint64_t> m_exports;
};

} // namespace delos::host

namespace delos::host {

// Edits a copy of an ELF object in place, to build malformed inputs from real cells.
class ElfEditor {
public:
    explicit ElfEditor(Bytes bytes) : m_bytes(std::move(bytes)) {}

    Bytes& bytes() { return m_bytes; }
    elf::Elf64_Ehdr& header() { return *reinterpret_cast<elf::Elf64_Ehdr*>(m_bytes.data()); }
    elf::Elf64_Shdr& section(std::size_t index)
    {
        return *reinterpret_cast<elf::Elf64_Shdr*>(m_bytes.data() + header().e_shoff + index * sizeof(elf::Elf64_Shdr));
    }
    std::size_t section_count() { return header().e_shnum; }
    std::string section_name(std::size_t index)
    {
        const elf::Elf64_Shdr& names = section(header().e_shstrndx);
        return reinterpret_cast<const char*>(m_bytes.data() + names.sh_offset + section(index).sh_name);
    }
    std::size_t find_section(const std::string& name)
    {
        for (std::size_t i = 1; i < section_count(); ++i) {
            if (section_name(i) == name)
                return i;
        }
        std::fprintf(stderr, "no section %s\n", name.c_str());
        std::abort();
    }
    std::size_t find_section_of_type(elf::Elf64_Word type)
    {
        for (std::size_t i = 1; i < section_count(); ++i) {
            if (section(i).sh_type == type)
                return i;
        }
        std::abort();
    }
    // The RELA section that patches section `target`.
    std::size_t relocations_for(std::size_t target)
    {
        for (std::size_t i = 1; i < section_count(); ++i) {
            if (section(i).sh_type == elf::SHT_RELA && section(i).sh_info == target)
                return i;
        }
        std::abort();
    }
    elf::Elf64_Rela& relocation(std::size_t rela_section, std::size_t index)
    {
        return *reinterpret_cast<elf::Elf64_Rela*>(m_bytes.data() + section(rela_section).sh_offset + index * sizeof(elf::Elf64_Rela));
    }
    std::size_t symbol_count() { return section(find_section_of_type(elf::SHT_SYMTAB)).sh_size / sizeof(elf::Elf64_Sym); }
    elf::Elf64_Sym& symbol(std::size_t index)
    {
        return *reinterpret_cast<elf::Elf64_Sym*>(m_bytes.data() + section(find_section_of_type(elf::SHT_SYMTAB)).sh_offset
                                                  + index * sizeof(elf::Elf64_Sym));
    }
    std::string symbol_name(std::size_t index)
    {
        const elf::Elf64_Shdr& strings = section(section(find_section_of_type(elf::SHT_SYMTAB)).sh_link);
        return reinterpret_cast<const char*>(m_bytes.data() + strings.sh_offset + symbol(index).st_name);
    }
    std::size_t find_symbol(const std::string& name)
    {
        for (std::size_t i = 1; i < symbol_count(); ++i) {
            if (symbol_name(i) == name)
                return i;
        }
        std::fprintf(stderr, "no symbol %s\n", name.c_str());
        std::abort();
    }
    // The bytes of section `index` in the file.
    std::uint8_t* contents(std::size_t index) { return m_bytes.data() + section(index).sh_offset; }

private:
    Bytes m_bytes;
};


using link::CellLibrary;
using link::LoadedCell;
using link::Namespace;
using link::SymbolDefinition;

// A namespace over host memory with the host kernel installed and the boot archive indexed.
class LinkerTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        archive_bytes = read_file(std::string(DELOS_BUILD_DIR) + "/cells/cells.a");
        ASSERT_FALSE(archive_bytes.empty()) << "build the cells target first";
        auto indexed = CellLibrary::from_archive(view(archive_bytes));
        ASSERT_FALSE(indexed.is_error()) << indexed.error().message;
        library = new CellLibrary(indexed.release_value());
        kernel.install(linker_namespace);
    }
    void TearDown() override
    {
        delete library;
        for (CellLibrary* extra : extra_libraries)
            delete extra;
    }

    // A library over an archive of the named cells from build/cells (test-only cells included).
    CellLibrary& library_of(const std::vector<std::string>& cells)
    {
        std::vector<std::pair<std::string, Bytes>> members;
        for (const std::string& cell : cells)
            members.emplace_back(cell + ".o", cell_bytes(cell));
        extra_archives.push_back(make_archive(members));
        auto indexed = CellLibrary::from_archive(view(extra_archives.back()));
        if (indexed.is_error())
            std::abort();
        extra_libraries.push_back(new CellLibrary(indexed.release_value()));
        return *extra_libraries.back();
    }

    // The namespace holds only the kernel and all section memory has been given back.
    void expect_nothing_loaded()
    {
        EXPECT_EQ(linker_namespace.cells().size(), 0u);
        EXPECT_EQ(linker_namespace.symbol_count(), linker_namespace.kernel_symbol_count());
        EXPECT_EQ(memory.live_regions(), 0u);
        EXPECT_EQ(memory.live_bytes, 0u);
    }

    LoadedCell* load(const char* name)
    {
        auto loaded = linker_namespace.load_cell(name, *library);
        EXPECT_FALSE(loaded.is_error()) << loaded.error().message << ": " << str(linker_namespace.last_failure());
        return loaded.is_error() ? nullptr : loaded.value();
    }

    std::uint64_t symbol(const char* name)
    {
        const SymbolDefinition* definition = linker_namespace.find_symbol(name);
        EXPECT_NE(definition, nullptr) << name;
        return definition ? definition->address : 0;
    }

    Bytes archive_bytes;
    CellLibrary* library = nullptr;
    std::deque<Bytes> extra_archives;
    std::vector<CellLibrary*> extra_libraries;
    HostSectionMemory memory;
    RecordingInvoker invoker;
    HostKernel kernel;
    Namespace linker_namespace{memory, invoker};
};

} // namespace delos::host
