#!/usr/bin/env bash
# Runs the five experiments of docs/EXPERIMENTS.md with `fedsim compare` (release build) and
# copies each one's summary.csv and charts into docs/experiments/<name>/, printing wall times.
#   Scripts/experiments.sh [name ...]      (default: all of Topologies/experiments/*.yaml)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
Scripts/install-deps.sh
swift build -c release --product fedsim >/dev/null
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(adamw-vs-adaml2 zero-gradient state-policy batch-decay server-strategies)
for name in "${names[@]}"; do
  out="runs/experiments/$name"
  rm -rf "$out"
  start=$(date +%s.%N)
  .build/release/fedsim compare "Topologies/experiments/$name.yaml" --out "$out" | grep -v '^\[' 
  end=$(date +%s.%N)
  mkdir -p "docs/experiments/$name"
  cp "$out/summary.csv" "docs/experiments/$name/"
  cp "$out"/charts/*.svg "docs/experiments/$name/"
  awk -v n="$name" -v s="$start" -v e="$end" 'BEGIN { printf "%s: %.1f s wall time\n", n, e - s }' | tee "docs/experiments/$name/wall-time.txt"
done
# Per-weight trajectories of the zero-gradient experiment (SCIENCE.md §2.3).
for opt in adamw adam_l2; do
  .build/release/fedsim optimizer replay --spec "Topologies/optimizers/$opt.yaml" \
    --input Topologies/optimizers/zero-gradients-200.json --format csv > "docs/experiments/zero-gradient/replay-$opt.csv"
done
