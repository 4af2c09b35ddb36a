// selftest_cells.S: the test-only cells the in-guest selftest loads itself, embedded in the
// kernel image (stripped of debug information), so the selftest needs no second boot module:
// QEMU's PVH boot passes only one (-initrd), the boot archive.
    .section .rodata.delos_selftest_cells, "a"
    .balign 16
    .global delos_selftest_init_sleeps_start
delos_selftest_init_sleeps_start:
    .incbin DELOS_SELFTEST_INIT_SLEEPS
    .global delos_selftest_init_sleeps_end
delos_selftest_init_sleeps_end:
    .balign 16
    .global delos_selftest_init_faults_start
delos_selftest_init_faults_start:
    .incbin DELOS_SELFTEST_INIT_FAULTS
    .global delos_selftest_init_faults_end
delos_selftest_init_faults_end:
    .balign 16
    .global delos_selftest_runaway_start
delos_selftest_runaway_start:
    .incbin DELOS_SELFTEST_RUNAWAY
    .global delos_selftest_runaway_end
delos_selftest_runaway_end:
    .section .note.GNU-stack, "", @progbits
