// controller_requests_fuzzer.cpp: delosd's request handling over arbitrary bytes. The first
// byte picks a request kind, the rest is parsed as that protobuf message, as gRPC would hand
// it to delosd: VM specs, push headers (with the signature rules, trusted and not), fault
// queries, and guest events (fault reports) stored and read back through the SQLite store.
// Every request must be accepted or refused with an RpcError carrying a message — no crash,
// no other exception — and a stored fault must come back equal and only once.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "cell_signature.h"
#include "fault_store.h"
#include "request_checks.h"

using namespace delos;
using namespace delos::controller;

namespace {

[[noreturn]] void fail(const std::string& what)
{
    std::fprintf(stderr, "fuzz-controller-requests: %s\n", what.c_str());
    std::abort();
}

// One store for the whole run, in a directory removed at exit.
struct ScratchStore {
    ScratchStore()
    {
        char pattern[] = "/tmp/fuzz-controller-XXXXXX";
        directory = ::mkdtemp(pattern);
        store = std::make_unique<FaultStore>(directory);
    }
    ~ScratchStore()
    {
        store.reset();
        std::error_code ignored;
        std::filesystem::remove_all(directory, ignored);
    }
    std::string directory;
    std::unique_ptr<FaultStore> store;
};

FaultStore& store()
{
    static ScratchStore scratch;
    return *scratch.store;
}

// Runs `check`; an RpcError must say something, anything else is a bug.
template <typename Check>
bool refused(Check check)
{
    try {
        check();
        return false;
    } catch (const RpcError& error) {
        if (std::string(error.what()).empty())
            fail("a refusal without a message");
        if (error.code() == grpc::StatusCode::OK)
            fail("a refusal with status OK");
        return true;
    } catch (const std::exception& error) {
        fail(std::string("unexpected exception: ") + error.what());
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    const char* bytes = reinterpret_cast<const char*>(data + 1);
    int length = static_cast<int>(size - 1);
    static KeyPair trusted = generate_key_pair();
    static std::map<std::string, std::string> trusted_keys = {{trusted.public_key, "ops.pub"}};
    switch (data[0] % 5) {
    case 0: {
        v1::CreateVmRequest request;
        if (!request.ParseFromArray(bytes, length))
            return 0;
        bool was_refused = refused([&] { check_vm_spec(request.spec(), "/tmp/delosd-fuzz-state", data[0] & 0x80); });
        if (!was_refused && !valid_vm_name(request.spec().name()))
            fail("a spec with an invalid name passed");
        break;
    }
    case 1: {
        v1::PushCellRequest request;
        if (!request.ParseFromArray(bytes, length))
            return 0;
        const v1::PushCellHeader& header = request.header();
        bool bad_fields = refused([&] { check_push_header_fields(header, 64ull << 20); });
        if (!bad_fields && (!valid_cell_name(header.cell()) || header.sha256().size() != 32 || header.total_size() == 0))
            fail("a bad push header passed");
        // Strict mode: only a verifying signature by the trusted key passes.
        bool strict_refused = refused([&] { check_push_signature(header, false, trusted_keys); });
        if (!strict_refused
            && (header.public_key() != trusted.public_key
                || !verify_digest(header.sha256(), header.signature(), header.public_key())))
            fail("an untrusted or unverified signature passed");
        refused([&] { check_push_signature(header, true, {}); });
        // A header signed properly for its digest passes in strict mode.
        v1::PushCellHeader signed_header = header;
        signed_header.set_public_key(trusted.public_key);
        signed_header.set_signature(sign_digest(header.sha256(), trusted.secret_key));
        if (refused([&] { check_push_signature(signed_header, false, trusted_keys); }))
            fail("a properly signed header was refused");
        break;
    }
    case 2: {
        v1::ListFaultsRequest request;
        if (!request.ParseFromArray(bytes, length))
            return 0;
        std::uint32_t page_size = 0;
        std::uint64_t after = 0;
        if (!refused([&] { after = check_list_faults(request, &page_size); })) {
            if (page_size == 0 || page_size > 1000)
                fail("a page size out of range passed");
            auto records = store().list_faults(request.filter(), after, page_size);
            if (records.size() > page_size)
                fail("more records than the page size");
            for (const auto& record : records) {
                if (record.sequence() <= after)
                    fail("a record at or before the cursor");
            }
        }
        break;
    }
    case 3: {
        // A guest event: stored once whatever it holds, read back equal.
        v1::GuestMessage message;
        if (!message.ParseFromArray(bytes, length) || !message.event().has_fault_report())
            return 0;
        const v1::Event& event = message.event();
        std::string vm = "fuzz";
        auto first = store().add_fault(vm, 1, event.sequence(), event.uptime_ns(), event.fault_report());
        auto again = store().add_fault(vm, 1, event.sequence(), event.uptime_ns(), event.fault_report());
        if (again)
            fail("a re-delivered fault was stored twice");
        if (first) {
            v1::FaultFilter filter;
            filter.set_vm(vm);
            auto back = store().list_faults(filter, first->sequence() - 1, 1);
            if (back.size() != 1 || back[0].report().SerializeAsString() != event.fault_report().SerializeAsString())
                fail("a stored fault did not come back equal");
        }
        break;
    }
    case 4: {
        v1::WatchEventsRequest request;
        if (!request.ParseFromArray(bytes, length))
            return 0;
        v1::EventRecord event;
        event.set_vm(request.vm());
        event.set_message(request.vm());
        auto stored = store().add_event(event);
        auto back = store().list_events(request.vm(), stored.sequence() - 1, 1);
        if (back.size() != 1 || back[0].vm() != request.vm())
            fail("an event did not come back");
        break;
    }
    }
    return 0;
}
