// faulty_body.h: the body of both versions of the faulty cell (FAULTY_VERSION and
// FAULTY_SERVE_ALWAYS_FAULTS set by each version's .cpp): faults on demand, fresh-copy state,
// and a service task started from init.
#include "faulty/faulty.h"
#include "linker/cell_info.h"

extern "C" int delos_cell_service_start(const char* name, void (*entry)());
extern "C" bool delos_cell_service_pause(std::uint64_t nanoseconds);

namespace delos::faulty {

namespace {

volatile std::uint64_t g_null_address = 0;  // read at run time: the compiler cannot see the null
volatile int g_zero = 0;
volatile int g_quotient = 0;  // a divide whose result is stored cannot be left out
std::uint64_t g_calls = 0;                     // .bss
std::uint64_t g_marker = kInitialMarker;       // .data
std::uint64_t g_beats = 0;
volatile int g_service_fault = kNoFault;
// Data, on a no-execute page: a call here is a wild jump (it would be `ret` if it ran).
unsigned char g_not_code[16] = {0xc3, 0xc3, 0xc3, 0xc3};

int g_live_guards = 0;
struct Guard {
    Guard() { ++g_live_guards; }
    ~Guard() { --g_live_guards; }
};

// ud2 in a leaf with unwind information, returning as if it had not trapped: GCC's
// __builtin_trap() is noreturn, which leaves the caller's call without a call-site entry.
extern "C" void faulty_invalid_opcode();
asm(R"(
    .section .text.faulty_invalid_opcode, "ax"
    .type faulty_invalid_opcode, @function
faulty_invalid_opcode:
    .cfi_startproc
    ud2
    ret
    .cfi_endproc
    .size faulty_invalid_opcode, . - faulty_invalid_opcode
    .text
)");

// Returns past its caller, as a corrupted `ret` sequence does (a `pop` that took the return
// address, then `ret` to the word above it): for recovery's test of a call through the kernel's
// call gate that never returns to the gate (selftest recovery.a_wild_return_or_jump_in_a_gate_call_*).
extern "C" void faulty_return_past_its_caller();
// Jumps to an address that is no code (a corrupted jump): no return address of the cell is left.
extern "C" void faulty_jump_to_no_code();
// Moves its stack pointer 2312 bytes down over zeroed words, then jumps to 0x18 (no code): no
// return address lies within the unwinder's reach from there.
extern "C" void faulty_lose_the_way_back();
// Masks interrupts, moves its stack pointer as above, and traps (ud2) in its own code.
extern "C" void faulty_mask_and_lose_the_way_back();
// Leaves ring 0 through an iretq to ring 3 (GDT selectors 0x33/0x2b) at 0x18, no code, with
// `flags` (IF or not) in RFLAGS: what a corrupted iret does.
extern "C" void faulty_leave_ring_zero(std::uint64_t flags);
asm(R"(
    .section .text.faulty_return_past_its_caller, "ax"
    .global faulty_return_past_its_caller
    .type faulty_return_past_its_caller, @function
faulty_return_past_its_caller:
    .cfi_startproc
    popq %rax
    ret
    .cfi_endproc
    .size faulty_return_past_its_caller, . - faulty_return_past_its_caller

    .section .text.faulty_jump_to_no_code, "ax"
    .global faulty_jump_to_no_code
    .type faulty_jump_to_no_code, @function
faulty_jump_to_no_code:
    .cfi_startproc
    movl $0x18, %eax
    jmp *%rax
    .cfi_endproc
    .size faulty_jump_to_no_code, . - faulty_jump_to_no_code

    .section .text.faulty_lose_the_way_back, "ax"
    .global faulty_lose_the_way_back
    .type faulty_lose_the_way_back, @function
faulty_lose_the_way_back:
    .cfi_startproc
    leaq -2312(%rsp), %rdi
    movl $289, %ecx
    xorl %eax, %eax
    cld
    rep stosq
    subq $2312, %rsp
    movl $0x18, %eax
    jmp *%rax
    .cfi_endproc
    .size faulty_lose_the_way_back, . - faulty_lose_the_way_back

    .section .text.faulty_mask_and_lose_the_way_back, "ax"
    .global faulty_mask_and_lose_the_way_back
    .type faulty_mask_and_lose_the_way_back, @function
faulty_mask_and_lose_the_way_back:
    .cfi_startproc
    cli
    leaq -2312(%rsp), %rdi
    movl $289, %ecx
    xorl %eax, %eax
    cld
    rep stosq
    subq $2312, %rsp
    ud2
    .cfi_endproc
    .size faulty_mask_and_lose_the_way_back, . - faulty_mask_and_lose_the_way_back

    .section .text.faulty_leave_ring_zero, "ax"
    .global faulty_leave_ring_zero
    .type faulty_leave_ring_zero, @function
faulty_leave_ring_zero:
    .cfi_startproc
    movq %rsp, %rax
    orq $2, %rdi
    pushq $0x2b
    pushq %rax
    pushq %rdi
    pushq $0x33
    pushq $0x18
    iretq
    .cfi_endproc
    .size faulty_leave_ring_zero, . - faulty_leave_ring_zero
    .text
)");

[[gnu::noinline]] std::uint64_t fault(int how)
{
    Guard held;  // a live local in the faulting frame: its landing pad runs on the unwind
    switch (how) {
    case kNullWrite: *reinterpret_cast<volatile std::uint64_t*>(g_null_address) = 1; break;
    case kWildJump: reinterpret_cast<void (*)()>(reinterpret_cast<std::uint64_t>(&g_not_code[0]) + g_zero)(); break;
    case kInvalidOpcode: faulty_invalid_opcode(); break;
    case kDivideByZero: g_quotient = 7 / g_zero; break;
    default: break;
    }
    return 0;
}

void beat()
{
    do {
        ++g_beats;
        int how = g_service_fault;
        if (how != kNoFault) {
            g_service_fault = kNoFault;
            (void)fault(how);
        }
    } while (!delos_cell_service_pause(1'000'000));
}

ErrorOr<void> faulty_init()
{
    if (delos_cell_service_start("faulty-beat", beat) != 0)
        return Error::make(ErrorCode::Internal, "faulty: its service task could not start");
    return {};
}

} // namespace

std::uint64_t serve(int how)
{
    if (FAULTY_SERVE_ALWAYS_FAULTS && how == kNoFault)
        how = kNullWrite;  // the broken version
    if (how != kNoFault)
        (void)fault(how);
    return ++g_calls;
}

std::uint64_t marker() { return g_marker; }
void set_marker(std::uint64_t value) { g_marker = value; }
std::uint64_t service_beats() { return g_beats; }
void fault_service(int how) { g_service_fault = how; }
int version_number() { return FAULTY_VERSION_NUMBER; }

} // namespace delos::faulty

DELOS_CELL("faulty", FAULTY_VERSION, delos::faulty::faulty_init, nullptr);
