#!/usr/bin/env bash
# Behaviour check against an earlier release: run the first N seeds (default 200) of every
# shipped scenario with two faultline binaries, writing every seed's artifacts, and compare
# plan.json, history.jsonl, verdicts.json and trace.jsonl byte for byte.
#
#   scripts/same-as-release.sh OLD_BINARY [NEW_BINARY] [SEEDS]
#
# NEW_BINARY defaults to target/release/faultline. A panic message carries the source
# location of the assertion that fired (`(at src/…:123)`), which moves whenever code
# moves; files that differ only there (and in the trace hash that covers it) are counted
# apart. A seed's peak memory is left out (it measures the build). Exits 0 when everything
# else is identical, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: scripts/same-as-release.sh OLD_BINARY [NEW_BINARY] [SEEDS]}
new=${2:-target/release/faultline}
seeds=${3:-200}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One line per artifact: path, exact digest, digest with panic locations masked.
digest() { # binary out-dir
    local bin=$1 out=$2 scenario f
    for scenario in $(find scenarios -name '*.toml' | sort); do
        # Each scenario is a run of its own: --keep-runs 0 keeps them all (the default
        # keeps the newest 10 run folders, which would leave the rest uncompared).
        "$bin" run "$scenario" --seeds "$seeds" --artifacts all --quiet --jobs 2 --keep-runs 0 --out "$out" >/dev/null || true
    done
    (cd "$out" && find . \( -name plan.json -o -name history.jsonl -o -name verdicts.json -o -name trace.jsonl \) | sort |
        while read -r f; do
            # Each run writes a run folder of its own: compare by scenario and seed. A
            # seed's peak memory (verdicts.json) measures the build, not the behaviour.
            printf '%s %s %s\n' "$(sed -E 's#^\./run-[0-9-]+/#./#' <<<"$f")" \
                "$(sed '/"memory_peak_mb"/d' "$f" | sha256sum | cut -c1-16)" \
                "$(sed -E 's/ \(at [^)]*:[0-9]+\)//g; /"trace_hash"/d; /"memory_peak_mb"/d' "$f" | sha256sum | cut -c1-16)"
        done | sort)
}

digest "$old" "$work/old" >"$work/old.txt"
rm -rf "$work/old"
digest "$new" "$work/new" >"$work/new.txt"
rm -rf "$work/new"
join "$work/old.txt" "$work/new.txt" >"$work/both.txt"
files=$(wc -l <"$work/old.txt")
missing=$(( files - $(wc -l <"$work/both.txt") + $(wc -l <"$work/new.txt") - $(wc -l <"$work/both.txt") ))
located=$(awk '$2 != $4 && $3 == $5' "$work/both.txt" | wc -l)
different=$(awk '$3 != $5' "$work/both.txt" | wc -l)
awk '$3 != $5 {print "differs:", $1}' "$work/both.txt" | head -20
echo "$files files compared ($seeds seeds of every shipped scenario): $((files - located - different)) identical, $located differ only in panic source locations, $different differ, $missing missing on one side"
[ "$different" -eq 0 ] && [ "$missing" -eq 0 ]
