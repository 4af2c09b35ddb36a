// command_line_test.cpp: the guest command line splits into a command, arguments and options.
#include <gtest/gtest.h>

#include "lib/core/command_line.h"

using namespace delos;

TEST(CommandLine, CommandArgumentsAndOptions)
{
    CommandLine line("  virtio_mmio.device=4K@0xd0000000:5 selftest frames  virtio_mmio.device=4K@0xd0001000:6 ");
    EXPECT_TRUE(line.command() == StringView("selftest"));
    EXPECT_TRUE(line.argument(0) == StringView("frames"));
    EXPECT_TRUE(line.argument(1).empty());
    StringView value;
    ASSERT_TRUE(line.option("virtio_mmio.device", value));
    EXPECT_TRUE(value == StringView("4K@0xd0000000:5"));
    ASSERT_TRUE(line.option("virtio_mmio.device", value, 1));
    EXPECT_TRUE(value == StringView("4K@0xd0001000:6"));
    EXPECT_FALSE(line.option("virtio_mmio.device", value, 2));
    EXPECT_FALSE(line.option("missing", value));
    EXPECT_TRUE(CommandLine("").command().empty());
}
