// section_memory.cpp: names for page permissions, for introspection and error details.
#include "linker/section_memory.h"

namespace delos::link {

const char* permissions_name(Permissions permissions)
{
    switch (permissions) {
    case Permissions::ReadWrite: return "rw-";
    case Permissions::ReadOnly: return "r--";
    case Permissions::ReadExecute: return "r-x";
    }
    return "???";
}

} // namespace delos::link
