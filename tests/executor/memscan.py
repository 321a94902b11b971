#!/usr/bin/env python3
"""memscan.py NEEDLE_FILE PID...: search the whole readable memory of each
process for each needle (one per line of NEEDLE_FILE); print one line per
hit as "PID NEEDLE ADDRESS" and exit 1 if there was any hit, 0 otherwise.
Run as root: it reads the memory of processes of any owner."""
import re
import sys


def regions(pid):
    with open("/proc/%d/maps" % pid) as maps:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if fields[1][0] == "r" and not line.rstrip().endswith("[vvar]"):
                yield start, end


def main():
    with open(sys.argv[1], "rb") as f:
        needles = [n for n in f.read().split(b"\n") if n]
    hits = 0
    for pid in map(int, sys.argv[2:]):
        try:
            mem = open("/proc/%d/mem" % pid, "rb", buffering=0)
            spans = list(regions(pid))
        except OSError as exc:
            print("%d cannot be read: %s" % (pid, exc))
            hits += 1
            continue
        with mem:
            for start, end in spans:
                try:
                    mem.seek(start)
                    data = mem.read(end - start)
                except (OSError, ValueError, OverflowError):
                    continue
                for needle in needles:
                    for m in re.finditer(re.escape(needle), data):
                        print("%d %s %#x" % (pid, needle.decode(), start + m.start()))
                        hits += 1
    sys.exit(1 if hits else 0)


main()
