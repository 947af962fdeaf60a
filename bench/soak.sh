#!/usr/bin/env bash
# The soak (issue 16): steady load through the router of `shadowing up` with mirroring on and shadow lifecycles
# running, sampling the `up` process's resident memory, open descriptors and threads every SAMPLE_EVERY seconds
# (default 10). A shadow is requested at the start and again every CYCLE minutes (default 5), each for CYCLE - 1
# minutes, so lifecycles keep going through provision, warm-up (mirroring at Shadowing:Sep:MirrorPercent), validation,
# PreWarmed, hold, drain and retirement, and a leak in any of them shows. Memory follows the lifecycles: it climbs while
# a shadow lives and falls after it retires (by about 50 MB in a 30-minute run with 10-minute cycles), so growth is read
# per whole cycle after the warm-up: the mean of every sample in each cycle, and a least-squares line through those
# means read at the start and end of the whole cycles (a steady leak shows in full, and so does one that comes with each
# lifecycle, whatever the phase). A line through the samples themselves, or the medians of a minute at each end, read
# where in its cycle the run stopped when the window is not a whole number of cycles (25 minutes of 10-minute cycles
# ended on a climb); both are printed beside it, with each cycle's lowest and highest sample. The default cycle (5
# minutes) makes the 25 minutes after the warm-up five whole cycles; time after the last whole cycle is left out.
# The bar: memory, descriptors and threads each grow by less than 5 %, no request fails, and a shadow reached
# PreWarmed. Exits 1 when the bar is missed (or fewer than two whole cycles are covered by samples).
# Usage: bash bench/soak.sh [minutes] [warm-up minutes] [req/s]   (default 30, 5, 500; installs hey with apt-get)
#   SHADOWING_CLI=path/to/shadowing.dll uses a CLI already built instead of building it (Release) first.
#   GCDUMP=1 also takes a managed-heap dump (dotnet-gcdump, installed as a global tool if missing) at the end of the
#   warm-up and at the end, and prints the largest types of each: growth there is the process's own objects, growth
#   outside it is the runtime's or native memory.
#   COUNTERS=1 also records the runtime's counters (dotnet-counters, System.Runtime, every SAMPLE_EVERY seconds) and
#   prints the growth of the GC's committed memory and heap size beside RSS's: RSS growing with them is the GC's,
#   without them native; and the methods the JIT compiled in the warm-up and in each cycle (a runtime still compiling
#   has not reached its steady state).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib/load.sh
source "$root/bench/lib/load.sh"
minutes="${1:-30}"
warmup="${2:-5}"
rate="${3:-500}"
every="${SAMPLE_EVERY:-10}"
cycle="${CYCLE:-5}"
for value in "$minutes" "$cycle" "$every"; do
  [[ "$value" =~ ^[1-9][0-9]*$ ]] || { echo "minutes, CYCLE and SAMPLE_EVERY must be positive whole numbers; got '$value'" >&2; exit 2; }
done
[[ "$warmup" =~ ^[0-9]+$ ]] || { echo "warm-up minutes must be a whole number; got '$warmup'" >&2; exit 2; }
connections=16
ensure_tools hey curl python3

work="$(mktemp -d)"
pids=()
trap stop_pids EXIT

cli="${SHADOWING_CLI:-}"
if [ -z "$cli" ]; then
  echo "== building the CLI (Release)"
  dotnet build "$root/cli/Shadowing.Cli" -c Release -o "$work/cli" -v quiet -nologo | tail -n 1
  cli="$work/cli/shadowing.dll"
fi

router=$(free_port); admin=$(free_port)
cat >"$work/up.json" <<JSON
{
  "Urls": "http://127.0.0.1:$router",
  "Logging": { "LogLevel": { "Default": "Warning", "Shadowing": "Warning" } },
  "Shadowing": { "Embedded": { "StatePath": "$work/state.db" }, "Admin": { "Urls": "http://127.0.0.1:$admin" } },
  "Samples": {
    "orders": {
      "MaxLatencyMs": 500,
      "Production": [
        { "Id": "orders-1", "Port": 0, "Capacity": 64, "LatencyMs": 1, "ErrorRate": 0.0 },
        { "Id": "orders-2", "Port": 0, "Capacity": 64, "LatencyMs": 1, "ErrorRate": 0.0 }
      ]
    }
  }
}
JSON
(cd "$work" && exec dotnet "$cli" up --config "$work/up.json" >"$work/up.log" 2>&1) &
up_pid=$!
pids+=($up_pid)
wait_for_200 "http://127.0.0.1:$router/orders/items/42" "the router"
wait_for_200 "http://127.0.0.1:$admin/api/routing" "the status API"

phases() {
  curl -s "http://127.0.0.1:$admin/api/services/orders" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
print(" ".join("%s=%s" % (s.get("id"), s.get("phase")) for s in doc.get("shadows", [])) or "(no shadow)")' 2>/dev/null || echo "(status API unavailable)"
}
request_shadow() {
  curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
    -d "{\"count\":1,\"duration\":\"$(python3 -c "import datetime; print(datetime.timedelta(seconds=max(60, ($cycle - 1) * 60)))")\",\"reason\":\"soak\"}" \
    "http://127.0.0.1:$admin/api/services/orders/shadows"
}

total=$((minutes * 60))
echo "== ${minutes} min at $rate req/s over $connections connections; warm-up ${warmup} min; a sample every ${every} s; a shadow every ${cycle} min"
echo "   machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), .NET $(dotnet --version)"
hey -z "${total}s" -c "$connections" -q "$(python3 -c "print($rate / $connections)")" -t 10 \
  "http://127.0.0.1:$router/orders/items/42" >"$work/load.txt" 2>&1 &
load=$!
pids+=($load)
if [ "${COUNTERS:-0}" = 1 ]; then
  command -v dotnet-counters >/dev/null || dotnet tool install -g dotnet-counters >/dev/null 2>&1 || true
  PATH="$PATH:$HOME/.dotnet/tools" dotnet-counters collect -p "$up_pid" --counters System.Runtime --refresh-interval "$every" \
    --format csv -o "$work/counters.csv" >/dev/null 2>&1 &
  pids+=($!)
fi

printf '%8s %10s %6s %8s  %s\n' "t (s)" "rss (KiB)" fds threads shadows | tee "$work/samples.txt"
start=$(date +%s)
next_request=0
gcdump_warm=""
gcdump() {
  command -v dotnet-gcdump >/dev/null || dotnet tool install -g dotnet-gcdump >/dev/null 2>&1 || true
  PATH="$PATH:$HOME/.dotnet/tools" dotnet-gcdump collect -p "$up_pid" -o "$1" >/dev/null 2>&1 || echo "   (gcdump failed)" >&2
}
while kill -0 "$load" 2>/dev/null; do
  t=$(( $(date +%s) - start ))
  if [ "$t" -ge "$next_request" ]; then
    echo "   shadow requested: HTTP $(request_shadow)" >>"$work/requests.txt"
    next_request=$((next_request + cycle * 60))
  fi
  kill -0 "$up_pid" 2>/dev/null || { echo "shadowing up exited; its log:" >&2; tail -n 50 "$work/up.log" >&2; exit 1; }
  printf '%8s %10s %6s %8s  %s\n' "$t" "$(rss_kb "$up_pid")" "$(fds "$up_pid")" "$(threads "$up_pid")" "$(phases)" | tee -a "$work/samples.txt"
  echo "$t $(awk '/^(RssAnon|RssFile|RssShmem):/ {printf "%s ", $2}' "/proc/$up_pid/status")" >>"$work/parts.txt"
  if [ "${GCDUMP:-0}" = 1 ] && [ -z "$gcdump_warm" ] && [ "$t" -ge $((warmup * 60)) ]; then
    gcdump_warm="$work/warm.gcdump"; gcdump "$gcdump_warm"
  fi
  sleep "$every"
done
wait "$load" || true
# glibc's arenas beyond the main one are heaps of 64 MiB reserved at 64 MiB-aligned addresses, the part in use
# read-write and the rest inaccessible: count those in the process's map (MallocArenas caps them at 2 unless
# MALLOC_ARENA_MAX is set).
arenas=$(python3 - "/proc/$up_pid/maps" <<'PY'
import sys
heap = 64 << 20
rows = []
for line in open(sys.argv[1]):
    fields = line.split()
    if len(fields) == 5:  # anonymous
        lo, hi = (int(x, 16) for x in fields[0].split("-"))
        rows.append((lo, hi, fields[1]))
count = 0
for i, (lo, hi, perms) in enumerate(rows):
    if lo % heap or not perms.startswith("rw"):
        continue
    end = hi
    if hi - lo < heap and i + 1 < len(rows) and rows[i + 1][0] == hi and rows[i + 1][2].startswith("---"):
        end = rows[i + 1][1]
    count += end - lo == heap
print(count + 1)
PY
) || arenas="?"
echo "   malloc arenas at the end (the main one and the 64 MiB heaps in /proc/$up_pid/maps): $arenas; MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-unset}"
if [ "${GCDUMP:-0}" = 1 ]; then
  gcdump "$work/end.gcdump"
  for dump in "$gcdump_warm" "$work/end.gcdump"; do
    [ -f "$dump" ] || continue
    echo "== managed heap at $(basename "$dump" .gcdump): the largest types"
    PATH="$PATH:$HOME/.dotnet/tools" dotnet-gcdump report "$dump" 2>/dev/null | head -n 18
  done
fi
run_load_summary="$(python3 - "$work/load.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
codes = re.findall(r"\[(\d+)\]\s+(\d+) responses", text)
ok = sum(int(n) for c, n in codes if c == "200")
errors = sum(int(n) for c, n in codes if c != "200")
if "Error distribution:" in text:
    errors += sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]", text.split("Error distribution:")[1], re.M))
rate = re.search(r"Requests/sec:\s*([0-9.]+)", text)
print(ok, errors, rate.group(1) if rate else "0")
PY
)"
read -r ok errors achieved <<<"$run_load_summary"

echo
python3 - "$work/samples.txt" "$warmup" "$ok" "$errors" "$achieved" "$( [ "${COUNTERS:-0}" = 1 ] && echo "$work/counters.csv" )" "$work/parts.txt" "$cycle" "$every" "$minutes" <<'PY'
import statistics, sys
path, warmup, ok, errors, achieved = sys.argv[1], float(sys.argv[2]) * 60, int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
cycle, every, total = float(sys.argv[8]) * 60, float(sys.argv[9]), float(sys.argv[10]) * 60
rows = []
for line in open(path).read().splitlines()[1:]:
    parts = line.split(None, 4)
    if len(parts) >= 4 and parts[1].isdigit():
        rows.append((int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3]), parts[4] if len(parts) > 4 else ""))
after = [r for r in rows if r[0] >= warmup]
prewarmed = any("PreWarmed" in r[4] for r in rows)
print(f"requests: {ok} answered 200 at {achieved} req/s, {errors} failed; a shadow reached PreWarmed: {'yes' if prewarmed else 'no'}")
if len(after) < 2:
    print("too few samples after the warm-up to measure growth")
    sys.exit(1)
k = max(1, min(6, len(after) // 3))
ok_all = errors == 0 and prewarmed
def fit(points):
    # least-squares line through (x, value) points: a function of x
    n = len(points)
    mx = sum(x for x, _ in points) / n
    mv = sum(v for _, v in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if not sxx:
        raise SystemExit("every point has the same time: no growth can be read")
    slope = sum((x - mx) * (v - mv) for x, v in points) / sxx
    return lambda x: mv + slope * (x - mx)
def trend(points):
    line = fit(points)
    return line(points[0][0]), line(points[-1][0])
# The whole cycles after the warm-up, as the run was designed: [warm-up + i·cycle, warm-up + (i+1)·cycle) for as many as
# fit in the run. Each must be covered by samples (at least 80 % of the expected count, the last within two sampling
# intervals of its end), or no growth is read.
n_cycles = int((total - warmup) // cycle)
cycles = [[r for r in after if warmup + i * cycle <= r[0] < warmup + (i + 1) * cycle] for i in range(n_cycles)]
short = [i for i, c in enumerate(cycles) if len(c) < 0.8 * cycle / every or c[-1][0] < warmup + (i + 1) * cycle - 2 * every]
def per_cycle(means):
    # the line through the cycle means (each at its cycle's middle), read at the start and end of the whole cycles
    line = fit([(i + 0.5, m) for i, m in enumerate(means)])
    return line(0), line(len(means))
if n_cycles < 2 or short:
    print(f"per-cycle growth not read: {n_cycles} whole {cycle / 60:g}-minute cycle(s) after the warm-up"
          + (f", cycle(s) {', '.join(str(i + 1) for i in short)} not covered by samples" if short else "") + " (two or more are needed)")
    ok_all = False
    cycles = []
else:
    left = total - warmup - n_cycles * cycle
    print(f"growth over {n_cycles} whole {cycle / 60:g}-minute cycles, t = {warmup:.0f}–{warmup + n_cycles * cycle:.0f} s: a least-squares "
          f"line through each cycle's mean, read at the start and end of those cycles (the bar)"
          f"{f'; the last {left:.0f} s are not a whole cycle and are left out' if left else ''}; for reference, a line through "
          f"all {len(after)} samples and the medians of the first and last {k}")
for name, col in (("memory (RSS)", 1), ("descriptors", 2), ("threads", 3)):
    lstart, lend = trend([(r[0], r[col]) for r in after])
    first = statistics.median(r[col] for r in after[:k])
    last = statistics.median(r[col] for r in after[-k:])
    if cycles:
        means = [statistics.fmean(r[col] for r in c) for c in cycles]
        start, end = per_cycle(means)
        growth = (end - start) / start * 100 if start > 0 else float("inf")
        ok_all &= growth < 5
        lows = [min(r[col] for r in c) for c in cycles]
        highs = [max(r[col] for r in c) for c in cycles]
        print(f"{name:<13} cycle means {' '.join(f'{m:.0f}' for m in means)}  line {start:.0f} -> {end:.0f}  growth {growth:+6.2f} %")
        print(f"{'':<13} cycle lows {' '.join(map(str, lows))} ({(lows[-1] - lows[0]) / lows[0] * 100:+.2f} %), "
              f"highs {' '.join(map(str, highs))} ({(highs[-1] - highs[0]) / highs[0] * 100:+.2f} %)")
    print(f"{'' if cycles else name:<13} samples' line {lstart:.0f} -> {lend:.0f} {(lend - lstart) / lstart * 100:+6.2f} %   medians {first:.0f} -> {last:.0f} "
          f"{(last - first) / first * 100:+6.2f} %   range {min(r[col] for r in after)}–{max(r[col] for r in after)}, sd {statistics.pstdev(r[col] for r in after):.0f}")
print(f"bar (the line through the cycle means grows < 5 % each, 0 failed, a shadow PreWarmed): {'met' if ok_all else 'missed'}")
def growth_line(name, at, values):
    # as RSS above: the line through the means of the same whole cycles, the samples' line and the medians beside it
    points = [(t, v) for t, v in zip(at, values) if t >= warmup]
    if len(points) < 2 or len({t for t, _ in points}) < 2:
        return
    start, end = trend(points)
    a, b = statistics.median(v for _, v in points[:k]), statistics.median(v for _, v in points[-k:])
    windows = [[v for t, v in points if warmup + i * cycle <= t < warmup + (i + 1) * cycle] for i in range(len(cycles))]
    by_cycle = "   (no whole cycles)"
    if cycles and all(windows):
        cstart, cend = per_cycle([statistics.fmean(w) for w in windows])
        by_cycle = f"cycles {cstart:>10.1f} -> {cend:>10.1f}  growth {(cend - cstart) / cstart * 100:+6.2f} %" if cstart > 0 else by_cycle
    if start > 0 and a > 0:
        print(f"{name:<26} {by_cycle}   samples' line {(end - start) / start * 100:+6.2f} %   medians {a:>10.1f} -> {b:>10.1f}  {(b - a) / a * 100:+6.2f} %")

# Where RSS is: anonymous (the GC's heap and native allocations), file-backed (mapped assemblies, touched as code
# runs) and shared (JIT'd code: the runtime maps it twice, writable and executable, through shared memory).
import os
parts = [line.split() for line in open(sys.argv[7]).read().splitlines()] if len(sys.argv) > 7 and os.path.exists(sys.argv[7]) else []
parts = [p for p in parts if len(p) == 4]
if parts:
    at = [int(p[0]) for p in parts]
    for i, name in ((1, "RSS anonymous (KiB)"), (2, "RSS file-backed (KiB)"), (3, "RSS shared (KiB)")):
        growth_line(name, at, [float(p[i]) for p in parts])
if len(sys.argv) > 6 and sys.argv[6]:
    import csv, os
    if os.path.exists(sys.argv[6]):
        by_time = {}
        for row in csv.reader(open(sys.argv[6])):
            if len(row) < 5 or row[0] == "Timestamp":
                continue
            try:
                value = float(row[4])
            except ValueError:
                continue
            sample = by_time.setdefault(row[0], {})
            for key, label in (("committed_size", "GC committed (MB)"), ("heap.size", "GC heap after GC (MB)"),
                               ("fragmentation", "GC fragmentation (MB)"), ("working_set", "working set (MB)")):
                if key in row[2]:
                    sample[label] = sample.get(label, 0) + value / 1e6
            if "jit.compiled_methods" in row[2]:
                sample["compiled"] = value
        times = list(by_time)
        # counters start with the load: the n-th is about n * SAMPLE_EVERY seconds in
        step = float(os.environ.get("SAMPLE_EVERY", "10"))
        for label in ("GC committed (MB)", "GC heap after GC (MB)", "GC fragmentation (MB)", "working set (MB)"):
            values = [by_time[t].get(label) for t in times]
            pairs = [(i * step, v) for i, v in enumerate(values) if v is not None]
            if pairs:
                growth_line(label, [p[0] for p in pairs], [p[1] for p in pairs])
        # Methods the JIT compiled (each counter value is a count per interval): still compiling late in the run means the
        # runtime has not reached its steady state, and its code and data keep growing with it.
        compiled = [(i * step, by_time[t].get("compiled", 0)) for i, t in enumerate(times)]
        if cycles:
            warm = sum(v for t, v in compiled if t < warmup)
            per = [sum(v for t, v in compiled if warmup + i * cycle <= t < warmup + (i + 1) * cycle) for i in range(len(cycles))]
            print(f"{'JIT-compiled methods':<26} warm-up {warm:.0f}, then per cycle {' '.join(f'{v:.0f}' for v in per)}")
sys.exit(0 if ok_all else 1)
PY
