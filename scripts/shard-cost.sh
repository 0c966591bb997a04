#!/usr/bin/env bash
# What a shard costs: seeds per second on one core (--jobs 1) for every shipped scenario
# (pinned plans excepted), the median of ROUNDS sweeps of SEEDS seeds, as faultline reports
# it (seeds / sweep wall time, determinism re-checks included as a default run does them).
#
#   scripts/shard-cost.sh [SEEDS] [ROUNDS]
#
# Prints a Markdown table: scenario, seeds/s per core, and the core-hours 100,000 seeds take.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-300}
rounds=${2:-3}
bin=target/release/faultline
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

rate() { # scenario -> seeds/s
    "$bin" run "$1" --seeds "$seeds" --jobs 1 --quiet --out "$out" |
        sed -nE 's/^[0-9]+ seeds in [0-9.]+ s: ([0-9]+) seeds\/s.*/\1/p'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "| scenario | seeds/s per core | core-hours per 100,000 seeds |"
echo "|---|---:|---:|"
for scenario in $(find scenarios -name '*.toml' -not -path '*/regressions/*' | sort); do
    r=()
    for _ in $(seq "$rounds"); do r+=("$(rate "$scenario")"); done
    m=$(printf '%s\n' "${r[@]}" | median)
    awk -v s="$scenario" -v m="$m" 'BEGIN { printf "| `%s` | %.0f | %.2f |\n", s, m, 100000 / m / 3600 }'
done
