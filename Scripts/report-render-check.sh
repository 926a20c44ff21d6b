#!/usr/bin/env bash
# Renders a comparison's report.html in headless Chromium (Debian's `chromium`) and checks that
# the page rendered: a screenshot that is not blank and holds many colours, and a rendered DOM
# with the expected charts, lines, heat-map cells and table rows. Prints the counts.
#   Scripts/report-render-check.sh COMPARE_DIR VARIANTS     (exit 77 when Chromium is absent)
set -euo pipefail
dir="$(cd "$1" && pwd)"
variants="$2"
chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$chrome" ]; then
  echo "skipped: no chromium on PATH (Scripts/install-deps.sh --tests installs Debian's chromium)"
  exit 77
fi
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --disable-dev-shm-usage --no-first-run
  --user-data-dir="$dir/.chromium-profile")
# Half the device scale: the page is laid out 1400 CSS pixels wide, and the PNG to decode below is
# a quarter of the full-scale one's pixels. One launch writes the screenshot and prints the DOM.
timeout 120 "$chrome" "${flags[@]}" --window-size=1400,9000 --force-device-scale-factor=0.5 \
  --screenshot="$dir/screenshot.png" --dump-dom "file://$dir/report.html" >"$dir/rendered.html" 2>"$dir/chromium.log"
rm -rf "$dir/.chromium-profile"
/usr/bin/python3 - "$dir" "$variants" <<'PY'
import re, struct, sys, zlib
directory, variants = sys.argv[1], int(sys.argv[2])

def png_pixels(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), f"PNG colour type {colour}, depth {depth}"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, previous = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    try:
        import numpy  # None, Sub and Up rows (most of Chromium's) unfiltered whole, not byte by byte
    except ImportError:
        numpy = None
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if numpy is not None and kind in (0, 1, 2):
            row = numpy.frombuffer(bytes(line), dtype=numpy.uint8)
            if kind == 1:
                row = numpy.cumsum(row.reshape(width, channels), axis=0, dtype=numpy.uint8).reshape(-1)
            elif kind == 2:
                row = row + numpy.frombuffer(bytes(previous), dtype=numpy.uint8)
            line = bytearray(row.tobytes())
            rows.append(bytes(line)); previous = line
            continue
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1: line[i] = (line[i] + a) & 255
            elif kind == 2: line[i] = (line[i] + b) & 255
            elif kind == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line)); previous = line
    return width, height, channels, rows

width, height, channels, rows = png_pixels(f"{directory}/screenshot.png")
inked, colours = 0, set()
for row in rows[::3]:
    for x in range(0, width * channels, channels * 3):
        px = row[x:x + 3]
        colours.add(px)
        if px != b"\xff\xff\xff": inked += 1
total = len(rows[::3]) * len(range(0, width * channels, channels * 3))
dom = open(f"{directory}/rendered.html", encoding="utf-8").read()
svgs = dom.count("<svg")
lines = dom.count("<polyline")
cells = len(re.findall(r"data-value=", dom))
table_rows = len(re.findall(r"<tr>", dom))
print(f"screenshot {width}×{height}: {100 * inked / total:.1f} % inked, {len(colours)} colours")
print(f"rendered DOM: {svgs} charts, {lines} lines, {cells} heat-map cells, {table_rows} table rows")
problems = []
if inked / total < 0.02: problems.append("the screenshot is blank")
if len(colours) < 20: problems.append(f"only {len(colours)} colours in the screenshot")
if lines < 3 * variants: problems.append(f"{lines} lines for {variants} variants in 3 line charts")
if table_rows < variants: problems.append(f"{table_rows} table rows for {variants} variants")
if "client accuracy distribution" not in dom: problems.append("no client accuracy distribution chart")
if cells == 0: problems.append("no heat-map cells")
print("rendered" if not problems else "FAILED: " + "; ".join(problems))
sys.exit(1 if problems else 0)
PY
