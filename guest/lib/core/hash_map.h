// hash_map.h: an open-addressing hash map (linear probing, tombstones) for freestanding code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "lib/core/string.h"
#include "lib/core/string_view.h"
#include "lib/core/vector.h"

namespace delos {

template <typename K>
struct Hash;

template <>
struct Hash<std::uint64_t> {
    static std::uint64_t hash(std::uint64_t key)
    {
        key ^= key >> 33;
        key *= 0xff51afd7ed558ccdull;
        key ^= key >> 33;
        return key;
    }
};

inline std::uint64_t hash_bytes(const char* data, std::size_t size)
{
    std::uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a
    for (std::size_t i = 0; i < size; ++i) {
        hash ^= static_cast<unsigned char>(data[i]);
        hash *= 0x100000001b3ull;
    }
    return hash;
}

template <>
struct Hash<String> {
    static std::uint64_t hash(StringView key) { return hash_bytes(key.data(), key.size()); }
};

// Keys are compared with ==; String keys can be looked up by StringView without allocating.
template <typename K, typename V>
class HashMap {
    enum class SlotState : std::uint8_t { Empty, Full, Deleted };
    struct Slot {
        SlotState state = SlotState::Empty;
        alignas(K) unsigned char key_storage[sizeof(K)];
        alignas(V) unsigned char value_storage[sizeof(V)];
        K& key() { return *reinterpret_cast<K*>(key_storage); }
        V& value() { return *reinterpret_cast<V*>(value_storage); }
    };

public:
    HashMap() = default;
    HashMap(HashMap&& other) noexcept
        : m_slots(std::move(other.m_slots)), m_size(other.m_size), m_used(other.m_used)
    {
        other.m_size = other.m_used = 0;
    }
    HashMap& operator=(HashMap&& other) noexcept
    {
        if (this != &other) {
            clear();
            m_slots = std::move(other.m_slots);
            m_size = other.m_size;
            m_used = other.m_used;
            other.m_size = other.m_used = 0;
        }
        return *this;
    }
    HashMap(const HashMap&) = delete;
    HashMap& operator=(const HashMap&) = delete;
    ~HashMap() { clear(); }

    std::size_t size() const { return m_size; }
    bool empty() const { return m_size == 0; }

    template <typename Key>
    V* find(const Key& key)
    {
        if (m_slots.empty())
            return nullptr;
        std::size_t mask = m_slots.size() - 1;
        for (std::size_t i = Hash<K>::hash(key) & mask;; i = (i + 1) & mask) {
            Slot& slot = m_slots[i];
            if (slot.state == SlotState::Empty)
                return nullptr;
            if (slot.state == SlotState::Full && slot.key() == key)
                return &slot.value();
        }
    }
    template <typename Key>
    const V* find(const Key& key) const { return const_cast<HashMap*>(this)->find(key); }
    template <typename Key>
    bool contains(const Key& key) const { return find(key) != nullptr; }

    // Inserts or replaces; returns the stored value.
    V& set(K key, V value)
    {
        if (V* existing = find(key)) {
            *existing = std::move(value);
            return *existing;
        }
        if (m_slots.empty())
            rehash(16);
        else if ((m_used + 1) * 4 >= m_slots.size() * 3)  // keep probe chains short: grow, or just drop tombstones
            rehash((m_size + 1) * 2 >= m_slots.size() ? m_slots.size() * 2 : m_slots.size());
        std::size_t mask = m_slots.size() - 1;
        for (std::size_t i = Hash<K>::hash(key) & mask;; i = (i + 1) & mask) {
            Slot& slot = m_slots[i];
            if (slot.state != SlotState::Full) {
                if (slot.state == SlotState::Empty)
                    ++m_used;
                new (slot.key_storage) K(std::move(key));
                new (slot.value_storage) V(std::move(value));
                slot.state = SlotState::Full;
                ++m_size;
                return slot.value();
            }
        }
    }

    template <typename Key>
    bool remove(const Key& key)
    {
        V* value = find(key);
        if (!value)
            return false;
        Slot* slot = reinterpret_cast<Slot*>(reinterpret_cast<unsigned char*>(value) - offsetof(Slot, value_storage));
        slot->key().~K();
        slot->value().~V();
        slot->state = SlotState::Deleted;
        --m_size;
        return true;
    }

    // visit(const K&, V&) for every entry, in no particular order.
    template <typename Visitor>
    void for_each(Visitor&& visit)
    {
        for (Slot& slot : m_slots) {
            if (slot.state == SlotState::Full)
                visit(static_cast<const K&>(slot.key()), slot.value());
        }
    }

    void clear()
    {
        for (Slot& slot : m_slots) {
            if (slot.state == SlotState::Full) {
                slot.key().~K();
                slot.value().~V();
            }
            slot.state = SlotState::Empty;
        }
        m_size = m_used = 0;
    }

private:
    void rehash(std::size_t new_capacity)
    {
        Vector<Slot> old = std::move(m_slots);
        m_slots = Vector<Slot>();
        m_slots.resize(new_capacity);
        m_size = m_used = 0;
        for (Slot& slot : old) {
            if (slot.state == SlotState::Full) {
                set(std::move(slot.key()), std::move(slot.value()));
                slot.key().~K();
                slot.value().~V();
                slot.state = SlotState::Empty;
            }
        }
    }

    Vector<Slot> m_slots;
    std::size_t m_size = 0;
    std::size_t m_used = 0;  // Full + Deleted, which is what probing walks over
};

} // namespace delos
