#!/usr/bin/env bash
# Memory-mapped data: Fashion-MNIST's 60,000 training images read from the IDX .gz files
# (data.source: idx, parsed into each process's memory) against the same images as a Float32
# .npy array (data.source: npy, mapped: one copy in the page cache, shared by the processes).
# Both runs are LeNet-5 as a local cluster (a coordinator and 2 client processes over ipc://),
# 100 clients, 10 per round, 3 rounds; they alternate --passes times. Prints each pass's wall
# time and the peak of the processes' summed proportional set size (Scripts/peak_memory.py
# --pss: shared pages count once), the medians and their ratios, and checks that both sources
# give the same weights. A benchmark, not a test; about 10 s a pass here.
#   Scripts/bench-mapped.sh [--passes N]
set -euo pipefail
cd "$(dirname "$0")/.."
passes=3
while [ $# -gt 0 ]; do
  case "$1" in
    --passes) passes="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
case "$passes" in '' | *[!0-9]* | 0) echo "error: --passes takes a positive whole number, not '$passes'" >&2; exit 2 ;; esac
Scripts/install-deps.sh
if ! /usr/bin/python3 -c 'import numpy' >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-numpy >/dev/null
fi
swift build -c release --product fedsim >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fm=/usr/share/datasets/fashion-mnist
/usr/bin/python3 - "$fm" "$work" <<'PY'
import gzip, sys
import numpy as np
fm, out = sys.argv[1], sys.argv[2]
images = np.frombuffer(gzip.open(f"{fm}/train-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
labels = np.frombuffer(gzip.open(f"{fm}/train-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
# The IDX loader's pixels: each byte / 255 in Float32.
np.save(f"{out}/x.npy", images.reshape(-1, 1, 28, 28).astype(np.float32) / np.float32(255))
np.save(f"{out}/y.npy", labels.astype(np.int64))
PY
for source in idx npy; do
  if [ "$source" = idx ]; then
    data="{source: idx, images: $fm/train-images-idx3-ubyte.gz, labels: $fm/train-labels-idx1-ubyte.gz}"
  else
    data="{source: npy, features: $work/x.npy, targets: $work/y.npy}"
  fi
  cat > "$work/$source.yaml" <<YAML
name: mapped-$source
seed: 1
rounds: 3
data: $data
partition: {scheme: dirichlet, alpha: 0.3}
model: {kind: cnn, preset: lenet5}
clients:
  count: 100
  per_round: 10
  local: {epochs: 1, batch_size: 32}
  optimizer: {name: adamw, lr: 0.001, weight_decay: 0.01}
  state: reset
cluster: {processes: 2}
YAML
done
printf '%-6s %-6s %10s %12s\n' pass source "wall (s)" "memory (MB)"
for pass in $(seq 1 "$passes"); do
  order="idx npy"; [ $((pass % 2)) -eq 0 ] && order="npy idx"
  for source in $order; do
    rm -rf "$work/run-$source"
    python3 Scripts/peak_memory.py --pss -- .build/release/fedsim cluster "$work/$source.yaml" \
      --out "$work/run-$source" --quiet > /dev/null 2> "$work/time"
    read -r wall memory < <(awk '/^wall/ { gsub(",", ""); print $2, $6 }' "$work/time")
    printf '%-6s %-6s %10s %12s\n' "$pass" "$source" "$wall" "$memory"
    echo "$source $wall $memory" >> "$work/figures"
  done
  a=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['final_weights_hash'])" "$work/run-idx/summary.json")
  b=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['final_weights_hash'])" "$work/run-npy/summary.json")
  [ "$a" = "$b" ] || { echo "error: the two sources gave different weights ($a, $b)" >&2; exit 1; }
done
python3 - "$work/figures" "$a" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
med = {s: [statistics.median(float(r[i]) for r in rows if r[0] == s) for i in (1, 2)] for s in ("idx", "npy")}
print(f"median: idx {med['idx'][0]:.1f} s, {med['idx'][1]:.0f} MB; npy {med['npy'][0]:.1f} s, {med['npy'][1]:.0f} MB")
print(f"mapped: {med['idx'][0] / med['npy'][0]:.2f}x faster, {med['idx'][1] / med['npy'][1]:.2f}x less memory; "
      f"the same weights ({sys.argv[2]})")
PY
