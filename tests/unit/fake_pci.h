// fake_pci.h: a host model of PCI configuration space for tests: functions with raw config bytes,
// BARs that answer sizing by their writable masks, capability lists built field by field, and
// hooks through which a test makes any register lie.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "lib/pci/config_space.h"

namespace delos::test {

struct FakeFunction {
    std::uint8_t bytes[4096] = {};
    // Writable bits of each BAR dword (0: the dword is read-only, e.g. unimplemented).
    std::uint32_t bar_writable[6] = {};
    // Returns a value to read instead of the stored one (a hostile device), or nothing.
    std::function<std::optional<std::uint32_t>(std::uint16_t offset)> lie;

    std::uint32_t get32(std::uint16_t offset) const
    {
        std::uint32_t v;
        std::memcpy(&v, bytes + offset, 4);
        return v;
    }
    void set8(std::uint16_t offset, std::uint8_t v) { bytes[offset] = v; }
    void set16(std::uint16_t offset, std::uint16_t v) { std::memcpy(bytes + offset, &v, 2); }
    void set32(std::uint16_t offset, std::uint32_t v) { std::memcpy(bytes + offset, &v, 4); }

    // A memory BAR of `size` bytes at `address` (64-bit takes two slots).
    void memory_bar(int index, std::uint64_t address, std::uint64_t size, bool is64 = false, bool prefetchable = false)
    {
        std::uint32_t flags = (is64 ? 4u : 0u) | (prefetchable ? 8u : 0u);
        std::uint64_t mask = ~(size - 1);
        set32(static_cast<std::uint16_t>(0x10 + 4 * index), static_cast<std::uint32_t>(address) | flags);
        bar_writable[index] = static_cast<std::uint32_t>(mask) & ~0xfu;
        if (is64) {
            set32(static_cast<std::uint16_t>(0x14 + 4 * index), static_cast<std::uint32_t>(address >> 32));
            bar_writable[index + 1] = static_cast<std::uint32_t>(mask >> 32);
        }
    }
    void io_bar(int index, std::uint16_t port, std::uint32_t size)
    {
        set32(static_cast<std::uint16_t>(0x10 + 4 * index), port | 1u);
        bar_writable[index] = 0xffffu & ~(size - 1) & ~3u;
    }
    // Appends capabilities: each is {id, body bytes after the 2-byte header}; returns their offsets.
    std::vector<std::uint8_t> capabilities(const std::vector<std::pair<std::uint8_t, std::vector<std::uint8_t>>>& caps,
                                           std::uint8_t first = 0x40)
    {
        std::vector<std::uint8_t> offsets;
        std::uint8_t at = first;
        set16(0x06, static_cast<std::uint16_t>(bytes[0x06] | 0x10));
        set8(0x34, caps.empty() ? 0 : first);
        for (std::size_t i = 0; i < caps.size(); ++i) {
            offsets.push_back(at);
            std::size_t length = 2 + caps[i].second.size();
            std::uint8_t next = i + 1 < caps.size() ? static_cast<std::uint8_t>((at + length + 3) & ~3u) : 0;
            set8(at, caps[i].first);
            set8(static_cast<std::uint16_t>(at + 1), next);
            std::memcpy(bytes + at + 2, caps[i].second.data(), caps[i].second.size());
            at = next;
        }
        return offsets;
    }
};

class FakeConfigSpace final : public pci::ConfigSpace {
public:
    static std::uint32_t key(pci::Address a) { return std::uint32_t(a.bus) << 8 | a.device << 3 | a.function; }

    FakeFunction& add(pci::Address address, std::uint16_t vendor, std::uint16_t device, std::uint8_t header_type = 0,
                      std::uint8_t class_code = 0xff)
    {
        FakeFunction& f = functions[key(address)];
        f.set16(0x00, vendor);
        f.set16(0x02, device);
        f.set8(0x0b, class_code);
        f.set8(0x0e, header_type);
        return f;
    }
    FakeFunction& bridge(pci::Address address, std::uint8_t secondary)
    {
        FakeFunction& f = add(address, 0x1b36, 0x000c, 1, 0x06);
        f.set8(0x18, address.bus);
        f.set8(0x19, secondary);
        f.set8(0x1a, secondary);
        return f;
    }
    FakeFunction* find(pci::Address address)
    {
        auto it = functions.find(key(address));
        return it == functions.end() ? nullptr : &it->second;
    }

    std::uint16_t extent() const override { return 4096; }
    std::uint32_t read32(pci::Address address, std::uint16_t offset) override
    {
        ++reads;
        FakeFunction* f = find(address);
        if (!f || offset >= 4096 || (offset & 3))
            return 0xffffffffu;
        if (f->lie) {
            if (auto value = f->lie(offset))
                return *value;
        }
        return f->get32(offset);
    }
    void write32(pci::Address address, std::uint16_t offset, std::uint32_t value) override
    {
        FakeFunction* f = find(address);
        if (!f || offset >= 4096 || (offset & 3))
            return;
        if (offset >= 0x10 && offset < 0x28) {
            int index = (offset - 0x10) / 4;
            std::uint32_t writable = f->bar_writable[index];
            f->set32(offset, (value & writable) | (f->get32(offset) & ~writable));
            return;
        }
        f->set32(offset, value);
    }
    void write16(pci::Address address, std::uint16_t offset, std::uint16_t value) override
    {
        FakeFunction* f = find(address);
        if (!f || offset >= 4096 || (offset & 1))
            return;
        writes16.push_back({offset, value});
        f->set16(offset, value);
    }

    std::map<std::uint32_t, FakeFunction> functions;
    std::size_t reads = 0;
    std::vector<std::pair<std::uint16_t, std::uint16_t>> writes16;
};

// virtio_pci_cap body after the 2-byte header: cap_len, cfg_type, bar, id, pad[2], offset, length.
inline std::vector<std::uint8_t> virtio_cap(std::uint8_t type, std::uint8_t bar, std::uint32_t offset, std::uint32_t length,
                                     std::uint8_t cap_len = 16)
{
    std::vector<std::uint8_t> body = {cap_len, type, bar, 0, 0, 0};
    for (int i = 0; i < 4; ++i)
        body.push_back(static_cast<std::uint8_t>(offset >> (8 * i)));
    for (int i = 0; i < 4; ++i)
        body.push_back(static_cast<std::uint8_t>(length >> (8 * i)));
    return body;
}

inline std::vector<std::uint8_t> notify_cap(std::uint8_t bar, std::uint32_t offset, std::uint32_t length, std::uint32_t multiplier)
{
    auto body = virtio_cap(2, bar, offset, length, 20);
    for (int i = 0; i < 4; ++i)
        body.push_back(static_cast<std::uint8_t>(multiplier >> (8 * i)));
    return body;
}

inline std::vector<std::uint8_t> msix_cap(std::uint16_t table_size, std::uint8_t bar, std::uint32_t offset)
{
    std::uint16_t control = static_cast<std::uint16_t>(table_size - 1);
    std::uint32_t table = offset | bar;
    std::uint32_t pba = (offset + 0x800) | bar;
    std::vector<std::uint8_t> body = {static_cast<std::uint8_t>(control), static_cast<std::uint8_t>(control >> 8)};
    for (int i = 0; i < 4; ++i)
        body.push_back(static_cast<std::uint8_t>(table >> (8 * i)));
    for (int i = 0; i < 4; ++i)
        body.push_back(static_cast<std::uint8_t>(pba >> (8 * i)));
    return body;
}

// What QEMU's virtio-serial-pci looks like: MSI-X table in BAR1, the four structures in BAR4.
inline FakeFunction& qemu_like_virtio(FakeConfigSpace& config, pci::Address address, std::uint16_t device_id = 0x1043)
{
    FakeFunction& f = config.add(address, 0x1af4, device_id);
    f.set16(0x2e, 3);
    f.memory_bar(1, 0xfebff000, 0x1000);
    f.memory_bar(4, 0xfebf8000, 0x4000, true, true);
    f.capabilities({{0x11, msix_cap(2, 1, 0)},
                    {0x09, virtio_cap(1, 4, 0x0000, 0x1000)},
                    {0x09, virtio_cap(3, 4, 0x1000, 0x1000)},
                    {0x09, virtio_cap(4, 4, 0x2000, 0x1000)},
                    {0x09, notify_cap(4, 0x3000, 0x1000, 4)}},
                   0x84);
    return f;
}

} // namespace delos::test
