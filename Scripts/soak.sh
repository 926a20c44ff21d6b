#!/usr/bin/env bash
# A bounded soak of a local cluster: 2,000 rounds of 100 virtual clients (10 per round) in 4
# client processes over tcp://127.0.0.1, with a client process killed (SIGKILL) and restarted
# every 50 rounds, the coordinator killed once mid-run and resumed, and a hostile peer sending
# garbage, wrong-run and never-said-HELLO frames throughout. Quorum 1.0 with retries, so every
# round has all its clients: the final weights must equal a clean single-process run's. Prints
# the coordinator's RSS and open file descriptors (after warm-up and at the end: flat within
# 10 %, no fd growth), the kills and the rejections. Exits 1 if a check fails.
#   Scripts/soak.sh [--rounds N] [--kill-every K]     (defaults 2000 and 50)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=2000
every=50
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --kill-every) every="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
Scripts/install-deps.sh
swift build -c release --product fedsim >&2
fedsim=$(realpath .build/release/fedsim)
venv=$(pwd)/.build/soak-venv
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import zmq" 2>/dev/null || {
  python3 -m venv "$venv" && "$venv/bin/pip" install -q pyzmq
}
work=$(mktemp -d)
pids=()
keep=0
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  if [ "$keep" -eq 1 ]; then echo "kept $work for a look" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
port=$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
endpoint="tcp://127.0.0.1:$port"
digits=$(realpath Topologies/data/digits.csv)
cat > "$work/t.yaml" <<YAML
name: soak
seed: 7
rounds: $rounds
data: {source: csv, path: $digits, standardize: true}
model: {kind: mlp, hidden: [16]}
clients: {count: 100, per_round: 10, local: {epochs: 1, batch_size: 16}, optimizer: {name: adamw, lr: 0.003}}
cluster: {endpoint: $endpoint, heartbeat_interval: 0.2, liveness: 3, round_timeout: 2, quorum: 1.0,
          on_quorum_failure: retry, retries: 100, join_timeout: 60}
YAML
cd "$work"
echo "clean single-process run ..."
"$fedsim" run t.yaml --out clean --quiet >/dev/null
expected=$(python3 -c "import json; print(json.load(open('clean/summary.json'))['final_weights_hash'])")

rounds_done() { [ -f run/rounds.jsonl ] && echo $(( $(wc -l < run/rounds.jsonl) - 1 )) || echo 0; }
start_coordinator() {
  "$fedsim" coordinator "$@" --endpoint "$endpoint" --quiet >> coordinator.log 2>&1 &
  coordinator=$!
  pids+=("$coordinator")
}
ranges=(0-24 25-49 50-74 75-99)
client=()
start_client() {
  "$fedsim" client t.yaml --clients "${ranges[$1]}" --connect "$endpoint" --state-dir state ${SOAK_CLIENT_ARGS:-} >> "client-$1.log" 2>&1 &
  client[$1]=$!
  pids+=("${client[$1]}")
}
cat > hostile.py <<'PY'
import os, random, struct, sys, time, zmq
endpoint, seconds = sys.argv[1], float(sys.argv[2])
random.seed(7)
context = zmq.Context()
socket = context.socket(zmq.DEALER)
socket.setsockopt(zmq.LINGER, 0)
socket.setsockopt(zmq.SNDHWM, 100)
socket.connect(endpoint)
sent, deadline = 0, time.time() + seconds
while time.time() < deadline and sent < 200000:
    kind = sent % 3
    if kind == 0:
        frames = [os.urandom(random.randint(1, 64))]                       # garbage
    elif kind == 1:
        frames = [b"FSIM" + struct.pack("<HBBQ", 1, 3, 0, 0xDEADBEEF)]      # another run's heartbeat
    else:
        frames = [b"FSIM" + struct.pack("<HBBQ", 9, 3, 0, 0)]               # another protocol version
    try:
        socket.send_multipart(frames, flags=zmq.NOBLOCK)
        sent += 1
    except zmq.Again:
        pass
    time.sleep(0.005)
    if sent % 1000 == 0:
        print(1000)  # one line per thousand frames sent
PY
start_coordinator t.yaml --out run
sleep 0.3
for k in 0 1 2 3; do start_client "$k"; done
start_hostile() {
  "$venv/bin/python" -u hostile.py "$endpoint" 100000 >> hostile.out 2>&1 &
  hostile=$!
  pids+=("$hostile")
}
start_hostile
kills=0
next_kill=$every
coordinator_killed=${SOAK_NO_COORDINATOR_KILL:+2}
coordinator_killed=${coordinator_killed:-0}
sample() { echo "$(ps -o rss= -p "$coordinator" | tr -d ' ') $(ls /proc/"$coordinator"/fd | wc -l)"; }
warm=""
deadline=$(( $(date +%s) + 1800 ))
while kill -0 "$coordinator" 2>/dev/null; do
  done_rounds=$(rounds_done)
  [ $(date +%s) -lt $deadline ] || { echo "error: the soak ran past 30 minutes" >&2; exit 1; }
  if [ "$coordinator_killed" -eq 0 ] && [ "$done_rounds" -ge $(( rounds / 2 )) ]; then
    kill -9 "$coordinator"; wait "$coordinator" 2>/dev/null || true
    echo "killed the coordinator after round $done_rounds; resuming"
    coordinator_killed=1
    start_coordinator --resume run
    kill "$hostile" 2>/dev/null || true
    start_hostile  # a new connection to the new coordinator
    warm=""
    next_kill=$(( done_rounds + every ))
    continue
  fi
  if [ -z "$warm" ] && [ "$coordinator_killed" -ge 1 ] && [ "$(rounds_done)" -ge $(( rounds / 2 + 100 )) ]; then
    warm=$(sample || true)
  fi
  if [ "$done_rounds" -ge "$next_kill" ] && [ "$done_rounds" -lt "$rounds" ]; then
    k=$(( kills % 4 ))
    kill -9 "${client[$k]}" 2>/dev/null || true
    wait "${client[$k]}" 2>/dev/null || true
    start_client "$k"
    kills=$(( kills + 1 ))
    next_kill=$(( next_kill + every ))
  fi
  # Keep the last complete sample: one taken as the coordinator exits has no RSS or fds.
  now=$(sample 2>/dev/null || true)
  read -r now_rss now_fd <<< "${now:-}"
  [ -n "${now_rss:-}" ] && [ -n "${now_fd:-}" ] && [ "$now_rss" -gt 0 ] 2>/dev/null && end="$now"
  sleep 0.05
done
status=0
wait "$coordinator" || status=$?
kill "$hostile" 2>/dev/null || true
got=$(python3 -c "import json; print(json.load(open('run/summary.json'))['final_weights_hash'])" 2>/dev/null || echo none)
counts=$(python3 -c "
import json; c = json.load(open('run/summary.json'))['counts']
print(' '.join(f'{k}={v}' for k, v in sorted(c.items())))" 2>/dev/null || echo none)
dead=$(grep -c "declared dead" run/events.log || true)
read -r warm_rss warm_fd <<< "${warm:-0 0}"
read -r end_rss end_fd <<< "${end:-0 0}"
echo "rounds: $(rounds_done); coordinator exit $status; final weights $got (clean run $expected)"
echo "client processes killed and restarted: $kills; coordinator killed and resumed: $coordinator_killed; peers declared dead: $dead"
echo "coordinator RSS: $warm_rss kB after warm-up, $end_rss kB at the end; open fds: $warm_fd, then $end_fd"
echo "counts (since the resume): $counts"
ok=1
[ "$status" -eq 0 ] && [ "$got" = "$expected" ] || ok=0
[ "$dead" -ge "$kills" ] || ok=0
hostile_rejected=$(python3 -c "
import json; c = json.load(open('run/summary.json'))['counts']
print(sum(v for k, v in c.items() if k.startswith('rejected.') and k not in ('rejected.duplicate', 'rejected.ids_held',
      'rejected.unknown_peer')))" 2>/dev/null || echo 0)
echo "hostile frames sent: $(awk '{ s += $1 } END { print s + 0 }' hostile.out 2>/dev/null) (in thousands, rounded down); rejected and counted since the resume: $hostile_rejected"
[ "$hostile_rejected" -gt 0 ] || { echo "the hostile peer's frames were not seen"; ok=0; }
if [ "$warm_rss" -gt 0 ]; then
  awk -v a="$warm_rss" -v b="$end_rss" 'BEGIN { exit !(b <= a * 1.10) }' || { echo "RSS grew more than 10 %"; ok=0; }
  [ "$end_fd" -le $(( warm_fd + 2 )) ] || { echo "open file descriptors grew"; ok=0; }
fi
if [ "$ok" -ne 1 ]; then
  first=$(python3 -c "
import json
a = [json.loads(l)['weights_hash'] for l in open('clean/rounds.jsonl')]
b = [json.loads(l)['weights_hash'] for l in open('run/rounds.jsonl')]
print(next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), 'none'))")
  echo "FAILED: the first round whose weights differ from the clean run: $first" >&2
  keep=1
  exit 1
fi
echo "passed"
