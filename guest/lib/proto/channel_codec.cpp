// channel_codec.cpp: the channel's encode/decode entry points, and the protocol checks the wire
// format alone cannot express.
#include "lib/proto/channel_codec.h"

#include "lib/proto/message_codec.h"

namespace delos::channel {

namespace {

// Request fields start at 10 in HostMessage; lower numbers are envelope fields.
constexpr std::uint32_t kFirstRequestField = 10;

ErrorOr<void> check_cell_name(StringView name)
{
    if (name.empty())
        return Error::make(ErrorCode::InvalidArgument, "cell name is empty");
    if (name.size() > kMaxCellNameBytes)
        return Error::make(ErrorCode::InvalidArgument, "cell name is too long", name.size());
    return {};
}

ErrorOr<void> check_request(const HostMessage& message, const wire::DecodeNotes& notes)
{
    // What is missing is said before what is wrong: an empty frame (no id, no request) is
    // "message carries no request", as docs/channel-protocol.md promises.
    if (message.request == HostMessage::Request::None) {
        if (notes.highest_unknown_field >= kFirstRequestField)
            return Error::make(ErrorCode::Unsupported, "request is unknown to this guest", notes.highest_unknown_field);
        return Error::make(ErrorCode::Malformed, "message carries no request");
    }
    if (message.request_id == 0)
        return Error::make(ErrorCode::InvalidArgument, "request id 0 is reserved");
    switch (message.request) {
    case HostMessage::Request::None:
        return {};  // refused above
    case HostMessage::Request::Hello:
        if (message.hello.min_version > message.hello.max_version)
            return Error::make(ErrorCode::InvalidArgument, "hello version range is empty", message.hello.min_version);
        return {};
    case HostMessage::Request::PushBegin:
        TRY(check_cell_name(message.push_begin.name));
        if (!message.push_begin.has_sha256)
            return Error::make(ErrorCode::Malformed, "push begin carries no sha256 digest");
        if (message.push_begin.total_size > kMaxCellBytes)
            return Error::make(ErrorCode::OutOfRange, "cell size exceeds the limit", message.push_begin.total_size);
        return {};
    case HostMessage::Request::PushChunk:
        if (message.push_chunk.data.size() > kMaxChunkBytes)
            return Error::make(ErrorCode::OutOfRange, "push chunk exceeds the chunk limit", message.push_chunk.data.size());
        return {};
    case HostMessage::Request::LoadCell:
        return check_cell_name(message.load_cell.name);
    case HostMessage::Request::UnloadCell:
        return check_cell_name(message.unload_cell.name);
    case HostMessage::Request::SwapCells:
        if (message.swap_cells.pairs.empty())
            return Error::make(ErrorCode::InvalidArgument, "swap names no cells");
        for (const SwapPair& pair : message.swap_cells.pairs) {
            TRY(check_cell_name(pair.old_cell));
            if (pair.new_object.size() > kMaxCellNameBytes * 2 + 1)
                return Error::make(ErrorCode::InvalidArgument, "swap object name is too long", pair.new_object.size());
        }
        return {};
    case HostMessage::Request::RollbackCell:
        return check_cell_name(message.rollback_cell.name);
    case HostMessage::Request::SetRecoveryPolicy:
        // Empty names the default; the policy's values are the guest's to judge.
        return message.set_recovery_policy.cell.empty() ? ErrorOr<void>() : check_cell_name(message.set_recovery_policy.cell);
    case HostMessage::Request::Ping:
    case HostMessage::Request::ListCells:
    case HostMessage::Request::PushCommit:
    case HostMessage::Request::PushAbort:
    case HostMessage::Request::Stats:
        return {};
    }
    return {};
}

template <typename Message>
ErrorOr<void> append_message_frame(Vector<std::uint8_t>& out, const Message& message)
{
    std::size_t size = wire::encoded_size(message);
    if (size > kMaxFrameBytes)
        return Error::make(ErrorCode::Overflow, "message exceeds the frame limit", size);
    std::uint8_t* header = out.grow_uninitialized(kFrameHeaderBytes + size);
    auto length = static_cast<std::uint32_t>(size);  // little-endian on host and guest
    __builtin_memcpy(header, &length, kFrameHeaderBytes);
    std::uint8_t* end = wire::encode_to(message, header + kFrameHeaderBytes);
    (void)end;  // == header + kFrameHeaderBytes + size: the size pass is exact
    return {};
}

} // namespace

ErrorOr<HostMessage> decode_host_message(ByteView payload)
{
    wire::DecodeNotes notes;
    HostMessage message = TRY(wire::decode<HostMessage>(payload, &notes));
    TRY(check_request(message, notes));
    return message;
}

ErrorOr<GuestMessage> decode_guest_message(ByteView payload)
{
    GuestMessage message = TRY(wire::decode<GuestMessage>(payload));
    if (message.kind == GuestMessage::Kind::None)
        return Error::make(ErrorCode::Malformed, "message carries neither reply nor event");
    return message;
}

std::size_t encoded_size(const HostMessage& message) { return wire::encoded_size(message); }
std::size_t encoded_size(const GuestMessage& message) { return wire::encoded_size(message); }

ErrorOr<void> append_frame(Vector<std::uint8_t>& out, const HostMessage& message)
{
    return append_message_frame(out, message);
}

ErrorOr<void> append_frame(Vector<std::uint8_t>& out, const GuestMessage& message)
{
    return append_message_frame(out, message);
}

std::uint64_t peek_request_id(ByteView payload)
{
    wire::WireReader reader(payload);
    std::uint64_t request_id = 0;
    while (!reader.at_end()) {
        auto tag = reader.read_tag();
        if (tag.is_error())
            break;
        if (tag.value().field_number == 1 && tag.value().wire_type == wire::WireType::Varint) {
            auto value = reader.read_varint();
            if (value.is_error())
                break;
            request_id = value.value();  // the last one wins, as in a full decode
            continue;
        }
        if (reader.skip_value(tag.value()).is_error())
            break;
    }
    return request_id;
}

ErrorOr<std::uint32_t> negotiate_version(const HelloRequest& hello)
{
    std::uint32_t highest = hello.max_version < kProtocolVersionMax ? hello.max_version : kProtocolVersionMax;
    std::uint32_t lowest = hello.min_version > kProtocolVersionMin ? hello.min_version : kProtocolVersionMin;
    if (highest < lowest)
        return Error::make(ErrorCode::Unsupported, "no protocol version in common", hello.max_version);
    return highest;
}

const char* request_name(HostMessage::Request request)
{
    switch (request) {
    case HostMessage::Request::None: return "none";
    case HostMessage::Request::Hello: return "hello";
    case HostMessage::Request::Ping: return "ping";
    case HostMessage::Request::ListCells: return "list-cells";
    case HostMessage::Request::PushBegin: return "push-begin";
    case HostMessage::Request::PushChunk: return "push-chunk";
    case HostMessage::Request::PushCommit: return "push-commit";
    case HostMessage::Request::PushAbort: return "push-abort";
    case HostMessage::Request::LoadCell: return "load-cell";
    case HostMessage::Request::UnloadCell: return "unload-cell";
    case HostMessage::Request::Stats: return "stats";
    case HostMessage::Request::SwapCells: return "swap-cells";
    case HostMessage::Request::RollbackCell: return "rollback-cell";
    case HostMessage::Request::SetRecoveryPolicy: return "set-recovery-policy";
    }
    return "unknown";
}

Status Status::from_error(const Error& error)
{
    Status status;
    status.code = static_cast<StatusCode>(static_cast<std::int32_t>(error.code));
    status.reason = String(error.message);
    if (error.has_detail()) {
        // The exact reason: the static message, then the names the error carries.
        status.reason.append(": ");
        status.reason.append(error.detail.text());
    }
    status.has_value = error.has_value;
    status.value = error.has_value ? error.value : 0;
    return status;
}

GuestMessage GuestMessage::make_reply(channel::Reply reply)
{
    GuestMessage message;
    message.kind = Kind::Reply;
    message.reply = std::move(reply);
    return message;
}

GuestMessage GuestMessage::make_event(channel::Event event)
{
    GuestMessage message;
    message.kind = Kind::Event;
    message.event = std::move(event);
    return message;
}

GuestMessage GuestMessage::make_error_reply(std::uint64_t request_id, const Error& error)
{
    channel::Reply reply;
    reply.request_id = request_id;
    reply.status = Status::from_error(error);
    return make_reply(std::move(reply));
}

} // namespace delos::channel
