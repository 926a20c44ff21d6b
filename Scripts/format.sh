#!/usr/bin/env bash
# Formats every Swift file with swift-format (the toolchain's `swift format`) under
# Scripts/swift-format.json: 4-space indentation, lines of at most 120 columns.
#   Scripts/format.sh           rewrite the files in place
#   Scripts/format.sh --check   change nothing; fail (exit 1) if a file is not formatted or a line is too long
set -euo pipefail
cd "$(dirname "$0")/.."
config=Scripts/swift-format.json
if [ "${1:-}" = "--check" ]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  # The fuzz corpora are data, not Swift (and grow while Scripts/fuzz.sh runs): leave them out.
  tar --exclude=Tests/Fuzz -cf - Sources Tests | tar -xf - -C "$scratch"
  swift format --in-place --parallel --recursive --configuration "$config" "$scratch/Sources" "$scratch/Tests"
  status=0
  diff -ru Sources "$scratch/Sources" >/dev/null || { echo "error: Sources is not formatted: run Scripts/format.sh" >&2; status=1; }
  diff -ru -x Fuzz Tests "$scratch/Tests" >/dev/null || { echo "error: Tests is not formatted: run Scripts/format.sh" >&2; status=1; }
  long=$(python3 - <<'PY'
import pathlib
for p in sorted(pathlib.Path('.').glob('Sources/**/*.swift')) + sorted(pathlib.Path('.').glob('Tests/**/*.swift')):
    for i, line in enumerate(p.read_text(encoding='utf-8').split('\n'), 1):
        if len(line) > 120:
            print(f"{p}:{i}: {len(line)} columns")
PY
)
  if [ -n "$long" ]; then echo "error: lines over 120 columns:" >&2; echo "$long" >&2; status=1; fi
  exit $status
fi
swift format --in-place --parallel --recursive --configuration "$config" Sources Tests
