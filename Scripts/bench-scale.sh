#!/usr/bin/env bash
# Scale: one process, 10³ to 10⁶ virtual clients with persistent AdamW state, 1,000 training per
# round (all of them at 10³), the issue's MLP (64 → 32 → 10, 2,410 parameters) on Gaussian blobs
# with 1.25 training samples per client and a 2,500-sample test set, 20 rounds. For each size it prints the peak RSS
# (/usr/bin/time), the client-state file on disk, and the median round time from rounds.jsonl
# beside the 1,000-client run's (the ratio the goal is stated in). A benchmark, not a test.
#   Scripts/bench-scale.sh [--rounds N] [--sizes "1000 10000 100000 1000000"]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=20
sizes="1000 10000 100000 1000000"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
Scripts/install-deps.sh
swift build -c release --product fedsim >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%-10s %12s %14s %16s %10s\n' clients "peak RSS" "state file" "median round" "vs 10³"
base=""
for n in $sizes; do
  # 1.25 training samples per client plus a test set of 2,500 at every size, so the
  # evaluation costs the same and the round times compare the clients' bookkeeping.
  samples=$(( n * 5 / 4 + 2500 ))
  test_fraction=$(python3 -c "print(2500 / $samples)")
  per=$(( n < 1000 ? n : 1000 ))
  cat > "$work/scale.yaml" <<YAML
name: scale
seed: 1
rounds: $rounds
data: {source: blobs, count: $samples, features: 64, classes: 10, spread: 4, test_fraction: $test_fraction}
model: {kind: mlp, hidden: [32]}
clients:
  count: $n
  per_round: $per
  local: {epochs: 1, batch_size: 16}
  optimizer: {name: adamw, lr: 0.002}
  state: persist
YAML
  rm -rf "$work/run"
  /usr/bin/time -f "%M" -o "$work/rss" .build/release/fedsim run "$work/scale.yaml" --out "$work/run" --quiet >/dev/null
  rss_mb=$(awk '{ printf "%.0f MB", $1 / 1024 }' "$work/rss")
  state=$(du -sh "$work/run/client-state" | cut -f1)
  median=$(python3 -c "
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])][1:]
print(statistics.median(r['seconds'] for r in rows) * 1000)" "$work/run/rounds.jsonl")
  [ -n "$base" ] || base=$median
  printf '%-10s %12s %14s %13.2f ms %9.2fx\n' "$n" "$rss_mb" "$state" "$median" "$(python3 -c "print($median / $base)")"
done
