#!/usr/bin/env bash
# Runs FedSim's whole test suite on a fresh machine: installs missing system packages (with what
# the tests use: python3-zmq, python3-numpy, chromium), checks
# formatting (Scripts/format.sh --check), builds, and runs `swift test`. Extra arguments go to
# `swift test` (e.g. --filter TorchReference).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh --tests
Scripts/format.sh --check
swift build --build-tests
swift test --skip-build "$@"
