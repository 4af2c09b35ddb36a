// granted_writes.h: kv's writes through a client's WriteGrant (kv.h), in terms of the ungranted
// ones. Included once by each kv version's kv.cpp, so every version exports the same checks.
#pragma once

#include "kv/kv.h"

namespace delos::kv {

namespace {

ErrorOr<void> refuse_outside(const WriteGrant& grant, StringView key, const char* what)
{
    if (key == grant.key)
        return {};
    return Error::make(ErrorCode::PermissionDenied, what, key.size());
}

} // namespace

ErrorOr<void> put(const WriteGrant& grant, StringView key, StringView value)
{
    TRY(refuse_outside(grant, key, "put outside the caller's write grant"));
    return put(key, value);
}

ErrorOr<void> erase(const WriteGrant& grant, StringView key)
{
    TRY(refuse_outside(grant, key, "erase outside the caller's write grant"));
    (void)erase(key);
    return {};
}

ErrorOr<std::int64_t> add(const WriteGrant& grant, StringView key, std::int64_t delta)
{
    TRY(refuse_outside(grant, key, "add outside the caller's write grant"));
    return add(key, delta);
}

} // namespace delos::kv
