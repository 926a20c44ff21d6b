#!/usr/bin/env bash
# Conv nets, FedSim beside PyTorch on the same shapes: forward+backward of fedavg-cnn, lenet5, resnet8-gn
# on a batch of 32 28×28 images, samples/s on one thread, the median of several timed runs each,
# both measured in this run. PyTorch comes from the venv $FEDSIM_TORCH_VENV (default
# .build/torch-venv, created and filled with torch from PyPI if missing: several GB); without it
# the PyTorch column says "skipped".
#   Scripts/bench-cnn.sh [--batch N] [--repeats N]
set -euo pipefail
cd "$(dirname "$0")/.."
batch=32
repeats=5
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) batch="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
Scripts/install-deps.sh
swift build -c release --product fedsim >&2
fedsim_out=$(.build/release/fedsim bench models --batch "$batch" --repeats "$repeats")
echo "$fedsim_out" >&2

venv=${FEDSIM_TORCH_VENV:-.build/torch-venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  echo "installing torch into $venv (once) ..." >&2
  { python3 -m venv "$venv" && "$venv/bin/pip" install -q torch numpy; } >&2 || true
fi
torch_out=""
if "$venv/bin/python" -c "import torch" 2>/dev/null; then
  torch_out=$("$venv/bin/python" Scripts/bench_torch_cnn.py --batch "$batch" --repeats "$repeats")
fi

printf "\n%-12s %14s %14s %10s\n" "model" "FedSim (s⁻¹)" "PyTorch (s⁻¹)" "ratio"
for preset in fedavg-cnn lenet5 resnet8-gn; do
  ours=$(echo "$fedsim_out" | awk -v p="$preset" '$1 == p { print $2 }')
  theirs=$(echo "$torch_out" | awk -v p="$preset" '$1 == p { print $2 }')
  if [ -n "$theirs" ]; then
    ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f×", a / b }')
    printf "%-12s %14s %14s %10s\n" "$preset" "$ours" "$theirs" "$ratio"
  else
    printf "%-12s %14s %14s %10s\n" "$preset" "$ours" "skipped" "—"
  fi
done
echo "(forward+backward, batch $batch, one thread each; samples per second, median of $repeats)"
