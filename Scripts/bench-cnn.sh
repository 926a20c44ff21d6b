#!/usr/bin/env bash
# Conv nets, FedSim beside PyTorch on the same shapes: forward+backward of fedavg-cnn, lenet5, resnet8-gn
# on a batch of 32 28×28 images, samples/s on one thread, both measured in this run. The machines
# here are shared and their speed drifts by ±30 % within minutes, so the two are measured in
# alternating passes (FedSim first in even passes, PyTorch first in odd ones; each figure the
# median of --repeats timed runs), a ratio is taken per pass, and the table gives the median
# ratio with its range. PyTorch comes from the venv $FEDSIM_TORCH_VENV (default .build/torch-venv,
# created and filled with torch from PyPI if missing: several GB); without it the PyTorch column
# says "skipped".
#   Scripts/bench-cnn.sh [--batch N] [--repeats N] [--passes N]
set -euo pipefail
cd "$(dirname "$0")/.."
batch=32
repeats=3
passes=5
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) batch="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --passes) passes="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
for value in "$batch" "$repeats" "$passes"; do
  case "$value" in
    ''|*[!0-9]*|0) echo "error: --batch, --repeats and --passes take a positive whole number, not '$value'" >&2; exit 2 ;;
  esac
done
Scripts/install-deps.sh
swift build -c release --product fedsim >&2

venv=${FEDSIM_TORCH_VENV:-.build/torch-venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  echo "installing torch into $venv (once) ..." >&2
  { python3 -m venv "$venv" && "$venv/bin/pip" install -q torch numpy; } >&2 || true
fi
have_torch=0
"$venv/bin/python" -c "import torch" 2>/dev/null && have_torch=1

presets="fedavg-cnn lenet5 resnet8-gn"
ours_all=""    # lines "pass preset samples/s"
theirs_all=""
for pass in $(seq 1 "$passes"); do
  run_ours() {
    local out
    out=$(.build/release/fedsim bench models --batch "$batch" --repeats "$repeats")
    echo "$out" | sed "s/^/  pass $pass  FedSim   /" >&2
    ours_all+=$(echo "$out" | awk -v p="$pass" 'NR > 1 { print p, $1, $2 }')$'\n'
  }
  run_theirs() {
    [ "$have_torch" = 1 ] || return 0
    local out
    out=$("$venv/bin/python" Scripts/bench_torch_cnn.py --batch "$batch" --repeats "$repeats")
    echo "$out" | sed "s/^/  pass $pass  PyTorch  /" >&2
    theirs_all+=$(echo "$out" | awk -v p="$pass" '{ print p, $1, $2 }')$'\n'
  }
  if [ $((pass % 2)) = 0 ]; then run_ours; run_theirs; else run_theirs; run_ours; fi
done

printf "\n%-12s %14s %14s %22s\n" "model" "FedSim (s⁻¹)" "PyTorch (s⁻¹)" "ratio: median (range)"
for preset in $presets; do
  # Per pass: FedSim's and PyTorch's samples/s; then the medians and the per-pass ratios.
  echo "$ours_all" | awk -v p="$preset" '$2 == p { print $1, $3 }' | sort -n > /tmp/fedsim-bench-ours.$$
  echo "$theirs_all" | awk -v p="$preset" '$2 == p { print $1, $3 }' | sort -n > /tmp/fedsim-bench-theirs.$$
  median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
  ours=$(awk '{ print $2 }' /tmp/fedsim-bench-ours.$$ | median)
  theirs=$(awk '{ print $2 }' /tmp/fedsim-bench-theirs.$$ | median)
  if [ -n "$theirs" ]; then
    ratios=$(join /tmp/fedsim-bench-ours.$$ /tmp/fedsim-bench-theirs.$$ | awk '{ printf "%.3f\n", $2 / $3 }')
    r_med=$(echo "$ratios" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    r_min=$(echo "$ratios" | sort -g | head -1)
    r_max=$(echo "$ratios" | sort -g | tail -1)
    printf "%-12s %14s %14s %22s\n" "$preset" "$ours" "$theirs" \
      "$(awk -v m="$r_med" -v a="$r_min" -v b="$r_max" 'BEGIN { printf "%.2f× (%.2f–%.2f)", m, a, b }')"
  else
    printf "%-12s %14s %14s %22s\n" "$preset" "$ours" "skipped" "—"
  fi
  rm -f /tmp/fedsim-bench-ours.$$ /tmp/fedsim-bench-theirs.$$
done
echo "(forward+backward, batch $batch, one thread each; samples per second, medians over $passes alternating passes of $repeats runs each)"
