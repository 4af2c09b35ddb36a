// entry_invoker.cpp: names for the kinds of cell entry points, for logs and tests.
#include "linker/entry_invoker.h"

namespace delos::link {

const char* entry_kind_name(EntryKind kind)
{
    switch (kind) {
    case EntryKind::Constructor: return "constructor";
    case EntryKind::Fini: return "fini";
    case EntryKind::ExitFunction: return "exit function";
    case EntryKind::Destructor: return "destructor";
    }
    return "unknown";
}

} // namespace delos::link
