#!/usr/bin/env bash
# Runs the experiments of docs/EXPERIMENTS.md with `fedsim compare` (release build) into
# runs/experiments/<name>/ and prints their summaries and wall times. With --update-docs it also
# copies each one's summary.csv, summary.md, tuning.csv and charts (heat maps included) into
# docs/experiments/<name>/ and puts each summary.md into docs/EXPERIMENTS.md between its
# `<!-- results:<name> -->` and `<!-- /results:<name> -->` markers.
#   Scripts/experiments.sh [--update-docs] [name ...]      (default: every experiment below)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
Scripts/install-deps.sh
swift build -c release --product fedsim >/dev/null
update_docs=false
if [ "${1:-}" = "--update-docs" ]; then update_docs=true; shift; fi
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(adamw-vs-adaml2 adamw-vs-adaml2-iid zero-gradient state-policy batch-decay server-strategies stragglers deadlines cnn-adamw-vs-adaml2 cnn-adamw-vs-adaml2-iid)
for name in "${names[@]}"; do
  out="runs/experiments/$name"
  rm -rf "$out"
  start=$(date +%s.%N)
  .build/release/fedsim compare "Topologies/experiments/$name.yaml" --out "$out" | grep -v '^\['
  end=$(date +%s.%N)
  awk -v n="$name" -v s="$start" -v e="$end" 'BEGIN { printf "%s: %.1f s wall time\n", n, e - s }'
  $update_docs || continue
  rm -rf "docs/experiments/$name"
  mkdir -p "docs/experiments/$name"
  cp "$out/summary.csv" "$out/summary.md" "docs/experiments/$name/"
  [ ! -f "$out/tuning.csv" ] || cp "$out/tuning.csv" "docs/experiments/$name/"
  cp "$out"/charts/*.svg "docs/experiments/$name/"
  awk -v n="$name" -v s="$start" -v e="$end" 'BEGIN { printf "%s: %.1f s wall time\n", n, e - s }' > "docs/experiments/$name/wall-time.txt"
  python3 - "$name" <<'PY'
import re, sys
name = sys.argv[1]
doc = open("docs/EXPERIMENTS.md").read()
table = open(f"docs/experiments/{name}/summary.md").read().strip()
begin, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
if begin in doc and end in doc:
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    open("docs/EXPERIMENTS.md", "w").write(f"{head}{begin}\n{table}\n{end}{tail}")
PY
done
# Per-weight trajectories of the zero-gradient experiment (SCIENCE.md §2.3).
$update_docs || exit 0
for opt in adamw adam_l2; do
  .build/release/fedsim optimizer replay --spec "Topologies/optimizers/$opt.yaml" \
    --input Topologies/optimizers/zero-gradients-200.json --format csv > "docs/experiments/zero-gradient/replay-$opt.csv"
done
