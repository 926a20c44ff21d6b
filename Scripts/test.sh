#!/usr/bin/env bash
# Runs FedSim's whole test suite on a fresh machine: installs missing system packages (with what
# the tests use: python3-zmq, python3-numpy, chromium), checks
# formatting (Scripts/format.sh --check), builds, and runs `swift test --parallel` (test classes in
# one worker process per core: much of the suite waits on real processes and sockets, so two
# workers on two cores take about half the serial time). Extra arguments go to `swift test`
# (e.g. --filter TorchReference).
# -index-ignore-system-modules: SwiftPM's debug build indexes every imported system module
# (Foundation, Glibc, XCTest) in every compile job; test discovery reads only our own modules'
# index, so skipping the system ones leaves all tests found and cuts the clean build by ~10 %
# (`swift build --build-tests` 58.6/51.0 s against 48.8/47.5 s, alternating, 2026-12-05).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh --tests
Scripts/format.sh --check
swift build --build-tests -Xswiftc -index-ignore-system-modules
swift test --skip-build --parallel "$@"
