#!/usr/bin/env bash
# The federation of Topologies/fmnist-cnn.yaml (100 clients, Dirichlet 0.3, 10 per round, one
# local epoch of batch 32, AdamW, a fresh optimizer each round) in FedSim and in Flower's
# simulation engine with PyTorch clients, on the same shards (`fedsim export`) and the same test
# set: wall time, peak memory of all processes, final test accuracy, and the ratios. Flower and
# torch come from the venv $FEDSIM_FLOWER_VENV (default .build/flower-venv; created with
# `pip install flwr[simulation] torch` if missing, or pass an existing one). A benchmark, not a
# test: it takes minutes (lenet5, 50 rounds: about 30 s for FedSim here, 2.5 min for Flower).
#   Scripts/bench-flower.sh [--preset lenet5|fedavg-cnn] [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=lenet5
rounds=50
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
case "$preset" in lenet5|fedavg-cnn) ;; *) echo "error: --preset must be lenet5 or fedavg-cnn" >&2; exit 2 ;; esac
Scripts/install-deps.sh
swift build -c release --product fedsim >&2
venv=${FEDSIM_FLOWER_VENV:-.build/flower-venv}
if ! "$venv/bin/python" -c "import flwr, torch" 2>/dev/null; then
  echo "installing flwr[simulation] and torch into $venv (once) ..." >&2
  python3 -m venv "$venv" && "$venv/bin/pip" install -q "flwr[simulation]" torch numpy >&2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
settings=(--set "model.preset=$preset" --set "rounds=$rounds")

echo "FedSim: $preset, $rounds rounds ..." >&2
python3 Scripts/peak_memory.py -- .build/release/fedsim run Topologies/fmnist-cnn.yaml "${settings[@]}" \
  --out "$work/fedsim" --quiet 2> "$work/fedsim.time" > /dev/null
fedsim_acc=$(python3 -c "import json,sys; print('%.4f' % json.load(open(sys.argv[1]))['final_test_accuracy'])" "$work/fedsim/summary.json")

.build/release/fedsim export Topologies/fmnist-cnn.yaml "${settings[@]}" --clients 0-99 --out "$work/export" >&2
echo "Flower: the same federation ..." >&2
"$venv/bin/python" Scripts/peak_memory.py -- "$venv/bin/python" Scripts/bench_flower.py --federation "$work/export" \
  --model "$preset" --rounds "$rounds" --per-round 10 > "$work/flower.out" 2> "$work/flower.time" || {
  tail -20 "$work/flower.time" >&2
  exit 1
}
flower_acc=$(awk '/flower final test accuracy/ { print $5 }' "$work/flower.out")

read -r fw fm < <(awk '/^wall/ { gsub(",", ""); print $2, $6 }' "$work/fedsim.time")
read -r lw lm < <(awk '/^wall/ { gsub(",", ""); print $2, $6 }' "$work/flower.time")
printf "\n%-8s %10s %12s %12s\n" "" "wall (s)" "memory (MB)" "test acc"
printf "%-8s %10s %12s %12s\n" "FedSim" "$fw" "$fm" "$fedsim_acc" "Flower" "$lw" "$lm" "$flower_acc"
awk -v a="$fw" -v b="$lw" -v c="$fm" -v d="$lm" -v x="$fedsim_acc" -v y="$flower_acc" 'BEGIN {
  printf "FedSim is %.1f× faster in %.1f× less memory; accuracies differ by %+.4f\n", b / a, d / c, x - y }'
echo "($preset, $rounds rounds, 100 clients, 10 per round, both on all $(nproc) cores; memory: all processes' resident sum, peak)"
