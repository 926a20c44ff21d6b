#!/usr/bin/env bash
# Installs the system packages FedSim builds against, if any is missing (Debian/Ubuntu):
# pkg-config and ZeroMQ (libzmq3-dev).
set -euo pipefail
missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists libzmq 2>/dev/null || missing+=(libzmq3-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null 2>&1 || { echo "error: swift is not on PATH (FedSim needs Swift 6.1 or later)" >&2; exit 1; }
