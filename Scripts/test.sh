#!/usr/bin/env bash
# Runs FedSim's whole test suite on a fresh machine: installs missing system packages (with what
# the tests use: python3-zmq, python3-numpy, chromium), checks
# formatting (Scripts/format.sh --check), builds, and runs `swift test --parallel` (test classes in
# one worker process per core: much of the suite waits on real processes and sockets, so two
# workers on two cores take about half the serial time). Extra arguments go to `swift test`
# (e.g. --filter TorchReference).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh --tests
Scripts/format.sh --check
swift build --build-tests
swift test --skip-build --parallel "$@"
