#!/usr/bin/env bash
# The PyTorch client end to end: half of the quickstart's clients (5-9) train in a Python process
# with torch.nn and torch.optim.AdamW (Sources/fedsim-python/examples/torch_mlp.py), the other half
# in a Swift client process, under a real coordinator over ipc://. Passes when the run completes,
# no update is rejected, and the final test accuracy is within 0.03 of the all-Swift run's.
# Torch comes from /opt/wheels when a CPU wheel is there, else from PyPI (the CUDA build, large),
# into runs/python-client-check/venv; the package itself is installed with pip install.
#   Scripts/python-client-check.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
Scripts/install-deps.sh
swift build -c release --product fedsim >/dev/null
fedsim=.build/release/fedsim
work=runs/python-client-check
venv="$work/venv"
mkdir -p "$work"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  wheel=$(ls /opt/wheels/torch-*+cpu-*.whl 2>/dev/null | head -1 || true)
  "$venv/bin/pip" install -q ${wheel:-torch} pyzmq numpy
fi
"$venv/bin/pip" install -q ./Sources/fedsim-python
rm -rf "$work/federation" "$work/run" "$work/reference"
$fedsim export Topologies/quickstart.yaml --clients 5-9 --out "$work/federation"
$fedsim run Topologies/quickstart.yaml --out "$work/reference" --quiet >/dev/null
endpoint="ipc://$root/$work/c.ipc"
$fedsim coordinator Topologies/quickstart.yaml --endpoint "$endpoint" --out "$work/run" > "$work/coordinator.log" 2>&1 &
coordinator=$!
$fedsim client Topologies/quickstart.yaml --clients 0-4 --connect "$endpoint" > "$work/swift.log" 2>&1 &
(cd Sources/fedsim-python && timeout 300 "$root/$venv/bin/python" -m fedsim_client --federation "$root/$work/federation" \
  --connect "$endpoint" --trainer examples.torch_mlp:make_trainer)
wait $coordinator
"$venv/bin/python" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
run = json.load(open(f"{work}/run/summary.json"))
ref = json.load(open(f"{work}/reference/summary.json"))
rounds = [json.loads(l) for l in open(f"{work}/run/rounds.jsonl")]
python_rounds = sum(any(c >= 5 for c in r["participants"]) for r in rounds[1:])
print(f"PyTorch clients took part in {python_rounds} of {len(rounds) - 1} rounds; rejected: {run['counts'] or 'none'}")
print(f"final test accuracy {run['final_test_accuracy']:.4f} (half PyTorch) vs {ref['final_test_accuracy']:.4f} (all Swift)")
ok = run["completed"] and not run["counts"] and python_rounds > 0 \
    and abs(run["final_test_accuracy"] - ref["final_test_accuracy"]) <= 0.03
print("passed" if ok else "FAILED")
sys.exit(0 if ok else 1)
PY
