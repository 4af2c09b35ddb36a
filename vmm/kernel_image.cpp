// kernel_image.cpp: ELF program headers and the PVH note, through the guest's checked ElfFile.
#include "kernel_image.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "abi/platform.h"
#include "abi/pvh.h"
#include "lib/elf/elf_file.h"
#include "file_descriptor.h"
#include "vmm_error.h"

namespace delos::vmm {

namespace {

[[noreturn]] void refuse(const std::string& what, const Error& error)
{
    std::string message = what + ": " + error.message;
    if (error.has_value)
        message += " (" + hex(error.value) + ")";
    throw BadInput(message);
}

std::uint32_t find_pvh_entry(const elf::ElfFile& file)
{
    std::uint32_t entry = 0;
    bool found = false;
    bool bad_descriptor = false;
    for (std::size_t i = 0; i < file.segment_count(); ++i) {
        auto segment = file.segment(i);
        if (segment.is_error())
            refuse("kernel program header", segment.error());
        if (segment->p_type != elf::PT_NOTE)
            continue;
        auto notes = file.segment_contents(segment.value());
        if (notes.is_error())
            refuse("kernel note segment", notes.error());
        auto walked = elf::ElfFile::for_each_note(notes.value(), [&](const elf::Note& note) {
            if (note.name != StringView("Xen") || note.type != abi::kXenElfNotePhys32Entry)
                return;
            // Linux and Delos emit 8 bytes, older kernels 4; either way the entry is 32-bit.
            std::uint64_t value = 0;
            if (note.descriptor.size() == 4) {
                value = note.descriptor.read<std::uint32_t>(0).value();
            } else if (note.descriptor.size() == 8) {
                value = note.descriptor.read<std::uint64_t>(0).value();
            } else {
                bad_descriptor = true;
                return;
            }
            if (value > 0xffffffffu) {
                bad_descriptor = true;
                return;
            }
            entry = static_cast<std::uint32_t>(value);
            found = true;
        });
        if (walked.is_error())
            refuse("kernel note segment", walked.error());
    }
    if (bad_descriptor)
        throw BadInput("kernel PVH entry note has a malformed descriptor");
    if (!found)
        throw BadInput("kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): it cannot be booted with PVH");
    return entry;
}

} // namespace

KernelImage parse_kernel_image(std::span<const std::uint8_t> file_bytes)
{
    auto parsed = elf::ElfFile::parse(ByteView(file_bytes.data(), file_bytes.size()));
    if (parsed.is_error())
        refuse("kernel is not a usable ELF-64 x86-64 file", parsed.error());
    const elf::ElfFile& file = parsed.value();
    if (file.header().e_type != elf::ET_EXEC)
        throw BadInput("kernel ELF is not an executable (ET_EXEC)");

    KernelImage image;
    image.pvh_entry = find_pvh_entry(file);
    image.lowest_address = ~std::uint64_t(0);
    for (std::size_t i = 0; i < file.segment_count(); ++i) {
        auto segment = file.segment(i).value();  // index checked by the loop bound and parse()
        if (segment.p_type != elf::PT_LOAD || segment.p_memsz == 0)
            continue;
        if (segment.p_filesz > segment.p_memsz)
            throw BadInput("kernel segment " + std::to_string(i) + " has more file bytes than memory bytes");
        if (segment.p_paddr < abi::kKernelPhysicalBase)
            throw BadInput("kernel segment " + std::to_string(i) + " at " + hex(segment.p_paddr) +
                           " lies below 1 MiB, where boot data goes");
        if (segment.p_paddr + segment.p_memsz < segment.p_paddr || segment.p_paddr + segment.p_memsz > abi::kMmioWindowBase)
            throw BadInput("kernel segment " + std::to_string(i) + " extends past the RAM window");
        auto contents = file.segment_contents(segment);
        if (contents.is_error())
            refuse("kernel segment " + std::to_string(i), contents.error());
        image.segments.push_back({segment.p_paddr, {contents->data(), contents->size()}, segment.p_memsz});
        image.lowest_address = std::min(image.lowest_address, segment.p_paddr);
        image.end_address = std::max(image.end_address, segment.p_paddr + segment.p_memsz);
    }
    if (image.segments.empty())
        throw BadInput("kernel has no loadable segments");
    // Overlapping segments would overwrite one another's bytes in an order the ELF does not define.
    std::vector<const KernelSegment*> by_address;
    for (const auto& segment : image.segments)
        by_address.push_back(&segment);
    std::ranges::sort(by_address, {}, &KernelSegment::physical_address);
    for (std::size_t i = 1; i < by_address.size(); ++i) {
        const KernelSegment& before = *by_address[i - 1];
        const KernelSegment& after = *by_address[i];
        if (after.physical_address < before.physical_address + before.memory_size)
            throw BadInput("kernel segments at " + hex(before.physical_address) + " (" + hex(before.memory_size) +
                           " bytes) and " + hex(after.physical_address) + " overlap");
    }
    bool entry_inside = false;
    for (const auto& segment : image.segments)
        entry_inside |= image.pvh_entry >= segment.physical_address &&
                        image.pvh_entry < segment.physical_address + segment.memory_size;
    if (!entry_inside)
        throw BadInput("kernel PVH entry " + hex(image.pvh_entry) + " is outside every loadable segment");
    return image;
}

void load_kernel_image(const KernelImage& image, GuestMemory& memory)
{
    if (!memory.contains(image.lowest_address, image.end_address - image.lowest_address))
        throw BadInput("guest RAM too small for the kernel: it needs " + std::to_string((image.end_address + 0xfffff) >> 20) +
                       " MiB, the VM has " + std::to_string(memory.size() >> 20) + " MiB");
    for (const auto& segment : image.segments) {
        memory.write(segment.physical_address, segment.file_bytes);
        memory.fill(segment.physical_address + segment.file_bytes.size(), 0,
                    segment.memory_size - segment.file_bytes.size());
    }
}

namespace {

// Reads `size` bytes at `offset`; false if the file ends first.
bool read_exactly(int fd, std::uint64_t offset, std::uint8_t* into, std::size_t size)
{
    std::size_t done = 0;
    while (done < size) {
        ssize_t n = ::pread(fd, into + done, size - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

} // namespace

std::vector<std::uint8_t> read_kernel_file(const std::string& path, std::uint64_t max_bytes)
{
    FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat status {};
    if (!fd.valid() || ::fstat(fd.get(), &status) != 0 || !S_ISREG(status.st_mode))
        return read_file(path, "kernel", max_bytes);  // reports the reason
    auto file_size = static_cast<std::uint64_t>(status.st_size);
    elf::Elf64_Ehdr header{};
    if (file_size < sizeof header || !read_exactly(fd.get(), 0, reinterpret_cast<std::uint8_t*>(&header), sizeof header) ||
        std::memcmp(header.e_ident, "\x7f" "ELF", 4) != 0 || header.e_phentsize != sizeof(elf::Elf64_Phdr) ||
        header.e_phnum == 0 || header.e_phoff > file_size ||
        std::uint64_t(header.e_phnum) * sizeof(elf::Elf64_Phdr) > file_size - header.e_phoff)
        return read_file(path, "kernel", max_bytes);
    std::vector<elf::Elf64_Phdr> program_headers(header.e_phnum);
    if (!read_exactly(fd.get(), header.e_phoff, reinterpret_cast<std::uint8_t*>(program_headers.data()),
                      program_headers.size() * sizeof(elf::Elf64_Phdr)))
        return read_file(path, "kernel", max_bytes);
    std::uint64_t end = header.e_phoff + std::uint64_t(header.e_phnum) * sizeof(elf::Elf64_Phdr);
    for (const auto& program_header : program_headers) {
        if (program_header.p_offset > file_size || program_header.p_filesz > file_size - program_header.p_offset)
            return read_file(path, "kernel", max_bytes);  // the parser names the bad segment
        end = std::max(end, program_header.p_offset + program_header.p_filesz);
    }
    if (end > max_bytes)
        throw BadInput("kernel " + path + " has " + std::to_string(end >> 20) + " MiB to load, more than the " +
                       std::to_string(max_bytes >> 20) + " MiB of guest RAM");
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(end));
    if (!read_exactly(fd.get(), 0, bytes.data(), bytes.size()))
        throw BadInput("cannot read kernel " + path + ": file shrank while being read");
    // The copy ends before the section header table (if it ever pointed in, the parser still checks it).
    if (header.e_shoff >= end) {
        header.e_shoff = 0;
        header.e_shnum = 0;
        header.e_shstrndx = 0;
        std::memcpy(bytes.data(), &header, sizeof header);
    }
    return bytes;
}

namespace {

// Opens a regular file for reading; throws BadInput("cannot read <what> <path>: reason").
FileDescriptor open_regular_file(const std::string& path, const char* what, std::uint64_t& size)
{
    auto fail = [&](const char* reason) {
        throw BadInput(std::string("cannot read ") + what + " " + path + ": " + reason);
    };
    FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid())
        fail(std::strerror(errno));
    struct stat status {};
    if (::fstat(fd.get(), &status) != 0)
        fail(std::strerror(errno));
    if (!S_ISREG(status.st_mode))
        fail("not a regular file");
    size = static_cast<std::uint64_t>(status.st_size);
    return fd;
}

} // namespace

std::uint64_t regular_file_size(const std::string& path, const char* what)
{
    std::uint64_t size = 0;
    open_regular_file(path, what, size);
    return size;
}

std::vector<std::uint8_t> read_file(const std::string& path, const char* what, std::uint64_t max_bytes)
{
    auto fail = [&](const char* reason) -> std::vector<std::uint8_t> {
        throw BadInput(std::string("cannot read ") + what + " " + path + ": " + reason);
    };
    std::uint64_t size = 0;
    FileDescriptor fd = open_regular_file(path, what, size);
    if (size > max_bytes)
        throw BadInput(std::string(what) + " " + path + " is " + std::to_string(size >> 20) + " MiB, more than the " +
                       std::to_string(max_bytes >> 20) + " MiB of guest RAM");
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(std::strerror(errno));
        if (n == 0)
            return fail("file shrank while being read");
        done += static_cast<std::size_t>(n);
    }
    return bytes;
}

} // namespace delos::vmm
