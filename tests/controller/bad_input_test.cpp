// bad_input_test.cpp: requests delosctl would never send, straight over gRPC: each gets a clear
// status and changes nothing (the guest's cells, the VM table and the store stay as they
// were); a guest that sends garbage or hangs up in the middle of a push costs only its own
// request, and delosd and the other guests keep working.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "cell_signature.h"
#include "controller_harness.h"
#include "fake_guest.h"
#include "scripted_guest.h"

namespace delos::test {
namespace {

class BadInput : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_TRUE(delosd.start()) << delosd.log();
        ASSERT_TRUE(attach_running_vm(delosd, "good", dir / "a.sock"));
        cells_before = cells();
    }
    std::string cells() { return delosctl(delosd.server(), {"-o", "json", "cells", "--vm", "good"}).out; }

    // Pushes `parts` as one PushCell stream and returns the status.
    grpc::Status push(const std::vector<v1::PushCellRequest>& parts)
    {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
        v1::PushCellResponse response;
        auto stub = delosd.stub();
        auto writer = stub->PushCell(&context, &response);
        for (const auto& part : parts) {
            if (!writer->Write(part))
                break;
        }
        writer->WritesDone();
        return writer->Finish();
    }
    static v1::PushCellRequest header(const std::string& vm, const std::string& cell, const std::string& object)
    {
        v1::PushCellRequest part;
        auto* h = part.mutable_header();
        h->set_vm(vm);
        h->set_cell(cell);
        h->set_total_size(object.size());
        h->set_sha256(controller::sha256_of(object));
        h->set_action(v1::PUSH_ACTION_LOAD);
        return part;
    }
    static v1::PushCellRequest chunk(const std::string& bytes)
    {
        v1::PushCellRequest part;
        part.set_chunk(bytes);
        return part;
    }

    TempDir dir;
    chan::FakeGuest guest{dir / "a.sock"};
    Delosd delosd{dir.path()};
    std::string cells_before;
};

TEST_F(BadInput, MalformedPushesAreRefusedAndChangeNothing)
{
    std::string object = read_file(cell_object("hello"));
    ASSERT_FALSE(object.empty());

    auto truncated = push({header("good", "hello", object), chunk(object.substr(0, object.size() / 2))});
    EXPECT_EQ(truncated.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(truncated.error_message().find("ended after"), std::string::npos) << truncated.error_message();

    std::string damaged = object;
    damaged[damaged.size() / 2] ^= 0x40;
    auto wrong_digest = push({header("good", "hello", object), chunk(damaged)});
    EXPECT_EQ(wrong_digest.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(wrong_digest.error_message().find("SHA-256"), std::string::npos) << wrong_digest.error_message();

    auto too_long = push({header("good", "hello", object), chunk(object), chunk("x")});
    EXPECT_EQ(too_long.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

    auto no_header = push({chunk(object)});
    EXPECT_EQ(no_header.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(no_header.error_message().find("header"), std::string::npos);

    auto empty = push({});
    EXPECT_EQ(empty.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

    auto two_headers = push({header("good", "hello", object), header("good", "hello", object)});
    EXPECT_EQ(two_headers.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

    auto unknown_vm = push({header("nope", "hello", object), chunk(object)});
    EXPECT_EQ(unknown_vm.error_code(), grpc::StatusCode::NOT_FOUND);

    auto bad_name = push({header("good", "../etc", object), chunk(object)});
    EXPECT_EQ(bad_name.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

    auto short_digest = header("good", "hello", object);
    short_digest.mutable_header()->set_sha256("abc");
    EXPECT_EQ(push({short_digest, chunk(object)}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

    auto huge = header("good", "hello", object);
    huge.mutable_header()->set_total_size(1ull << 40);
    EXPECT_EQ(push({huge}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

    auto bad_action = header("good", "hello", object);
    bad_action.mutable_header()->set_action(static_cast<v1::PushAction>(77));
    EXPECT_EQ(push({bad_action, chunk(object)}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

    // Not an ELF object at all, with a correct digest: the guest refuses it, delosd says why.
    std::string junk(4096, 'j');
    auto not_elf = push({header("good", "hello", junk), chunk(junk)});
    EXPECT_EQ(not_elf.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << not_elf.error_message();
    EXPECT_NE(not_elf.error_message().find("guest good refused"), std::string::npos) << not_elf.error_message();

    // Pushed under another name than the one the object declares.
    auto misnamed = push({header("good", "other", object), chunk(object)});
    EXPECT_EQ(misnamed.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << misnamed.error_message();

    EXPECT_EQ(cells(), cells_before) << "a refused push changed the guest";
    auto history = delosctl(delosd.server(), {"-o", "json", "cells", "--vm", "good", "--history"}).out;
    EXPECT_EQ(history.find("\"action\":\"loaded\""), std::string::npos) << history;

    // And a good push still works afterwards.
    auto good = push({header("good", "hello", object), chunk(object)});
    EXPECT_TRUE(good.ok()) << good.error_message();
}

TEST_F(BadInput, BadRequestsGetClearStatuses)
{
    auto stub = delosd.stub();
    auto call = [&](auto method, const auto& request, auto response) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        return (stub.get()->*method)(&context, request, &response);
    };
    v1::CreateVmRequest create;
    EXPECT_EQ(call(&v1::Controller::Stub::CreateVm, create, v1::Vm()).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    create.mutable_spec()->set_name("x1");
    create.mutable_spec()->set_runner(static_cast<v1::Runner>(99));
    EXPECT_EQ(call(&v1::Controller::Stub::CreateVm, create, v1::Vm()).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    create.mutable_spec()->set_runner(v1::RUNNER_VMM);
    create.mutable_spec()->set_kernel("/no/such/kernel.elf");
    auto no_kernel = call(&v1::Controller::Stub::CreateVm, create, v1::Vm());
    EXPECT_EQ(no_kernel.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(no_kernel.error_message().find("does not exist"), std::string::npos);
    create.mutable_spec()->set_runner(v1::RUNNER_ATTACH);
    create.mutable_spec()->set_control_socket("relative.sock");
    EXPECT_EQ(call(&v1::Controller::Stub::CreateVm, create, v1::Vm()).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

    v1::ListFaultsRequest faults;
    faults.set_page_token("garbage");
    EXPECT_EQ(call(&v1::Controller::Stub::ListFaults, faults, v1::ListFaultsResponse()).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    faults.clear_page_token();
    faults.set_page_size(100000);
    EXPECT_EQ(call(&v1::Controller::Stub::ListFaults, faults, v1::ListFaultsResponse()).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    faults.set_page_size(0);
    faults.mutable_filter()->set_kind(static_cast<v1::FaultKind>(1234));
    EXPECT_EQ(call(&v1::Controller::Stub::ListFaults, faults, v1::ListFaultsResponse()).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    faults.mutable_filter()->set_kind(v1::FAULT_KIND_UNSPECIFIED);
    faults.mutable_filter()->set_vm("nope");
    EXPECT_EQ(call(&v1::Controller::Stub::ListFaults, faults, v1::ListFaultsResponse()).error_code(), grpc::StatusCode::NOT_FOUND);

    v1::CellRequest cell;
    cell.set_vm("good");
    cell.set_cell("");
    EXPECT_EQ(call(&v1::Controller::Stub::LoadCell, cell, v1::CellResponse()).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    cell.set_cell("hello");
    cell.set_vm("nope");
    EXPECT_EQ(call(&v1::Controller::Stub::UnloadCell, cell, v1::CellResponse()).error_code(), grpc::StatusCode::NOT_FOUND);
    cell.set_vm("good");
    auto rollback = call(&v1::Controller::Stub::RollbackCell, cell, v1::CellResponse());
    EXPECT_EQ(rollback.error_code(), grpc::StatusCode::NOT_FOUND) << rollback.error_message();
    EXPECT_NE(rollback.error_message().find("refused"), std::string::npos) << "the guest's reason: " << rollback.error_message();
    auto swap = call(&v1::Controller::Stub::SwapCell, cell, v1::CellResponse());
    EXPECT_EQ(swap.error_code(), grpc::StatusCode::NOT_FOUND) << swap.error_message();

    v1::StopVmRequest stop;
    stop.set_name("nope");
    EXPECT_EQ(call(&v1::Controller::Stub::StopVm, stop, v1::Vm()).error_code(), grpc::StatusCode::NOT_FOUND);
    v1::DeleteVmRequest remove;
    EXPECT_EQ(call(&v1::Controller::Stub::DeleteVm, remove, v1::DeleteVmResponse()).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);

    // Nothing of that created a VM or touched the guest.
    v1::ListVmsResponse vms;
    grpc::ClientContext context;
    ASSERT_TRUE(stub->ListVms(&context, v1::ListVmsRequest(), &vms).ok());
    EXPECT_EQ(vms.vms_size(), 1);
    EXPECT_EQ(cells(), cells_before);
}

TEST_F(BadInput, GuestSendingGarbageOrHangingUpMidPushAffectsOnlyItself)
{
    ScriptedGuest bad(dir / "bad.sock");
    ASSERT_TRUE(attach_running_vm(delosd, "bad", dir / "bad.sock"));

    // Garbage: a frame that is not a GuestMessage, then an absurd length.
    ASSERT_TRUE(bad.send_raw(std::string("\x05\x00\x00\x00\xff\xff\xff\xff\xff", 9)));
    ASSERT_TRUE(eventually([&] { return bad.connections() >= 2; })) << "delosd drops the connection and comes back";
    ASSERT_TRUE(eventually([&] { return vm_state(delosd.server(), "bad") == "VM_STATE_RUNNING"; }));
    ASSERT_TRUE(bad.send_raw(std::string("\xff\xff\xff\x7f", 4)));
    ASSERT_TRUE(eventually([&] { return bad.connections() >= 3; }));
    EXPECT_NE(delosd.log().find("not a GuestMessage"), std::string::npos) << delosd.log();

    // Hanging up in the middle of a push: the push fails with UNAVAILABLE, nothing recorded.
    ASSERT_TRUE(eventually([&] { return vm_state(delosd.server(), "bad") == "VM_STATE_RUNNING"; }));
    bad.set_hang_up_on_push_chunk(true);
    std::string object = read_file(cell_object("hello"));
    auto cut = push({header("bad", "hello", object), chunk(object)});
    EXPECT_EQ(cut.error_code(), grpc::StatusCode::UNAVAILABLE) << cut.error_message();
    EXPECT_NE(cut.error_message().find("lost the guest bad"), std::string::npos) << cut.error_message();
    EXPECT_GE(bad.push_chunks_seen(), 1u);
    auto history = delosctl(delosd.server(), {"-o", "json", "cells", "--vm", "bad", "--history"}).out;
    EXPECT_EQ(history.find("pushed"), std::string::npos) << history;

    // The good guest did not notice.
    auto good = push({header("good", "hello", object), chunk(object)});
    EXPECT_TRUE(good.ok()) << good.error_message();
    EXPECT_EQ(delosctl(delosd.server(), {"health"}).exit_code, 0);
}

} // namespace
} // namespace delos::test
