// cell_pushes.cpp: push bookkeeping with every size, offset and digest checked.
#include "control/cell_pushes.h"

#include "abi/channel_limits.h"
#include "linker/cell_identity.h"
#include "linker/relocatable_object.h"
#include "memory/frame_allocator.h"

namespace delos::control {

CellPushes::OpenPush* CellPushes::find_open(std::uint32_t push_id)
{
    for (OpenPush& push : m_open) {
        if (push.id == push_id)
            return &push;
    }
    return nullptr;
}

ErrorOr<std::uint32_t> CellPushes::begin(const channel::PushCellBegin& begin)
{
    if (!link::is_valid_cell_name(begin.name))
        return Error::make(ErrorCode::InvalidArgument, "cell name must be [a-z][a-z0-9_]*, at most 31 bytes", begin.name.size());
    if (begin.total_size == 0 || begin.total_size > channel::kMaxCellBytes)
        return Error::make(ErrorCode::OutOfRange, "cell size must be between 1 byte and the channel's limit", begin.total_size);
    // Refuse what could not fit now rather than fail half-way through the transfer.
    std::uint64_t free_bytes = memory::frame_allocator().free_frames() * memory::kPageSize;
    if (begin.total_size > free_bytes / 2)
        return Error::make(ErrorCode::OutOfMemory, "not enough free memory to receive a cell this large", begin.total_size);
    if (m_open.size() >= channel::kMaxOpenPushes)
        return Error::make(ErrorCode::Busy, "too many pushes open at once", channel::kMaxOpenPushes);
    OpenPush& push = m_open.emplace();
    push.id = m_next_id++;
    push.name = String(begin.name);
    push.total_size = begin.total_size;
    push.expected = begin.sha256;
    push.bytes.reserve(static_cast<std::size_t>(begin.total_size));
    return push.id;
}

ErrorOr<std::uint64_t> CellPushes::append(const channel::PushCellChunk& chunk)
{
    OpenPush* push = find_open(chunk.push_id);
    if (!push)
        return Error::make(ErrorCode::NotFound, "no such push", chunk.push_id);
    if (chunk.offset != push->bytes.size())
        return Error::make(ErrorCode::OutOfRange, "chunk offset is not where the push left off", chunk.offset);
    if (chunk.data.size() > push->total_size - push->bytes.size())
        return Error::make(ErrorCode::OutOfRange, "chunk runs past the announced size", chunk.offset + chunk.data.size());
    push->bytes.extend(chunk.data.data(), chunk.data.size());
    push->hash.update(chunk.data);
    return push->bytes.size();
}

ErrorOr<const StagedCell*> CellPushes::commit(std::uint32_t push_id)
{
    OpenPush* found = find_open(push_id);
    if (!found)
        return Error::make(ErrorCode::NotFound, "no such push", push_id);
    // A commit ends the push whatever its outcome; a failed one is pushed again from the start.
    OpenPush push = std::move(*found);
    m_open.remove_all_matching([&](const OpenPush& open) { return open.id == push_id; });
    if (push.bytes.size() != push.total_size)
        return Error::make(ErrorCode::InvalidArgument, "push ended short of the announced size", push.bytes.size());
    if (!(push.hash.finish() == push.expected))
        return Error::make(ErrorCode::Malformed, "sha256 digest does not match the pushed bytes");
    auto object = TRY(link::RelocatableObject::parse(ByteView(push.bytes.data(), push.bytes.size())));
    auto identity = TRY(link::read_cell_identity(object));
    if (!(identity.name == push.name.view()))
        return Error::make(ErrorCode::InvalidArgument, "push name differs from the cell's DELOS_CELL name");
    String version(identity.version);
    m_staged.remove_all_matching([&](const StagedCell& staged) { return staged.name.view() == push.name.view(); });
    StagedCell& staged = m_staged.emplace();
    staged.name = std::move(push.name);
    staged.version = std::move(version);
    staged.bytes = std::move(push.bytes);
    staged.sha256 = push.expected;
    return &staged;
}

ErrorOr<void> CellPushes::abort(std::uint32_t push_id)
{
    if (m_open.remove_all_matching([&](const OpenPush& open) { return open.id == push_id; }) == 0)
        return Error::make(ErrorCode::NotFound, "no such push", push_id);
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
        total += cell.bytes.size();
    return total;
}

} // namespace delos::control
