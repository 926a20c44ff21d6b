#!/usr/bin/env bash
# Loads a FedSim run's TensorBoard event files with TensorBoard's own EventAccumulator (PyPI
# `tensorboard`, in .build/tensorboard-venv, installed on first use) and checks every scalar
# against the run's rounds.jsonl; then checks that a resumed run's events are its rounds exactly
# once. Exits 1 on a mismatch.
#   Scripts/tensorboard-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
swift build -c release --product fedsim >&2
venv=.build/tensorboard-venv
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import tensorboard" 2>/dev/null || {
  python3 -m venv "$venv" && "$venv/bin/pip" install -q tensorboard
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.build/release/fedsim run Topologies/quickstart.yaml --out "$work/run" --quiet --set data.validation_fraction=0.2 >/dev/null
# A resumed run: stopped by SIGINT mid-run, then continued.
.build/release/fedsim run Topologies/quickstart.yaml --out "$work/resumed" --rounds 2000 --quiet \
  --set clients.local.epochs=5 >/dev/null &
pid=$!
for _ in $(seq 1 300); do
  [ "$(wc -l < "$work/resumed/rounds.jsonl" 2>/dev/null || echo 0)" -lt 10 ] || break
  sleep 0.05
done
kill -INT "$pid" 2>/dev/null || true
wait "$pid" || true
.build/release/fedsim run --resume "$work/resumed" --quiet >/dev/null
"$venv/bin/python" - "$work/run" "$work/resumed" <<'PY'
import json, math, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
names = {"test/accuracy": "test_accuracy", "test/loss": "test_loss", "train/loss": "train_loss",
         "validation/accuracy": "validation_accuracy", "weights/norm": "weight_norm", "update/norm": "update_norm",
         "clients/drift": "client_drift", "clients/effective_decay": "effective_decay"}
bad = 0
for run in sys.argv[1:]:
    rows = [json.loads(l) for l in open(f"{run}/rounds.jsonl")]
    acc = EventAccumulator(f"{run}/tb")
    acc.Reload()
    tags = acc.Tags()["scalars"]
    checked = 0
    for tag, key in names.items():
        if tag not in tags:
            continue
        events = acc.Scalars(tag)
        steps = [e.step for e in events]
        expected = [r["round"] for r in rows if key in r]
        if steps != expected:
            print(f"{run}: {tag}: steps {steps[:5]}… != rounds {expected[:5]}…"); bad += 1; continue
        for e in events:
            want = next(r[key] for r in rows if r["round"] == e.step)
            if not math.isclose(e.value, want, rel_tol=1e-6, abs_tol=1e-12):
                print(f"{run}: {tag} round {e.step}: {e.value} != {want}"); bad += 1
            checked += 1
    print(f"{run.split('/')[-1]}: {len(rows)} rounds, {len(tags)} tags, {checked} values checked against rounds.jsonl")
sys.exit(1 if bad else 0)
PY
echo "passed"
