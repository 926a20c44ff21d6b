#!/usr/bin/env bash
# A federation across hosts, for real, on one machine: a coordinator and two client processes in
# three network namespaces of their own, joined by veth pairs to a bridge in a fourth, each on
# its own 10.77.0.x address (nothing outside the namespaces is touched). The clients' links get
# 15 ± 5 ms delay and 2 % loss each way (`tc netem`, or Scripts/link-impair.py on an NFQUEUE where
# the kernel has no netem); mid-run one client's link is cut for a few seconds. The
# run uses CURVE (the addresses are not loopback), quorum 1.0 and retries, so the cut client is
# declared dead, its round is retried after it rejoins, and the final weights equal the
# single-process run's. Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN); exits 77 ("skipped") where
# namespaces cannot be made.
#   Scripts/netns-test.sh [path/to/fedsim]      (default: .build/debug/fedsim)
set -euo pipefail
cd "$(dirname "$0")/.."
fedsim=$(realpath "${1:-.build/debug/fedsim}")
[ -x "$fedsim" ] || { echo "error: $fedsim is not built (swift build)" >&2; exit 2; }
tag="fs$$"
hub="$tag-hub"
names=(coord c1 c2)
work=$(mktemp -d)
cleanup() {
  for n in "${names[@]}"; do ip netns pids "$tag-$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; done
  for n in "${names[@]}" hub; do ip netns del "$tag-$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
if ! ip netns add "$hub" 2>/dev/null; then
  echo "skipped: network namespaces are not permitted here (needs root)"
  exit 77
fi
ip netns exec "$hub" ip link add br0 type bridge
ip netns exec "$hub" ip link set br0 up
i=1
for n in "${names[@]}"; do
  ns="$tag-$n"
  ip netns add "$ns"
  ip link add "v$i-$tag" type veth peer name "h$i-$tag"
  ip link set "v$i-$tag" netns "$ns"
  ip link set "h$i-$tag" netns "$hub"
  ip netns exec "$hub" ip link set "h$i-$tag" master br0 up
  ip netns exec "$ns" ip addr add "10.77.0.$i/24" dev "v$i-$tag"
  ip netns exec "$ns" ip link set "v$i-$tag" up
  ip netns exec "$ns" ip link set lo up
  if [ "$n" != coord ]; then
    # 15 ± 5 ms and 2 % loss each way: netem where the kernel has it, else the same impairment
    # from Scripts/link-impair.py through an NFQUEUE (real kernel packets, dropped or held).
    if ip netns exec "$ns" tc qdisc add dev "v$i-$tag" root netem delay 15ms 5ms loss 2% 2>/dev/null; then
      impaired="netem"
    elif command -v iptables >/dev/null &&
      ip netns exec "$ns" iptables -A OUTPUT -o "v$i-$tag" -j NFQUEUE --queue-num "$i" --queue-bypass &&
      ip netns exec "$ns" iptables -A INPUT -i "v$i-$tag" -j NFQUEUE --queue-num "$i" --queue-bypass; then
      ip netns exec "$ns" python3 Scripts/link-impair.py --queue "$i" --delay 15 --jitter 5 --loss 2 --seed "$i" \
        --ready "$work/impair-$i" > "$work/impair-$i.log" 2>&1 &
      for _ in $(seq 100); do [ -f "$work/impair-$i" ] && break; sleep 0.05; done
      [ -f "$work/impair-$i" ] || { echo "error: link-impair.py did not start" >&2; cat "$work/impair-$i.log" >&2; exit 1; }
      impaired="link-impair.py (this kernel has no sch_netem)"
    else
      impaired=""
    fi
  fi
  i=$((i + 1))
done
if [ -n "$impaired" ]; then
  echo "client links: 15 ± 5 ms delay and 2 % loss each way, by $impaired"
else
  echo "note: no netem qdisc and no iptables here: client links without delay and loss"
fi
# Reachability: a TCP connection to a closed port of the coordinator's address is refused at once.
ip netns exec "$tag-c1" python3 -c "
import socket, sys
s = socket.socket(); s.settimeout(3)
try: s.connect(('10.77.0.1', 9))
except ConnectionRefusedError: sys.exit(0)
except OSError as e: sys.exit('error: the namespaces cannot reach each other: %s' % e)
" 

cd "$work"
for k in coordinator a b; do "$fedsim" keys generate "$k" --dir keys >/dev/null; done
printf "a.pub 0-4\nb.pub 5-9\n" > keys/clients.txt
cat > t.yaml <<YAML
name: netns
seed: 42
rounds: 15
data: {source: csv, path: $(realpath "$OLDPWD/Topologies/data/digits.csv"), test_fraction: 0.2, standardize: true}
partition: {scheme: iid}
model: {kind: mlp, hidden: [32]}
clients:
  count: 10
  per_round: 5
  local: {epochs: 3, batch_size: 16}
  optimizer: {name: adamw, lr: 0.003, weight_decay: 0.01}
  state: persist
cluster:
  endpoint: tcp://10.77.0.1:5555
  heartbeat_interval: 0.2
  liveness: 4
  round_timeout: 2
  quorum: 1.0
  on_quorum_failure: retry
  retries: 40
  join_timeout: 30
  curve: {coordinator: keys/coordinator.pub, clients: keys/clients.txt}
YAML
"$fedsim" run t.yaml --out single --quiet >/dev/null
expected=$(python3 -c "import json; print(json.load(open('single/summary.json'))['final_weights_hash'])")

timeout 180 ip netns exec "$tag-coord" "$fedsim" coordinator t.yaml --key keys/coordinator.key --out run \
  --quiet > coordinator.log 2>&1 &
coordinator=$!
sleep 0.5
timeout 180 ip netns exec "$tag-c1" "$fedsim" client t.yaml --clients 0-4 --key keys/a.key --state-dir s1 \
  > c1.log 2>&1 &
timeout 180 ip netns exec "$tag-c2" "$fedsim" client t.yaml --clients 5-9 --key keys/b.key --state-dir s2 \
  > c2.log 2>&1 &
# Cut client 2's link once a few rounds are done, for 3 s, then restore it.
for _ in $(seq 600); do
  [ -f run/rounds.jsonl ] && [ "$(wc -l < run/rounds.jsonl)" -ge 4 ] && break
  sleep 0.05
done
ip netns exec "$tag-c2" ip link set "v3-$tag" down
echo "cut client process 2's link after round $(( $(wc -l < run/rounds.jsonl) - 1 ))"
sleep 3
ip netns exec "$tag-c2" ip link set "v3-$tag" up
echo "restored it"
status=0
wait "$coordinator" || status=$?
for n in c1 c2; do ip netns pids "$tag-$n" | xargs -r kill -TERM 2>/dev/null || true; done
sleep 0.3
cat "$work"/impair-*.log 2>/dev/null | sed 's/^/  link: /' || true
got=$(python3 -c "import json; print(json.load(open('run/summary.json'))['final_weights_hash'])" 2>/dev/null || echo none)
dead=$(grep -c "declared dead" run/events.log || true)
echo "coordinator exit $status; final weights $got (single process: $expected); peers declared dead: $dead"
grep -E "declared dead|joined with|quorum" run/events.log | head -8 | sed 's/^/  /'
if [ "$status" -ne 0 ] || [ "$got" != "$expected" ] || [ "$dead" -lt 1 ]; then
  echo "FAILED" >&2
  tail -5 coordinator.log c1.log c2.log >&2 || true
  exit 1
fi
echo "passed: the cut client was dropped, rejoined, and the weights equal the single-process run"
