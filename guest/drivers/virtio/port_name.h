// port_name.h: the name in a virtio-console PORT_NAME payload. Pure: host unit tests run it too.
#pragma once

#include <cstddef>

#include "lib/core/byte_view.h"

namespace delos::virtio {

// How many bytes of `payload` are the name: up to the first NUL (QEMU sends the C string with its
// terminator; delos-vmm sends none), at most `capacity`.
inline std::size_t port_name_length(ByteView payload, std::size_t capacity)
{
    std::size_t length = 0;
    while (length < payload.size() && length < capacity && payload.data()[length] != 0)
        ++length;
    return length;
}

} // namespace delos::virtio
