#!/usr/bin/env bash
# Scale: one process, 10³ to 10⁶ virtual clients with persistent AdamW state, 1,000 training per
# round (all of them at 10³), the issue's MLP (64 → 32 → 10, 2,410 parameters) on Gaussian blobs
# with 1.25 training samples per client and a 2,500-sample test set, 20 rounds. For each size
# it prints the peak RSS (/usr/bin/time), the client-state file on disk, and the median round
# time from rounds.jsonl beside the 1,000-client run's (the ratio the goal is stated in); with
# --passes N it runs every size N times, alternating the order, and prints medians (quote these:
# the machines are noisy). Then the largest size again as a cluster — a coordinator and 2
# client processes over ipc://, each under /usr/bin/time — with the coordinator's and each
# client process's peak RSS and the weight hash of both modes.
# A benchmark, not a test.
#   Scripts/bench-scale.sh [--rounds N] [--passes N] [--sizes "1000 10000 100000 1000000"]
#                          [--cluster-sizes "1000000"]
#   Scripts/bench-scale.sh --passes 3 --sizes "1000 1000000" --cluster-sizes "1000000"
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=20
passes=1
sizes="1000 10000 100000 1000000"
cluster_sizes=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    --cluster-sizes) cluster_sizes="$2"; shift 2 ;;
    --passes) passes="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
if ! [[ "$passes" =~ ^[1-9][0-9]*$ ]]; then
  echo "error: --passes must be a positive whole number, not '$passes'" >&2
  exit 2
fi
Scripts/install-deps.sh
swift build -c release --product fedsim >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Each pass runs every size once, in forward order on odd passes and backward on even ones, so
# a machine that speeds up or slows down during the run does not favour one end of the table;
# a size's ratio is the median over passes of its round over the 1,000-client round of the
# same pass.
for (( pass = 1; pass <= passes; pass++ )); do
  order=$sizes
  (( pass % 2 == 1 )) || order=$(echo "$sizes" | tr ' ' '\n' | tac | tr '\n' ' ')
  for n in $order; do
    # 1.25 training samples per client plus a test set of 2,500 at every size, so the
    # evaluation costs the same and the round times compare the clients' bookkeeping.
    samples=$(( n * 5 / 4 + 2500 ))
    test_fraction=$(python3 -c "print(2500 / $samples)")
    per=$(( n < 1000 ? n : 1000 ))
    cat > "$work/scale-$n.yaml" <<YAML
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
    echo "pass $pass/$passes: $n clients in one process" >&2
    rm -rf "$work/run"
    /usr/bin/time -f "%M" -o "$work/rss" .build/release/fedsim run "$work/scale-$n.yaml" --out "$work/run" --quiet \
      >/dev/null
    python3 -c "
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])][1:]
print(statistics.median(r['seconds'] for r in rows) * 1000, int(open(sys.argv[2]).read().split()[-1]),
      sys.argv[3])" "$work/run/rounds.jsonl" "$work/rss" "$(du -sh "$work/run/client-state" | cut -f1)" \
      >> "$work/pass-$n"
    tail -n 1 "$work/run/rounds.jsonl" > "$work/single-$n.last"
  done
done
base=$(echo "$sizes" | awk '{ print $1 }')
largest=$(echo "$sizes" | awk '{ print $NF }')
echo "In one process: medians over $passes pass(es); 'vs $base' is the median of the per-pass ratios (range)"
printf '%-10s %12s %14s %16s %20s\n' clients "peak RSS" "state file" "median round" "vs $base"
for n in $sizes; do
  python3 - "$work/pass-$n" "$work/pass-$base" "$n" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
base = [float(line.split()[0]) for line in open(sys.argv[2])]
rounds = [float(r[0]) for r in rows]
ratios = sorted(a / b for a, b in zip(rounds, base))
rss = statistics.median(int(r[1]) for r in rows) / 1024
spread = f" ({ratios[0]:.2f}-{ratios[-1]:.2f})" if len(ratios) > 1 else ""
print(f"{sys.argv[3]:<10} {rss:9.0f} MB {rows[-1][2]:>14} {statistics.median(rounds):13.2f} ms "
      f"{statistics.median(ratios):9.2f}x{spread:>11}")
PY
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
