# Compile flags for freestanding guest code (kernel and cells).
#  - no libc, no red zone (interrupts push onto the same stack in ring 0),
#  - general registers only, so interrupts and context switches need not save FPU/SSE state,
#  - small code model: the kernel and every cell live in the identity-mapped low 2 GiB,
#  - exceptions ON with non-call exceptions: we never throw, but the unwind tables and cleanup
#    landing pads let fault recovery unwind a faulting task and run its destructors, including
#    those of the frame that faulted (see docs/unwinding.md),
#  - frame pointers for cheap, reliable backtraces,
#  - one section per function and datum, which the cell loader relies on,
#  - split-stack prologues: every function checks its frame against the task's stack limit
#    (%fs:0x70) and calls __morestack, which makes a stack overflow a contained fault
#    (arch/x86_64/stack_limit.h, docs/watchdog-and-stack-overflow.md).
set(DELOS_GUEST_CXX_FLAGS
  -ffreestanding -fno-rtti -fexceptions -fnon-call-exceptions -fasynchronous-unwind-tables
  -fno-threadsafe-statics -fno-use-cxa-atexit
  -mno-red-zone -mgeneral-regs-only -mcmodel=small -fno-pic -fno-pie -fno-plt
  -fno-stack-protector -fcf-protection=none -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer
  -ffunction-sections -fdata-sections -fsplit-stack
  -fno-delete-null-pointer-checks -fno-builtin-malloc -fno-builtin-free
  -Wall -Wextra -Wno-unused-parameter
)
string(REPLACE ";" " " DELOS_GUEST_CXX_FLAGS_STRING "${DELOS_GUEST_CXX_FLAGS}")

# Applies the guest flags to a target built from guest sources.
function(delos_guest_target target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${DELOS_GUEST_CXX_FLAGS}>
    $<$<COMPILE_LANGUAGE:ASM>:-fno-pic -fno-pie>)
  target_include_directories(${target} PRIVATE ${CMAKE_SOURCE_DIR}/guest)
endfunction()
