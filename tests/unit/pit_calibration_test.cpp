// pit_calibration_test.cpp: the TSC calibration against the PIT (guest/lib/core/pit_calibration.h)
// on a simulated machine whose vCPU the "host" pauses where a test says: inside the read that
// would end a measurement (the pause that made calibrations under a busy TCG host come out 2-95x
// low), and long enough to wrap the PIT's counter. The TSC runs at 2.095 GHz throughout.
#include "lib/core/pit_calibration.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>

namespace {

using delos::pit_calibration::PitSample;

constexpr std::uint64_t kTscHz = 2'095'000'000;
constexpr std::uint64_t kPitHz = 1'193'182;

// Time in ns; each TSC read or PIT latch takes 2 us of it (a port read under TCG).
struct SimulatedMachine {
    std::uint64_t now_ns = 1'000'000'000;
    std::uint64_t pit_started_ns = 0;
    std::uint64_t samples = 0;
    int measurements = 0;  // start() calls
    // Called with the sample's number, between its first TSC read and the PIT latch: returns how
    // long the host pauses the vCPU there (ns).
    std::function<std::uint64_t(std::uint64_t)> pause_inside_read = [](std::uint64_t) { return 0; };
    // Called before each sample: a pause between two samples (ns).
    std::function<std::uint64_t(std::uint64_t)> pause_between = [](std::uint64_t) { return 0; };
    bool pit_present = true;

    std::uint64_t tsc() const { return static_cast<std::uint64_t>((static_cast<unsigned __int128>(now_ns) * kTscHz) / 1'000'000'000u); }
    std::uint16_t pit() const
    {
        if (!pit_present)
            return 0xffff;
        std::uint64_t ticks = (now_ns - pit_started_ns) * kPitHz / 1'000'000'000u;
        return static_cast<std::uint16_t>(0xffff - (ticks % 0x10000));
    }
    void start()
    {
        pit_started_ns = now_ns;
        ++measurements;
    }
    PitSample sample()
    {
        std::uint64_t number = samples++;
        now_ns += pause_between(number);
        PitSample taken;
        taken.tsc_before = tsc();
        now_ns += 2'000 + pause_inside_read(number);
        taken.count = pit();
        now_ns += 2'000;
        taken.tsc_after = tsc();
        return taken;
    }
    std::uint64_t calibrate()
    {
        return delos::pit_calibration::calibrate([this] { start(); }, [this] { return sample(); });
    }
};

// Within 0.5% of the true 2.095 GHz.
void expect_right(std::uint64_t hz)
{
    EXPECT_GT(hz, kTscHz - kTscHz / 200) << hz;
    EXPECT_LT(hz, kTscHz + kTscHz / 200) << hz;
}

// Three agreeing measurements end it: 30 ms of boot, not the 50 of five.
TEST(PitCalibration, AnUndisturbedMachineMeasuresItsTscInThreeMeasurements)
{
    SimulatedMachine machine;
    expect_right(machine.calibrate());
    EXPECT_EQ(machine.measurements, 3);
}

// The host pauses the vCPU for 30 ms inside one read in every 300 (~every 1.2 ms of guest time,
// so every measurement has one right where its 10 ms end): such a read ended the measurement
// before, with the PIT 30 ms on and the TSC not, i.e. far too low a frequency.
TEST(PitCalibration, APauseInsideAReadDoesNotEndAMeasurement)
{
    SimulatedMachine machine;
    machine.pause_inside_read = [](std::uint64_t sample) -> std::uint64_t { return sample % 300 == 299 ? 30'000'000 : 0; };
    expect_right(machine.calibrate());
}

// Pauses between reads are harmless (both clocks run on), unless one wraps the 16-bit counter
// past its start unseen: that one measurement is spoilt, and the median of five drops it.
TEST(PitCalibration, PausesBetweenReadsAndAWrapOfTheCounterAreSurvived)
{
    SimulatedMachine machine;
    machine.pause_between = [](std::uint64_t sample) -> std::uint64_t {
        if (sample == 10)
            return 60'000'000;  // in the first measurement: a counter period (55 ms) and then some, unseen
        return sample % 97 == 50 ? 7'000'000 : 0;
    };
    expect_right(machine.calibrate());
    EXPECT_GT(machine.measurements, 3) << "the spoilt measurement cannot be one of three that agree";
}

TEST(PitCalibration, AMachineWithoutAPitGivesUp)
{
    SimulatedMachine machine;
    machine.pit_present = false;
    EXPECT_EQ(machine.calibrate(), 0u);
    EXPECT_LT(machine.samples, 300'000u);  // one measurement's worth, not five
}

} // namespace
