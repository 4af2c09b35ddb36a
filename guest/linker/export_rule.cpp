// export_rule.cpp: the predicate behind the namespace's weak/COMDAT rule.
#include "linker/export_rule.h"

namespace delos::link {

bool is_exported_symbol(const RelocatableObject& object, const ObjectSymbol& symbol)
{
    if (symbol.binding != elf::STB_GLOBAL || symbol.place != SymbolPlace::Section || symbol.name.empty())
        return false;
    if (symbol.visibility != elf::STV_DEFAULT && symbol.visibility != 3 /* STV_PROTECTED */)
        return false;
    if (symbol.type == elf::STT_SECTION || symbol.type == elf::STT_FILE || symbol.type == elf::STT_TLS)
        return false;
    const ObjectSection& section = object.section(symbol.section);
    if (!section.is_loadable())
        return false;
    if (section.group != kNoSection) {
        for (const SectionGroup& group : object.groups()) {
            if (group.index == section.group && group.is_comdat)
                return false;
        }
    }
    return true;
}

} // namespace delos::link
