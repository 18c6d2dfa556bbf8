#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks the exit report of lepus-dataplane-alloccount (dataplane/alloc_count.h)
in a dataplane log, for test_worker_alloc.sh.

  alloc_report.py LOG WORKERS

Passes (exit 0) when the log has the line
  worker allocations after start-up: lcore A: 0, lcore B: 0
with exactly WORKERS lcores, every count 0, and the broker summary shows every
worker did broker work (published or delivered), so that no zero comes from an
idle worker. Otherwise prints what failed and every recorded allocation site,
symbolized with addr2line (function at file:line, inlined frames included),
most frequent first, and exits 1.
"""
import collections
import os
import re
import subprocess
import sys

COUNTS = re.compile(r"^worker allocations after start-up:(.*)$")
SITE = re.compile(r"^worker allocation site: lcore (\d+): (\d+) x (\(.*\)|\S+)(?: at (.*))?$")
FRAME = re.compile(r"(\S+) \[([^\]]+)\+0x([0-9a-f]+)\]")
TOP = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BROKER = re.compile(r"^broker worker (\d+): published (\d+), .* delivered (\d+),")


def relative(where):
    """'fn at /top/build/../dataplane/x.c:12' -> 'fn at dataplane/x.c:12'."""
    fn, sep, path = where.partition(" at ")
    if not sep or not path.startswith("/"):
        return where
    return fn + sep + os.path.relpath(os.path.normpath(path), TOP)


def symbolize(frames):
    """{(module, offset): 'function at file:line'} by one addr2line per module."""
    by_mod = collections.defaultdict(list)
    for mod, off in frames:
        by_mod[mod].append(off)
    names = {}
    for mod, offs in by_mod.items():
        offs = sorted(set(offs))
        try:
            out = subprocess.run(["addr2line", "-f", "-i", "-p", "-C", "-e", mod] +
                                 ["0x%x" % o for o in offs], capture_output=True, text=True,
                                 timeout=60).stdout.splitlines()
        except (OSError, subprocess.SubprocessError):
            out = []
        # -i adds lines " (inlined by) ..." after the one for each address.
        groups, cur = [], None
        for line in out:
            if line.startswith(" (inlined by)") and cur is not None:
                cur.append(line.strip()[len("(inlined by) "):])
            else:
                cur = [line.strip()]
                groups.append(cur)
        for off, g in zip(offs, groups):
            if g and not g[0].startswith("??"):
                names[(mod, off)] = " <inlined in> ".join(relative(x) for x in g)
    return names


def main():
    log, workers = sys.argv[1], int(sys.argv[2])
    counts, sites, busy = None, [], {}
    for line in open(log, errors="replace"):
        line = line.rstrip("\n")
        m = COUNTS.match(line)
        if m:
            counts = {int(a): int(b) for a, b in re.findall(r"lcore (\d+): (\d+)", m.group(1))}
            continue
        m = SITE.match(line)
        if m:
            frames = [(sym, mod, int(off, 16)) for sym, mod, off in FRAME.findall(m.group(4) or "")]
            sites.append((int(m.group(1)), int(m.group(2)), m.group(3), frames))
            continue
        m = BROKER.match(line)
        if m:
            busy[int(m.group(1))] = int(m.group(2)) + int(m.group(3))

    bad = []
    if counts is None:
        bad.append("no 'worker allocations after start-up' line in the dataplane log")
        counts = {}
    elif len(counts) != workers:
        bad.append("%d worker lcore(s) armed counting, not %d" % (len(counts), workers))
    if len(busy) != workers or not all(v > 0 for v in busy.values()):
        bad.append("not every worker did broker work (published + delivered per worker: %s)"
                   % dict(sorted(busy.items())))
    for lcore, n in sorted(counts.items()):
        if n != 0:
            bad.append("lcore %d: %d allocation(s) after start-up" % (lcore, n))

    print("worker allocations after start-up: " +
          (", ".join("lcore %d: %d" % kv for kv in sorted(counts.items())) or "none"))
    if sites:
        names = symbolize([(mod, off) for s in sites for _, mod, off in s[3]])
        # The same site on both workers: one entry, counts per lcore.
        merged = collections.OrderedDict()
        for lcore, n, fn, frames in sorted(sites, key=lambda s: -s[1]):
            text = []
            for sym, mod, off in frames:
                where = names.get((mod, off))
                text.append(where if where else "%s [%s+0x%x]" % (sym, mod.rsplit("/", 1)[-1], off))
                if text[-1].startswith("lp_worker_poll"):
                    break  # the rest is the worker loop and the EAL thread
            key = (fn, tuple(text))
            per = merged.setdefault(key, {})
            per[lcore] = per.get(lcore, 0) + n
        print("allocation sites, most frequent first (the call, then its callers):")
        for (fn, text), per in sorted(merged.items(), key=lambda kv: -sum(kv[1].values())):
            print("  %d x %s (%s) in %s" % (
                sum(per.values()), fn, ", ".join("lcore %d: %d" % kv for kv in sorted(per.items())),
                text[0] if text else "?"))
            if len(text) > 1:
                print("      <- " + " <- ".join(text[1:]))
    for b in bad:
        print("CHECK FAILED: " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
