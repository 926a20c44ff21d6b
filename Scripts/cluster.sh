#!/usr/bin/env bash
# Starts a local FedSim cluster (a coordinator and the topology's client processes) from a
# topology file, installing missing system packages and building fedsim first.
#   Scripts/cluster.sh Topologies/quickstart-cluster.yaml [fedsim cluster options...]
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: Scripts/cluster.sh TOPOLOGY [options]   (see: fedsim cluster --help)" >&2; exit 2; }
exec "$(dirname "$0")/fedsim" cluster "$@"
