#!/usr/bin/env bash
# Scale: one process, 10³ to 10⁶ virtual clients with persistent AdamW state, 1,000 training per
# round (all of them at 10³), the issue's MLP (64 → 32 → 10, 2,410 parameters) on Gaussian blobs
# with 1.25 training samples per client and a 2,500-sample test set, 20 rounds. For each size it prints the peak RSS
# (/usr/bin/time), the client-state file on disk, and the median round time from rounds.jsonl
# beside the 1,000-client run's (the ratio the goal is stated in). Then the largest size again
# as a cluster — a coordinator and 2 client processes over ipc://, each under /usr/bin/time — with
# the coordinator's and each client process's peak RSS and the weight hash of both modes.
# A benchmark, not a test.
#   Scripts/bench-scale.sh [--rounds N] [--sizes "1000 10000 100000 1000000"] [--cluster-sizes "1000000"]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=20
sizes="1000 10000 100000 1000000"
cluster_sizes=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    --cluster-sizes) cluster_sizes="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
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
  cp "$work/scale.yaml" "$work/scale-$n.yaml"
  tail -n 1 "$work/run/rounds.jsonl" > "$work/single-$n.last"
  largest=$n
done
[ -n "$cluster_sizes" ] || cluster_sizes=$largest
echo
echo "As a cluster: a coordinator and 2 client processes (ipc://), peak RSS of each process"
printf '%-10s %14s %16s %16s %14s %s\n' clients coordinator "client 0-half" "client half-end" "median round" "weights"
for n in $cluster_sizes; do
  [ -f "$work/scale-$n.yaml" ] || { echo "error: --cluster-sizes $n is not one of --sizes" >&2; exit 2; }
  half=$(( n / 2 ))
  endpoint="ipc://$work/scale.ipc"
  rm -rf "$work/crun" "$work/cstate"
  set=(--set cluster.join_timeout=600 --set cluster.round_timeout=600)
  /usr/bin/time -f "%M" -o "$work/rss-c" .build/release/fedsim coordinator "$work/scale-$n.yaml" "${set[@]}" \
    --endpoint "$endpoint" --out "$work/crun" --quiet >/dev/null &
  coordinator=$!
  /usr/bin/time -f "%M" -o "$work/rss-a" .build/release/fedsim client "$work/scale-$n.yaml" "${set[@]}" \
    --clients "0-$(( half - 1 ))" --connect "$endpoint" --state-dir "$work/cstate" --threads 1 >/dev/null 2>&1 &
  client_a=$!
  /usr/bin/time -f "%M" -o "$work/rss-b" .build/release/fedsim client "$work/scale-$n.yaml" "${set[@]}" \
    --clients "$half-$(( n - 1 ))" --connect "$endpoint" --state-dir "$work/cstate" --threads 1 >/dev/null 2>&1 &
  client_b=$!
  wait "$coordinator" "$client_a" "$client_b"
  mb() { awk '{ printf "%.0f MB", $1 / 1024 }' "$1"; }
  median=$(python3 -c "
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])][1:]
print(statistics.median(r['seconds'] for r in rows) * 1000)" "$work/crun/rounds.jsonl")
  same=$(python3 -c "
import json, sys
a, b = (json.loads(open(f).read().splitlines()[-1])['weights_hash'] for f in sys.argv[1:])
print(a + (' = one process' if a == b else ' != one process ' + b))" "$work/crun/rounds.jsonl" "$work/single-$n.last")
  printf '%-10s %14s %16s %16s %11.2f ms %s\n' "$n" "$(mb "$work/rss-c")" "$(mb "$work/rss-a")" "$(mb "$work/rss-b")" \
    "$median" "$same"
done
