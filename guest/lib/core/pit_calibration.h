// pit_calibration.h: measuring the TSC's frequency against the PIT (1.193182 MHz), robust to the
// vCPU being paused by a busy host at any instruction: the CPU parts (program the PIT, read the
// TSC around a latched PIT count) are passed in, so the host tests it with a simulated machine.
//
// Under an emulator on a busy host a pause of tens of ms can fall between a TSC read and the PIT
// latch it is paired with; a measurement that ended on such a sample came out far too low (one in
// two boots at load ~7 on the development machine: 22 to 1064 MHz for a 2095 MHz TSC), so every
// guest time ran that much fast (a 10 s rollback window closed within ~0.1 s). Here each PIT read
// is bracketed by two TSC reads and only a narrow sample ends a measurement; a pause long enough to
// wrap the 16-bit counter back below its start unseen spoils one measurement, which never completes
// the three agreeing measurements that end the calibration (or the median of five drops it).
#pragma once

#include <cstdint>

namespace delos::pit_calibration {

inline constexpr std::uint32_t kPitHz = 1193182;
inline constexpr std::uint32_t kWantedTicks = 11932;  // 10 ms of the PIT
inline constexpr std::uint64_t kGiveUpTscTicks = 1ull << 31;
inline constexpr int kMeasurements = 5;

// One PIT read bracketed by two TSC reads.
struct PitSample {
    std::uint16_t count = 0;  // channel 0 counting down from 0xffff (mode 0)
    std::uint64_t tsc_before = 0, tsc_after = 0;
    std::uint64_t width() const { return tsc_after - tsc_before; }
    std::uint64_t tsc() const { return tsc_before + width() / 2; }
};

inline bool narrow(const PitSample& sample, std::uint64_t narrowest) { return sample.width() <= 2 * narrowest + 256; }

// One measurement: `start()` programs channel 0 to count down from 0xffff, `sample()` returns a
// PitSample. Returns TSC ticks per second, or 0 if it cannot be trusted (`no_pit`: the counter
// never moved).
template <typename Start, typename Sample>
std::uint64_t measure(Start start, Sample sample, bool& no_pit)
{
    no_pit = false;
    start();
    std::uint64_t narrowest = ~std::uint64_t(0);
    for (int i = 0; i < 4; ++i) {
        PitSample probe = sample();
        if (probe.width() < narrowest)
            narrowest = probe.width();
    }
    PitSample first = sample();
    for (int tries = 0; !narrow(first, narrowest) && tries < 16; ++tries)
        first = sample();
    for (;;) {
        PitSample now = sample();
        if (now.tsc_after - first.tsc_before > kGiveUpTscTicks) {
            no_pit = now.count == first.count;  // a machine without a PIT reads 0xffff forever
            return 0;
        }
        if (now.count > first.count)
            return 0;  // wrapped (a pause of ~55 ms): this measurement is spoilt
        std::uint32_t elapsed = static_cast<std::uint32_t>(first.count - now.count);
        if (elapsed < kWantedTicks || !narrow(now, narrowest))
            continue;  // not long enough, or paused inside this read: the next sample decides
        return (now.tsc() - first.tsc()) * kPitHz / elapsed;
    }
}

// Sorts the first `count` values (insertion sort: at most kMeasurements of them).
inline void sort_measurements(std::uint64_t* values, int count)
{
    for (int i = 1; i < count; ++i) {
        for (int j = i; j > 0 && values[j - 1] > values[j]; --j) {
            std::uint64_t moved = values[j];
            values[j] = values[j - 1];
            values[j - 1] = moved;
        }
    }
}

// Up to kMeasurements measurements: as soon as three trusted ones agree within 1 % their middle
// one is the answer (an undisturbed boot pays 30 ms of PIT, not 50); otherwise the median of all
// (0: no PIT, or none could be trusted). A spoilt measurement is far off, so it never completes
// an agreeing three.
template <typename Start, typename Sample>
std::uint64_t calibrate(Start start, Sample sample)
{
    std::uint64_t found[kMeasurements];
    int count = 0;
    for (int i = 0; i < kMeasurements; ++i) {
        bool no_pit = false;
        std::uint64_t hz = measure(start, sample, no_pit);
        if (no_pit)
            return 0;  // do not wait four more times
        if (hz == 0)
            continue;
        found[count++] = hz;
        sort_measurements(found, count);
        for (int at = 0; at + 2 < count; ++at) {
            if (found[at + 2] - found[at] <= found[at + 1] / 100)
                return found[at + 1];
        }
    }
    return count == 0 ? 0 : found[count / 2];
}

} // namespace delos::pit_calibration
