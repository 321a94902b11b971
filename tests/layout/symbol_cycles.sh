#!/usr/bin/env bash
# tests/layout/symbol_cycles.sh: do the object files of one program depend on
# each other in a circle?  STYLE.md asks that no two files do.
#
#   tests/layout/symbol_cycles.sh NAME a.o b.o ...
#
# File A depends on file B when A leaves a symbol undefined that B defines
# (nm).  Prints every edge with the symbols behind it, then either
# "NAME: N files, no cycle" (exit 0) or each group of files that reach one
# another (a strongly connected component) with one cycle through it
# (exit 1).  A global symbol defined in several of the objects is reported
# too and counts as an edge to each of them.  Exit 2 on a usage error or
# when nm fails.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 NAME OBJECT..." >&2
  exit 2
fi

exec python3 - "$@" <<'PY'
import subprocess
import sys

name, objs = sys.argv[1], sys.argv[2:]

# nm -P: "symbol type [value size]".  Upper case types are global; U is
# undefined, w/v a weak reference that may stay undefined.
defined = {}        # symbol -> [objects]
undefined = {}      # object -> set of symbols
for obj in objs:
    try:
        out = subprocess.run(["nm", "-P", obj], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"{name}: nm {obj} failed: {e}", file=sys.stderr)
        sys.exit(2)
    undefined[obj] = set()
    for line in out.splitlines():
        f = line.split()
        if len(f) < 2:
            continue
        sym, kind = f[0], f[1]
        if kind in ("U", "w", "v"):
            undefined[obj].add(sym)
        elif kind.isupper():
            defined.setdefault(sym, []).append(obj)

for sym, where in sorted(defined.items()):
    if len(where) > 1:
        print(f"{name}: {sym} is defined in several objects: {' '.join(where)}")

edges = {o: {} for o in objs}       # a -> {b: [symbols]}
for a in objs:
    for sym in sorted(undefined[a]):
        for b in defined.get(sym, []):
            if b != a:
                edges[a].setdefault(b, []).append(sym)

for a in objs:
    for b, syms in sorted(edges[a].items()):
        print(f"  {a} -> {b}: {', '.join(syms)}")

# Tarjan's strongly connected components, iteratively (no recursion limit).
index, low, on_stack, stack, sccs = {}, {}, set(), [], []
counter = 0
for root in objs:
    if root in index:
        continue
    work = [(root, iter(edges[root]))]
    index[root] = low[root] = counter
    counter += 1
    stack.append(root)
    on_stack.add(root)
    while work:
        v, it = work[-1]
        w = next(it, None)
        if w is not None:
            if w not in index:
                index[w] = low[w] = counter
                counter += 1
                stack.append(w)
                on_stack.add(w)
                work.append((w, iter(edges[w])))
            elif w in on_stack:
                low[v] = min(low[v], index[w])
            continue
        work.pop()
        if work:
            low[work[-1][0]] = min(low[work[-1][0]], low[v])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(comp)


def one_cycle(comp):
    """A shortest cycle through the component's first file (BFS inside it)."""
    members = set(comp)
    start = sorted(comp)[0]
    prev = {start: None}
    queue = [start]
    for v in queue:
        for w in sorted(edges[v]):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return path[::-1] + [start]
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    return [start, start]


if not sccs:
    print(f"{name}: {len(objs)} files, no cycle")
    sys.exit(0)
for comp in sccs:
    cycle = one_cycle(comp)
    print(f"{name}: cycle among {' '.join(sorted(comp))}")
    steps = [f"{a} -> {b} ({edges[a][b][0]})" for a, b in zip(cycle, cycle[1:])]
    print("  cycle: " + "; ".join(steps))
sys.exit(1)
PY
