#!/usr/bin/env bash
# Loads every CSV FedSim writes — a run's rounds.csv (with the virtual clock's columns) and
# client_accuracy.csv, a tuned comparison's summary.csv and tuning.csv — with pandas' read_csv and no arguments (pandas from PyPI in .build/pandas-venv,
# installed on first use), and checks that every column but the names, the hash and the flags
# is numeric, with the row counts expected. Exits 1 on a failure.
#   Scripts/pandas-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
swift build -c release --product fedsim >&2
venv=.build/pandas-venv
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import pandas" 2>/dev/null || {
  python3 -m venv "$venv" && "$venv/bin/pip" install -q pandas
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.build/release/fedsim run Topologies/quickstart.yaml --out "$work/run" --quiet \
  --set metrics.client_accuracy=true --set "clock={seconds_per_sample: 0.001, deadline: 0.5}" >/dev/null
cat > "$work/spec.yaml" <<YAML
name: pandas
base: $(pwd)/Topologies/quickstart.yaml
seeds: [1, 2]
target_accuracy: 0.9
set: {data.validation_fraction: 0.2, rounds: 5}
variants:
  - {name: adamw, set: {clients.optimizer.name: adamw}}
  - {name: adam_l2, set: {clients.optimizer.name: adam_l2}}
tune:
  space:
    clients.optimizer.lr: [0.001, 0.01]
YAML
.build/release/fedsim compare "$work/spec.yaml" --out "$work/compare" --jobs 2 >/dev/null
"$venv/bin/python" - "$work" <<'PY'
import sys
import pandas as pd
work = sys.argv[1]
text = {"variant", "trial", "weights_hash"}
flags = {"significant", "best"}
bad = 0
for name, rows in [("run/rounds.csv", 16), ("run/client_accuracy.csv", 10), ("compare/summary.csv", 2),
                   ("compare/tuning.csv", 4)]:
    frame = pd.read_csv(f"{work}/{name}")
    if len(frame) != rows:
        print(f"{name}: {len(frame)} rows, expected {rows}"); bad += 1
    for column in frame.columns:
        kind = frame[column].dtype
        if column in text:
            continue
        if column in flags:
            if frame[column].notna().any() and kind != bool and kind != object:
                print(f"{name}: {column} is {kind}"); bad += 1
            continue
        if not pd.api.types.is_numeric_dtype(kind):
            print(f"{name}: column {column} is {kind}, not numeric: {list(frame[column])[:3]}"); bad += 1
    print(f"{name}: {len(frame)} rows × {len(frame.columns)} columns")
sys.exit(1 if bad else 0)
PY
echo "passed"
