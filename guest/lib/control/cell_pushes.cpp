// cell_pushes.cpp: push bookkeeping with every size, offset and digest checked.
#include "lib/control/cell_pushes.h"

#include "abi/channel_limits.h"
#include "linker/cell_identity.h"
#include "linker/relocatable_object.h"

namespace delos::control {

namespace {

// Section count and sizes by kind, as CellInfo reports them.
void measure(const link::RelocatableObject& object, StagedCell& cell)
{
    for (const link::ObjectSection& section : object.sections()) {
        if (section.index == 0)
            continue;
        ++cell.section_count;
        if (!section.is_allocated())
            continue;
        if (section.type == elf::SHT_NOBITS)
            cell.bss_bytes += section.size;
        else if (section.flags & elf::SHF_EXECINSTR)
            cell.text_bytes += section.size;
        else if (section.flags & elf::SHF_WRITE)
            cell.data_bytes += section.size;
        else
            cell.rodata_bytes += section.size;
    }
}

} // namespace

CellPushes::OpenPush* CellPushes::find_open(std::uint32_t push_id)
{
    for (OpenPush& push : m_open) {
        if (push.id == push_id)
            return &push;
    }
    return nullptr;
}

void CellPushes::remove_open(std::uint32_t push_id)
{
    m_open.remove_all_matching([&](const OpenPush& open) { return open.id == push_id; });
    if (m_open.empty())
        m_open = Vector<OpenPush>();  // no bookkeeping outlives the last push
}

void CellPushes::drop_open_pushes()
{
    m_open = Vector<OpenPush>();
    m_records = Vector<RefRecord>();
    for (StagedCell& cell : m_staged)
        cell.push_ref = 0;  // references are the session's; staged cells outlive it
}

const CellPushes::RefRecord* CellPushes::find_record(std::uint64_t ref) const
{
    for (const RefRecord& record : m_records) {
        if (record.ref == ref)
            return &record;
    }
    return nullptr;
}

void CellPushes::remember(std::uint64_t ref, RefOutcome outcome, const Error& error)
{
    if (ref == 0)
        return;
    m_records.remove_all_matching([&](const RefRecord& record) { return record.ref == ref; });
    if (m_records.size() >= channel::kMaxRememberedPushRefs)
        m_records.remove(0);
    m_records.append(RefRecord{ref, outcome, error});
}

ErrorOr<CellPushes::OpenPush*> CellPushes::resolve(std::uint32_t push_id, std::uint64_t push_ref)
{
    if (push_id != 0 || push_ref == 0) {
        OpenPush* push = find_open(push_id);
        if (!push)
            return Error::make(ErrorCode::NotFound, "no such push", push_id);
        return push;
    }
    for (OpenPush& push : m_open) {
        if (push.ref == push_ref)
            return &push;
    }
    if (staged_by_ref(push_ref))
        return Error::make(ErrorCode::InvalidArgument, "its push is already committed", push_ref);
    const RefRecord* record = find_record(push_ref);
    if (!record)
        return Error::make(ErrorCode::NotFound, "no push was begun with that request id", push_ref);
    if (record->outcome == RefOutcome::Refused)
        return record->error.with_context("its push was refused at begin");
    return record->error.with_context("its push already ended: the commit failed");
}

const StagedCell* CellPushes::staged_by_ref(std::uint64_t ref) const
{
    for (const StagedCell& cell : m_staged) {
        if (cell.push_ref == ref)
            return &cell;
    }
    return nullptr;
}

ErrorOr<void> CellPushes::require_committed(std::uint64_t ref) const
{
    for (const OpenPush& push : m_open) {
        if (push.ref == ref)
            return Error::make(ErrorCode::InvalidArgument, "the push it follows is not committed", ref);
    }
    if (staged_by_ref(ref))
        return {};
    const RefRecord* record = find_record(ref);
    if (!record)
        return Error::make(ErrorCode::NotFound, "no push begun with the request id it follows is staged", ref);
    if (record->outcome == RefOutcome::Refused)
        return record->error.with_context("the push it follows was refused at begin");
    return record->error.with_context("the push it follows failed to commit");
}

ErrorOr<std::uint32_t> CellPushes::begin(const channel::PushCellBegin& begin, std::uint64_t free_memory_bytes, std::uint64_t ref)
{
    auto opened = open(begin, free_memory_bytes, ref);
    if (opened.is_error())
        remember(ref, RefOutcome::Refused, opened.error());
    return opened;
}

ErrorOr<std::uint32_t> CellPushes::open(const channel::PushCellBegin& begin, std::uint64_t free_memory_bytes, std::uint64_t ref)
{
    if (!link::is_valid_cell_name(begin.name))
        return Error::make(ErrorCode::InvalidArgument, "cell name must be [a-z][a-z0-9_]*, at most 31 bytes", begin.name.size());
    if (begin.total_size == 0 || begin.total_size > channel::kMaxCellBytes)
        return Error::make(ErrorCode::OutOfRange, "cell size must be between 1 byte and the channel's limit", begin.total_size);
    if (begin.total_size > free_memory_bytes / 2)
        return Error::make(ErrorCode::OutOfMemory, "not enough free memory to receive a cell this large", begin.total_size);
    if (m_open.size() >= channel::kMaxOpenPushes)
        return Error::make(ErrorCode::Busy, "too many pushes open at once", channel::kMaxOpenPushes);
    OpenPush& push = m_open.emplace();
    push.id = m_next_id++;
    // A reference names one push: a later begin reusing it takes it over.
    for (OpenPush& other : m_open) {
        if (other.ref == ref)
            other.ref = 0;
    }
    push.ref = ref;
    if (ref != 0) {
        for (StagedCell& cell : m_staged) {
            if (cell.push_ref == ref)
                cell.push_ref = 0;
        }
        m_records.remove_all_matching([&](const RefRecord& record) { return record.ref == ref; });
    }
    push.name = String(begin.name);
    push.total_size = begin.total_size;
    push.expected = begin.sha256;
    push.bytes.reserve(static_cast<std::size_t>(begin.total_size));
    return push.id;
}

ErrorOr<std::uint64_t> CellPushes::append(const channel::PushCellChunk& chunk)
{
    OpenPush* push = TRY(resolve(chunk.push_id, chunk.push_ref));
    if (chunk.offset != push->bytes.size())
        return Error::make(ErrorCode::OutOfRange, "chunk offset is not where the push left off", chunk.offset);
    if (chunk.data.size() > push->total_size - push->bytes.size())
        return Error::make(ErrorCode::OutOfRange, "chunk runs past the announced size", chunk.offset + chunk.data.size());
    push->bytes.extend(chunk.data.data(), chunk.data.size());
    push->hash.update(chunk.data);
    return push->bytes.size();
}

ErrorOr<const StagedCell*> CellPushes::commit(std::uint32_t push_id, std::uint64_t push_ref)
{
    OpenPush* found = TRY(resolve(push_id, push_ref));
    std::uint64_t ref = found->ref;
    auto staged = finish(found->id);
    if (staged.is_error())
        remember(ref, RefOutcome::Failed, staged.error());
    return staged;
}

ErrorOr<const StagedCell*> CellPushes::finish(std::uint32_t push_id)
{
    OpenPush* found = find_open(push_id);
    // A commit ends the push whatever its outcome; a failed one is pushed again from the start.
    OpenPush push = std::move(*found);
    remove_open(push_id);
    if (push.bytes.size() != push.total_size)
        return Error::make(ErrorCode::InvalidArgument, "push ended short of the announced size", push.bytes.size());
    if (!(push.hash.finish() == push.expected))
        return Error::make(ErrorCode::Malformed, "sha256 digest does not match the pushed bytes");
    StagedCell cell;
    {
        auto object = TRY(link::RelocatableObject::parse(ByteView(push.bytes.data(), push.bytes.size())));
        auto identity = TRY(link::read_cell_identity(object));
        if (!(identity.name == push.name.view()))
            return Error::make(ErrorCode::InvalidArgument, "push name differs from the cell's DELOS_CELL name");
        cell.version = String(identity.version);
        measure(object, cell);
    }
    m_staged.remove_all_matching([&](const StagedCell& staged) { return staged.name.view() == push.name.view(); });
    cell.push_ref = push.ref;
    cell.name = std::move(push.name);
    cell.bytes = std::move(push.bytes);
    cell.sha256 = push.expected;
    return &m_staged.emplace(std::move(cell));
}

ErrorOr<void> CellPushes::abort(std::uint32_t push_id)
{
    if (!find_open(push_id))
        return Error::make(ErrorCode::NotFound, "no such push", push_id);
    remove_open(push_id);
    return {};
}

StagedCell* CellPushes::staged(StringView name)
{
    for (StagedCell& cell : m_staged) {
        if (cell.name.view() == name)
            return &cell;
    }
    return nullptr;
}

ErrorOr<StagedCell> CellPushes::take_staged(StringView name)
{
    for (std::size_t i = 0; i < m_staged.size(); ++i) {
        if (m_staged[i].name.view() == name) {
            StagedCell cell = std::move(m_staged[i]);
            m_staged.remove(i);
            if (m_staged.empty())
                m_staged = Vector<StagedCell>();
            return cell;
        }
    }
    return Error::make(ErrorCode::NotFound, "no staged cell with that name");
}

std::uint64_t CellPushes::bytes_held() const
{
    std::uint64_t total = 0;
    for (const OpenPush& push : m_open)
        total += push.bytes.capacity();
    for (const StagedCell& cell : m_staged)
        total += cell.bytes.capacity();
    return total;
}

} // namespace delos::control
