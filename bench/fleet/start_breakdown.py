#!/usr/bin/env python3
# start_breakdown.py: where one guest start's time, CPU and memory go under QEMU (docs/fleet.md,
# "Where a start's time and memory go"). Starts one Delos guest with delosd's QEMU-runner argv and
# prints when QEMU's socket appears (its own start done), the serial's first byte and "delos: ready",
# the CPU used at each, and the idle guest's smaps grouped by mapping.
# Usage: bench/fleet/start_breakdown.py KERNEL CELLS_A [extra QEMU args]   (env: MEM=32, ACCEL=tcg[,tb-size=N], SETTLE=2)
import subprocess, time, os, sys, re, tempfile, shutil
kernel, cells = sys.argv[1], sys.argv[2]
extra = sys.argv[3:]
d = tempfile.mkdtemp(prefix="delos-start-")
mem = os.environ.get("MEM", "32")
argv = ["qemu-system-x86_64", "-accel", os.environ.get("ACCEL", "tcg"), "-M", "microvm,acpi=off", "-m", mem + "M",
        "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel,
        "-append", "run", "-initrd", cells, "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
        "-serial", "file:%s/serial.log" % d, "-monitor", "none", "-global", "virtio-mmio.force-legacy=false",
        "-chardev", "socket,id=c,path=%s/c.sock,server=on,wait=off" % d, "-device", "virtio-serial-device",
        "-device", "virtserialport,chardev=c,name=org.delos.control.0"] + extra
t0 = time.monotonic()
p = subprocess.Popen(argv)
first = sock = ready = None
tick = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open("/proc/%d/stat" % p.pid).read().split(")")[1].split()
    return (int(f[11]) + int(f[12])) / tick
cpu_sock = None
while time.monotonic() - t0 < 60:
    now = time.monotonic() - t0
    if sock is None and os.path.exists(d + "/c.sock"): sock = now; cpu_sock = cpu()
    s = open(d + "/serial.log", errors="replace").read() if os.path.exists(d + "/serial.log") else ""
    if first is None and s: first = now
    if "delos: ready" in s: ready = now; break
    time.sleep(0.002)
cpu_ready = cpu()
time.sleep(float(os.environ.get("SETTLE", "2")))
cpu_idle = cpu()
sm = open("/proc/%d/smaps" % p.pid).read()
# group by mapping
groups = {}
cur = None
for line in sm.splitlines():
    if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
        parts = line.split()
        lo, hi = [int(x, 16) for x in parts[0].split("-")]
        name = parts[5] if len(parts) > 5 else "[anon %d MiB]" % ((hi - lo) >> 20)
        cur = name
        groups.setdefault(cur, {"Rss": 0, "Pss": 0, "Anonymous": 0, "Private_Dirty": 0})
    else:
        k = line.split(":")[0]
        if cur and k in groups[cur]:
            groups[cur][k] += int(line.split()[1])
tot = {k: sum(g[k] for g in groups.values()) for k in ["Rss", "Pss", "Anonymous"]}
m = re.search(r"boot (\d+) us", s)
print("argv extra:", " ".join(extra) or "-", "mem", mem)
print("times s: socket %.3f first-serial %.3f ready %.3f  guest-says-boot %s us" % (sock or -1, first or -1, ready or -1, m.group(1) if m else "?"))
print("cpu s: at socket %.3f at ready %.3f after %ss idle %.3f" % (cpu_sock or -1, cpu_ready, os.environ.get("SETTLE", "2"), cpu_idle))
print("total KiB: Rss %d Pss %d Anon %d" % (tot["Rss"], tot["Pss"], tot["Anonymous"]))
for name, g in sorted(groups.items(), key=lambda x: -x[1]["Pss"])[:12]:
    print("  %-60s Rss %6d Pss %6d Anon %6d" % (name[-60:], g["Rss"], g["Pss"], g["Anonymous"]))
if os.environ.get("HOLD"): time.sleep(float(os.environ["HOLD"]))
p.kill(); p.wait()
shutil.rmtree(d, ignore_errors=True)
