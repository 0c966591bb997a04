#!/usr/bin/env bash
# Where a seed's time goes: samples a sweep of one scenario on one job with perf (DWARF
# call graphs) and gives each sample to the innermost frame it can name — the system's
# handlers (`faultline::systems::…`), the simulator's machinery (madsim's executor and
# timers, faultline's world and driver, the network, the trace, the disks), the checks
# (any frame of a check), planning, and the runner around them.
#
#   scripts/profile-breakdown.sh SCENARIO.toml [SEEDS] [BINARY]
#
# Prints one line: samples, then each part's share. Needs `perf` and `python3`.
set -euo pipefail
scenario=${1:?usage: scripts/profile-breakdown.sh SCENARIO.toml [SEEDS] [BINARY]}
seeds=${2:-400}
binary=${3:-target/release/faultline}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
perf record -q -F 999 --call-graph dwarf,16384 -o "$work/perf.data" -- \
    "$binary" run "$scenario" --seeds "$seeds" --jobs 1 --quiet --out "$work/out" >/dev/null 2>&1
perf script -i "$work/perf.data" 2>/dev/null | python3 -c '
import collections, re, sys
# (part, pattern): a frame belongs to the part whose path it names first.
parts = [
    ("trace", r"faultline::sim::trace"),
    ("net", r"faultline::net::|Core<S>::send|::enqueue<"),
    ("disk", r"faultline::disk::|DiskCtx"),
    ("executor", r"madsim::|async_task|naive_timer|futures_util|std::thread|start_thread"),
    ("sim", r"faultline::sim::|faultline::rng"),
    ("handlers", r"faultline::systems::"),
    ("plan", r"faultline::plan::|faultline::scenario::"),
    ("runner", r"faultline::runner::|faultline::cli::|faultline::report::|faultline::history::|serde_json"),
]
checks = re.compile(r"faultline::check::|::checks::|SystemUnderTest>::check")
parts = [(n, re.compile(p)) for n, p in parts]
def part(frames):
    if any(checks.search(f) for f in frames):
        return "checks"
    for f in frames:  # innermost first
        # The path named first; on a tie (one path inside another) the narrower part.
        hits = [(m.start(), i, n) for i, (n, p) in enumerate(parts) for m in [p.search(f)] if m]
        if hits:
            return min(hits)[2]
    return "other"
counts, frames = collections.Counter(), []
for line in sys.stdin:
    if not line.strip():
        if frames:
            counts[part(frames)] += 1
        frames = []
    elif line[0] in " \t":
        m = re.match(r"\s+[0-9a-f]+\s+(.*?)\s+\(", line)
        if m:
            frames.append(m.group(1))
if frames:
    counts[part(frames)] += 1
total = sum(counts.values()) or 1
machinery = ("executor", "sim", "net", "trace", "disk")
pct = lambda k: "%d%%" % round(100 * (sum(counts[x] for x in machinery) if k == "machinery" else counts[k]) / total)
inner = ", ".join("%s %s" % (k, pct(k)) for k in machinery)
print("%d samples: handlers %s, machinery %s (%s), checks %s, plan %s, runner %s, other %s" % (
    total, pct("handlers"), pct("machinery"), inner, pct("checks"), pct("plan"), pct("runner"), pct("other")))
'
