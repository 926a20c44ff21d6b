#!/usr/bin/env python3
"""Runs a command and reports its wall time and the peak of the summed resident memory of it and
every process it starts (Flower's simulation engine runs Ray workers beside the driver, so one
process's peak would undercount it). Samples /proc every 0.2 s; prints one line to stderr and
exits with the command's status.

With --pss it sums each process's proportional set size instead (/proc/PID/smaps_rollup: a page
shared by k processes counts 1/k in each), so pages the processes share — a memory-mapped data
file, shared libraries — count once: the physical memory the whole tree holds.

    python3 Scripts/peak_memory.py [--pss] -- COMMAND [ARGS...]
"""
import os
import subprocess
import sys
import time


def memory_kb(pid, pss):
    """VmRSS, or with `pss` the Pss line of smaps_rollup, in kB (KeyError when unreadable)."""
    path, key = (f"/proc/{pid}/smaps_rollup", "Pss:") if pss else (f"/proc/{pid}/status", "VmRSS:")
    with open(path) as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    raise KeyError(key)


def tree_rss_kb(root, pss=False):
    children = {}
    rss = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            rss[int(pid)] = memory_kb(pid, pss)
        except (OSError, ValueError, IndexError, KeyError):
            continue
        children.setdefault(parent, []).append(int(pid))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def main():
    args = sys.argv[1:]
    pss = args[:1] == ["--pss"]
    if pss:
        args = args[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit("usage: peak_memory.py [--pss] -- COMMAND [ARGS...]")
    start = time.monotonic()
    child = subprocess.Popen(args)
    peak = 0
    while child.poll() is None:
        peak = max(peak, tree_rss_kb(child.pid, pss))
        time.sleep(0.2)
    wall = time.monotonic() - start
    kind = "proportional set size" if pss else "resident memory"
    print(f"wall {wall:.1f} s, peak memory {peak / 1024:.0f} MB (all processes, {kind})", file=sys.stderr)
    sys.exit(child.returncode)


if __name__ == "__main__":
    main()
