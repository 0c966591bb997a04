#!/usr/bin/env bash
# Seeds per second of every correct shipped scenario, this binary against another, measured
# in one run: rounds alternate A B A B so both see the same machine, and each figure is
# the median over the rounds (as faultline itself reports it: seeds / sweep wall time).
#
#   scripts/seeds-per-second.sh OLD_BINARY [NEW_BINARY] [SEEDS] [ROUNDS]
#
# Prints a Markdown table: scenario, old seeds/s, new seeds/s, new/old (median of the
# per-round ratios).
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: scripts/seeds-per-second.sh OLD_BINARY [NEW_BINARY] [SEEDS] [ROUNDS]}
new=${2:-target/release/faultline}
seeds=${3:-2000}
rounds=${4:-5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

rate() { # binary scenario -> seeds/s
    "$1" run "$2" --seeds "$seeds" --jobs 2 --quiet --determinism-every 0 --out "$out" |
        sed -nE 's/^[0-9]+ seeds in [0-9.]+ s: ([0-9]+) seeds\/s.*/\1/p'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "| scenario | before (seeds/s) | after (seeds/s) | after / before |"
echo "|---|---:|---:|---:|"
for scenario in $(grep -lE '^expect *= *"pass"|^system' -r scenarios --include='*.toml' | sort); do
    grep -qE '^expect *= *"(violation|liveness)"' "$scenario" && continue
    a=(); b=(); r=()
    for _ in $(seq "$rounds"); do
        x=$(rate "$old" "$scenario"); y=$(rate "$new" "$scenario")
        a+=("$x"); b+=("$y"); r+=("$(awk -v x="$x" -v y="$y" 'BEGIN {printf "%.3f", y / x}')")
    done
    printf '| `%s` | %s | %s | %s |\n' "$scenario" \
        "$(printf '%s\n' "${a[@]}" | median)" "$(printf '%s\n' "${b[@]}" | median)" \
        "$(printf '%s\n' "${r[@]}" | median)"
done
