// cell_library.cpp: indexing an archive of cells by name and by exported symbol.
#include "linker/cell_library.h"

#include <utility>

#include "lib/archive/archive.h"
#include "lib/core/format.h"
#include "linker/cell_identity.h"
#include "linker/export_rule.h"
#include "linker/relocatable_object.h"

namespace delos::link {

namespace {

void explain(String* detail, StringView member, const Error& error)
{
    if (detail)
        *detail = format("archive member \"{}\": {} ({})", member, error.message, error.value);
}

} // namespace

ErrorOr<CellLibrary> CellLibrary::from_archive(ByteView bytes, String* detail)
{
    auto archive_or_error = archive::Archive::parse(bytes);
    if (archive_or_error.is_error()) {
        if (detail)
            *detail = format("cell archive: {} ({})", archive_or_error.error().message, archive_or_error.error().value);
        return archive_or_error.release_error();
    }
    const archive::Archive& archive = archive_or_error.value();

    CellLibrary library;
    for (const archive::ArchiveMember& member : archive.members()) {
        auto object = RelocatableObject::parse(member.contents);
        if (object.is_error()) {
            explain(detail, member.name, object.error());
            return object.release_error();
        }
        auto identity = read_cell_identity(object.value());
        if (identity.is_error()) {
            explain(detail, member.name, identity.error());
            return identity.release_error();
        }
        StringView name = identity.value().name;
        // "<cell>.<tag>.o" holds another version of <cell> (live evolution): kept, not indexed.
        StringView stem = member.name.ends_with(".o") ? member.name.substr(0, member.name.size() - 2) : StringView();
        if (stem.size() > name.size() + 1 && stem.starts_with(name) && stem[name.size()] == '.') {
            StringView tag = stem.substr(name.size() + 1);
            bool tag_ok = true;
            for (char c : tag)
                tag_ok &= (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
            if (tag_ok) {
                if (library.find_version(stem)) {
                    if (detail)
                        *detail = format("archive holds version \"{}\" twice", stem);
                    return Error::make(ErrorCode::AlreadyExists, "archive holds the same cell version twice");
                }
                library.m_versions.append(LibraryCell{name, identity.value().version, member.contents, stem, {}});
                continue;
            }
        }
        if (!member.name.ends_with(".o") || member.name.substr(0, member.name.size() - 2) != name) {
            if (detail)
                *detail = format("archive member \"{}\" holds cell \"{}\" (expected \"{}.o\")", member.name, name, name);
            return Error::make(ErrorCode::Malformed, "archive member is not named after the cell it holds");
        }
        if (library.find_cell(name)) {
            if (detail)
                *detail = format("archive holds cell \"{}\" twice", name);
            return Error::make(ErrorCode::AlreadyExists, "archive holds the same cell twice");
        }
        std::size_t index = library.m_cells.size();
        library.m_cells.append(LibraryCell{name, identity.value().version, member.contents, {}, {}});
        for (const ObjectSymbol& symbol : object.value().symbols()) {
            // The first cell to export a name is its provider; loading both would be refused.
            if (is_exported_symbol(object.value(), symbol) && !library.m_providers.contains(symbol.name))
                library.m_providers.set(String(symbol.name), index);
        }
    }
    return library;
}

const LibraryCell* CellLibrary::find_cell(StringView name) const
{
    for (const LibraryCell& cell : m_cells) {
        if (cell.name == name)
            return &cell;
    }
    return nullptr;
}

const LibraryCell* CellLibrary::find_version(StringView tagged_name) const
{
    for (const LibraryCell& cell : m_versions) {
        if (cell.tagged_name == tagged_name)
            return &cell;
    }
    return nullptr;
}

const LibraryCell* CellLibrary::provider_of(StringView symbol) const
{
    const std::size_t* index = m_providers.find(symbol);
    return index ? &m_cells[*index] : nullptr;
}

const LibraryCell* CellLibrary::member_at(ByteView object) const
{
    for (const Vector<LibraryCell>* members : {&m_cells, &m_versions}) {
        for (const LibraryCell& cell : *members) {
            if (cell.object.data() == object.data() && cell.object.size() == object.size())
                return &cell;
        }
    }
    return nullptr;
}

BuildId CellLibrary::build_id_of(ByteView object) const
{
    const LibraryCell* member = member_at(object);
    if (!member)
        return {};
    if (!member->build_id.known())
        member->build_id = BuildId::of(member->object);
    return member->build_id;
}

} // namespace delos::link
