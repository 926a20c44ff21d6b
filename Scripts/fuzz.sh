#!/usr/bin/env bash
# Fuzzes what FedSim reads from strangers and files with libFuzzer and AddressSanitizer (Swift's
# toolchain carries both):
# the wire decoder, the topology parser and the CSV, LIBSVM, IDX and .npy loaders
# (Sources/FedFuzzTargets). Each target starts from its committed corpus in Tests/Fuzz/corpus/
# and adds the inputs that find new code there; a crash or a hang (an input over 5 s) leaves
# its input in runs/fuzz/ and stops the script with status 1.
#   Scripts/fuzz.sh                      # every target, 1,000,000 executions each
#   Scripts/fuzz.sh --runs 10000 wire    # a short run of one target
# Reproduce a crash with the plain build: .build/debug/fedsim-fuzz TARGET runs/fuzz/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
runs=1000000
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    wire|topology|csv|libsvm|idx|npy) targets+=("$1"); shift ;;
    *) echo "error: unknown argument '$1' (targets: wire topology csv libsvm idx npy; try --help)" >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(wire topology csv libsvm idx npy)
Scripts/install-deps.sh
# AddressSanitizer too: an out-of-bounds read or a use after free is a crash with its input kept.
# Linked with lld (gold fails on -sanitize=fuzzer,address with an internal error).
swift build --scratch-path .build-fuzz --product fedsim-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING \
  -Xswiftc -use-ld=lld >&2
binary=.build-fuzz/debug/fedsim-fuzz
mkdir -p runs/fuzz
for target in "${targets[@]}"; do
  corpus="Tests/Fuzz/corpus/$target"
  mkdir -p "$corpus"
  log="runs/fuzz/$target.log"
  echo "fuzzing $target: $runs executions from $(ls "$corpus" | wc -l) corpus input(s) (log: $log)"
  # Swift's own crash reporter off, so libFuzzer catches the trap and saves the input.
  if ! SWIFT_BACKTRACE=enable=no FEDSIM_FUZZ_TARGET="$target" "$binary" -runs="$runs" -max_len=4096 -timeout=5 -rss_limit_mb=2048 \
      -artifact_prefix="runs/fuzz/$target-" -print_final_stats=1 "$corpus" > "$log" 2>&1; then
    echo "error: $target: a crash or hang; its input is in runs/fuzz/ (see $log)" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  grep -E "stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb" "$log" | sed "s/^/  /"
done
