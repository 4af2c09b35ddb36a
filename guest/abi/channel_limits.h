// channel_limits.h: channel protocol numbers that guest and host must agree on (versions, frame
// and chunk sizes, list lengths). Dual-use: the guest control agent, the freestanding codec,
// the VMM and the host tools include this one header. See docs/channel-protocol.md.
#pragma once

#include <cstdint>

namespace delos::channel {

// Protocol versions this build speaks; Hello picks the highest both sides know.
inline constexpr std::uint32_t kProtocolVersionMin = 1;
// Version 2: chunks and commit may name their push by the PushCellBegin's request_id
// (push_ref) and a swap may require that push committed (after_push_ref), so a host sends a
// whole push and its swap without waiting; a version-1 session works as before.
inline constexpr std::uint32_t kProtocolVersionMax = 2;

// Name of the virtio-console port that carries the channel.
inline constexpr char kControlPortName[] = "org.delos.control.0";

// A frame is a little-endian u32 payload length, then the payload (one protobuf message).
inline constexpr std::uint32_t kFrameHeaderBytes = 4;

// Largest push chunk. Frames must hold one chunk plus its envelope; the rest of the frame
// limit is headroom for large replies (a long ListCells) rather than for bigger chunks.
inline constexpr std::uint32_t kMaxChunkBytes = 256 * 1024;
// What delos-chan sends unless told otherwise: big enough that per-frame costs vanish,
// small enough that progress moves and the guest's reassembly buffer stays small.
inline constexpr std::uint32_t kDefaultChunkBytes = 128 * 1024;

// Largest payload either side accepts (the length field of a frame, header excluded).
inline constexpr std::uint32_t kMaxFrameBytes = 1024 * 1024 + 64 * 1024;

// Largest cell object a push may announce.
inline constexpr std::uint64_t kMaxCellBytes = 64ull * 1024 * 1024;
// Cell names are what DELOS_CELL declares: a lowercase letter, then lowercase letters, digits
// or '_' (link::is_valid_cell_name), at most 31 bytes (link::kCellNameCapacity less its NUL).
inline constexpr std::uint32_t kMaxCellNameBytes = 31;
// Pushes one session may have open (begun, not yet committed or aborted) at once.
inline constexpr std::uint32_t kMaxOpenPushes = 4;
// Outcomes of pushes begun with a reference (refused, committed, failed) the guest remembers per
// session, so what follows a refused begin is refused with its reason.
inline constexpr std::uint32_t kMaxRememberedPushRefs = 16;

// Repeated fields a decoder accepts; also what a sender must stay within.
inline constexpr std::uint32_t kMaxListedCells = 4096;
inline constexpr std::uint32_t kMaxCellDependencies = 256;
// Task names listed per cell in a StatsReply (the count covers all of them).
inline constexpr std::uint32_t kMaxListedTaskNames = 64;
// Replacements in one swap request (the linker's limit on cells in one load).
inline constexpr std::uint32_t kMaxSwapPairs = 64;
inline constexpr std::uint32_t kMaxBacktraceFrames = 64;
// Fault reports in one ListFaultsReply (the guest keeps 16 in its ring).
inline constexpr std::uint32_t kMaxListedFaults = 64;
// Longest LogLine text a guest sends (it truncates longer lines).
inline constexpr std::uint32_t kMaxLogTextBytes = 4096;

// Embedded messages nested deeper than this are refused (our schema needs 4).
inline constexpr std::uint32_t kMaxNestingDepth = 8;

// SHA-256 digests in PushCellBegin and CellInfo.
inline constexpr std::uint32_t kDigestBytes = 32;

} // namespace delos::channel
