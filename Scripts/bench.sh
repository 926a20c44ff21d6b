#!/usr/bin/env bash
# Builds FedSim in release mode and runs the optimizer benchmark (extra arguments go to
# `fedsim bench optimizers`, e.g. --params 1000000 --repeats 10).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
swift build -c release --product fedsim
.build/release/fedsim bench optimizers "$@"
