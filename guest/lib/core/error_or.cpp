// error_or.cpp: names for error codes, so every layer prints the same word.
#include "lib/core/error_or.h"

namespace delos {

const char* error_code_name(ErrorCode code)
{
    switch (code) {
    case ErrorCode::InvalidArgument: return "invalid-argument";
    case ErrorCode::Malformed: return "malformed";
    case ErrorCode::OutOfRange: return "out-of-range";
    case ErrorCode::Unsupported: return "unsupported";
    case ErrorCode::NotFound: return "not-found";
    case ErrorCode::AlreadyExists: return "already-exists";
    case ErrorCode::Busy: return "busy";
    case ErrorCode::OutOfMemory: return "out-of-memory";
    case ErrorCode::Overflow: return "overflow";
    case ErrorCode::PermissionDenied: return "permission-denied";
    case ErrorCode::Io: return "io";
    case ErrorCode::Timeout: return "timeout";
    case ErrorCode::Internal: return "internal";
    }
    return "unknown";
}

} // namespace delos
