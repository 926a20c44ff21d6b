#!/usr/bin/env python3
"""Runs a command and reports its wall time and the peak of the summed resident memory of it and
every process it starts (Flower's simulation engine runs Ray workers beside the driver, so one
process's peak would undercount it). Samples /proc every 0.2 s; prints one line to stderr and
exits with the command's status.

    python3 Scripts/peak_memory.py -- COMMAND [ARGS...]
"""
import os
import subprocess
import sys
import time


def tree_rss_kb(root):
    children = {}
    rss = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss[int(pid)] = int(line.split()[1])
                        break
        except (OSError, ValueError, IndexError):
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
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit("usage: peak_memory.py -- COMMAND [ARGS...]")
    start = time.monotonic()
    child = subprocess.Popen(args)
    peak = 0
    while child.poll() is None:
        peak = max(peak, tree_rss_kb(child.pid))
        time.sleep(0.2)
    wall = time.monotonic() - start
    print(f"wall {wall:.1f} s, peak memory {peak / 1024:.0f} MB (all processes)", file=sys.stderr)
    sys.exit(child.returncode)


if __name__ == "__main__":
    main()
