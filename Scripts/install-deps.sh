#!/usr/bin/env bash
# Installs the system packages FedSim builds against, if any is missing (Debian/Ubuntu):
# pkg-config, ZeroMQ (libzmq3-dev), zlib (zlib1g-dev, to read the .gz IDX files) and the
# Fashion-MNIST data set (dataset-fashion-mnist, 30 MB under /usr/share/datasets/fashion-mnist).
# With --tests also what the tests use: pyzmq and NumPy for /usr/bin/python3 (python3-zmq,
# python3-numpy: the Python client's test), Debian's chromium (the report render test) and
# iptables (the multi-host test's link delay and loss where the kernel has no netem).
#   Scripts/install-deps.sh [--tests]
set -euo pipefail
tests=false
[ "${1:-}" = "--tests" ] && tests=true
missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists libzmq 2>/dev/null || missing+=(libzmq3-dev)
pkg-config --exists zlib 2>/dev/null || missing+=(zlib1g-dev)
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing+=(dataset-fashion-mnist)
if $tests; then
  # The Python client's end-to-end test (Sources/fedsim-python): pyzmq and NumPy for Debian's python3.
  /usr/bin/python3 -c 'import zmq, numpy' >/dev/null 2>&1 || missing+=(python3-zmq python3-numpy)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || missing+=(iptables)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null 2>&1 || { echo "error: swift is not on PATH (FedSim needs Swift 6.1 or later)" >&2; exit 1; }
