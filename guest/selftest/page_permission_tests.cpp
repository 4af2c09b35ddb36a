// page_permission_tests.cpp: the MMU enforces W^X on the linear map: writes to code and
// read-only data fault, jumps into data fault, the null page and the nano_core are unmapped.
#include "debug/fault_probe.h"
#include "memory/frame_allocator.h"
#include "memory/page_table.h"
#include "selftest/selftest.h"

namespace delos::selftest {

namespace {

using namespace memory;

constexpr std::uint64_t kPageFault = 14;
constexpr std::uint64_t kErrorPresent = 1, kErrorWrite = 2, kErrorInstructionFetch = 16;

const std::uint64_t kReadOnlyDatum = 0x1234;
std::uint8_t g_writable_datum[64] = {0xc3};  // `ret`: harmless if a jump into data ever succeeded

void write_byte(void* address) { *static_cast<volatile std::uint8_t*>(address) = 0x90; }
void read_byte(void* address) { (void)*static_cast<volatile std::uint8_t*>(address); }
void call_address(void* address) { reinterpret_cast<void (*)()>(address)(); }

ErrorOr<void> expect_page_fault(void (*probe)(void*), void* address, std::uint64_t required_error_bits)
{
    FaultRecord record{};
    bool faulted = run_expecting_fault(probe, address, record);
    SELFTEST_CHECK(faulted);
    SELFTEST_CHECK(record.vector == kPageFault);
    SELFTEST_CHECK((record.error_code & required_error_bits) == required_error_bits);
    SELFTEST_CHECK(record.fault_address == reinterpret_cast<std::uint64_t>(address));
    return {};
}

ErrorOr<void> write_to_text_faults()
{
    void* code = reinterpret_cast<void*>(&write_byte);
    SELFTEST_CHECK(kernel_page_table().access_of(reinterpret_cast<std::uint64_t>(code)) == Access::ReadExecute);
    return expect_page_fault(write_byte, code, kErrorPresent | kErrorWrite);
}

ErrorOr<void> write_to_rodata_faults()
{
    void* datum = const_cast<std::uint64_t*>(&kReadOnlyDatum);
    SELFTEST_CHECK(kernel_page_table().access_of(reinterpret_cast<std::uint64_t>(datum)) == Access::Read);
    return expect_page_fault(write_byte, datum, kErrorPresent | kErrorWrite);
}

ErrorOr<void> jump_into_data_faults()
{
    SELFTEST_CHECK(kernel_page_table().access_of(reinterpret_cast<std::uint64_t>(g_writable_datum)) == Access::ReadWrite);
    return expect_page_fault(call_address, g_writable_datum, kErrorPresent | kErrorInstructionFetch);
}

ErrorOr<void> jump_into_heap_faults()
{
    auto* block = new std::uint8_t[64];
    block[0] = 0xc3;
    auto result = expect_page_fault(call_address, block, kErrorPresent | kErrorInstructionFetch);
    delete[] block;
    return result;
}

ErrorOr<void> null_page_is_unmapped()
{
    SELFTEST_CHECK(kernel_page_table().access_of(0) == Access::None);
    return expect_page_fault(read_byte, reinterpret_cast<void*>(8), 0);
}

ErrorOr<void> nano_core_is_reclaimed()
{
    auto layout = kernel_layout();
    SELFTEST_CHECK(kernel_page_table().access_of(layout.nano_core_text_start) == Access::None);
    return expect_page_fault(call_address, reinterpret_cast<void*>(layout.nano_core_text_start), 0);
}

ErrorOr<void> sections_have_their_rights()
{
    auto layout = kernel_layout();
    SELFTEST_CHECK(kernel_page_table().access_of(layout.text_start) == Access::ReadExecute);
    SELFTEST_CHECK(kernel_page_table().access_of(layout.rodata_start) == Access::Read);
    SELFTEST_CHECK(kernel_page_table().access_of(layout.data_start) == Access::ReadWrite);
    SELFTEST_CHECK(kernel_page_table().access_of(layout.data_end - 1) == Access::ReadWrite);
    return {};
}

ErrorOr<void> permissions_change_at_run_time()
{
    auto frame = SELFTEST_TRY(frame_allocator().allocate(1));
    void* page = reinterpret_cast<void*>(frame.start);
    SELFTEST_TRY(kernel_page_table().set_access(frame.start, kPageSize, Access::ReadWrite));
    write_byte(page);
    SELFTEST_TRY(kernel_page_table().set_access(frame.start, kPageSize, Access::Read));
    auto result = expect_page_fault(write_byte, page, kErrorPresent | kErrorWrite);
    SELFTEST_TRY(kernel_page_table().set_access(frame.start, kPageSize, Access::None));
    frame_allocator().free(frame);
    return result;
}

} // namespace

extern const TestCase kPagePermissionTests[] = {
    {"pages", "sections_have_their_rights", sections_have_their_rights},
    {"pages", "write_to_text_faults", write_to_text_faults},
    {"pages", "write_to_rodata_faults", write_to_rodata_faults},
    {"pages", "jump_into_data_faults", jump_into_data_faults},
    {"pages", "jump_into_heap_faults", jump_into_heap_faults},
    {"pages", "null_page_is_unmapped", null_page_is_unmapped},
    {"pages", "nano_core_is_reclaimed", nano_core_is_reclaimed},
    {"pages", "permissions_change_at_run_time", permissions_change_at_run_time},
};
extern const std::size_t kPagePermissionTestCount = sizeof kPagePermissionTests / sizeof kPagePermissionTests[0];

} // namespace delos::selftest
