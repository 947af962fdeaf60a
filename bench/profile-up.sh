#!/usr/bin/env bash
# Where `up`'s CPU goes under the load bar's load (issue 16): `shadowing up` with one production endpoint and a shadow
# requested through the status API (warmed up, validated, PreWarmed, 10 % mirrored to), driven at 1,000 req/s over
# 16 connections by hey for WARMUP seconds, then profiled for SECONDS while the same load goes on: `perf record -e
# cpu-clock -g -a` (a software clock: these machines have no hardware counters) with DOTNET_PerfMapEnabled=1 so JIT
# frames have names. Prints the machine's idle share and, of the samples in `up` and its sample endpoints, the share
# of the kernel, of native code and of each managed assembly, then the product's own frames (Shadowing.*).
# Usage: bash bench/profile-up.sh [seconds]   (default 25 after a 40 s warm-up; installs hey and linux-perf with apt-get)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib/load.sh
source "$root/bench/lib/load.sh"
seconds="${1:-25}"
warmup="${WARMUP:-40}"
ensure_tools hey curl python3
command -v perf >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null; }

work="$(mktemp -d)"
pids=()
trap stop_pids EXIT

router=$(free_port); admin=$(free_port); production=$(free_port)
echo "== building the CLI (Release)"
dotnet build "$root/cli/Shadowing.Cli" -c Release -o "$work/cli" -v quiet -nologo | tail -n 1
cat >"$work/up.json" <<JSON
{
  "Urls": "http://127.0.0.1:$router",
  "Logging": { "LogLevel": { "Default": "Warning", "Shadowing": "Warning" } },
  "Shadowing": { "Embedded": { "StatePath": "$work/state.db" }, "Admin": { "Urls": "http://127.0.0.1:$admin" } },
  "Samples": { "orders": { "MaxLatencyMs": 500,
    "Production": [ { "Id": "orders-1", "Port": $production, "Capacity": 64, "LatencyMs": 0, "ErrorRate": 0.0 } ] } }
}
JSON
# W^X off: with it on, JIT code is mapped twice and perf attributes its samples to an anonymous mapping, not the map.
(cd "$work" && DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 exec dotnet cli/shadowing.dll up --config "$work/up.json" >"$work/up.log" 2>&1) &
pids+=($!)
up_pid=$!
wait_for_200 "http://127.0.0.1:$router/orders/items/42" "the router"
curl -s -X POST -H 'content-type: application/json' -d '{"count":1,"duration":"01:00:00","reason":"profile"}' \
  "http://127.0.0.1:$admin/api/services/orders/shadows" >/dev/null
echo "== warm-up: ${warmup} s through the router (JIT, the shadow's warm-up)"
run_load warmup "http://127.0.0.1:$router/orders/items/42" "$warmup" 1000 16 "$work"
echo "== profiling ${seconds} s of the same load"
run_load profiled "http://127.0.0.1:$router/orders/items/42" "$((seconds + 8))" 1000 16 "$work" &
load=$!
sleep 3
perf record -q -e cpu-clock -F 499 -g -a -o "$work/perf.data" -- sleep "$seconds" >/dev/null 2>&1
# The threads of `up` and of its children (the sample endpoints), while they still run: perf's pid column is a thread id.
ours=""
for pid in "$up_pid" $(pgrep -P "$up_pid"); do ours="$ours $(ls "/proc/$pid/task" | tr '\n' ' ')"; done
wait "$load"
IFS=$'\t' read -r rate ok errors _ p90 _ <"$work/profiled.tsv"
echo "   load while profiled: $rate req/s, $ok ok, $errors errors, p90 $p90 ms"
perf report -i "$work/perf.data" --no-children --sort pid,sym --stdio -g none -t '|' 2>/dev/null | grep '%' | grep -v '^#' >"$work/symbols.txt"
python3 - "$work/symbols.txt" "$ours" <<'PY'
import collections, re, sys
ours = set(sys.argv[2].split())
total = idle = 0.0
mine = 0.0
by_kind = collections.Counter()
product = collections.Counter()
for line in open(sys.argv[1]):
    parts = [p.strip() for p in line.rstrip("\n").split("|")]
    if len(parts) < 3:
        continue
    share = float(parts[0].rstrip("%"))
    pid = parts[1].split(":")[0].strip()
    total += share
    if pid == "0":
        idle += share
    if pid not in ours:
        continue
    mine += share
    symbol = parts[2]
    if symbol.startswith("[k]"):
        kind = "kernel"
    else:
        m = re.search(r"\[([A-Za-z][A-Za-z0-9.]*)\] [A-Za-z]", symbol[4:])
        kind = m.group(1) if m else "native (runtime, libc)"
        if m and kind.lower().startswith("shadowing"):
            product[symbol[4:].split("(")[0][-110:]] += share
    by_kind[kind] += share
print("machine idle: %.1f %% of samples" % (100 * idle / max(total, 1e-9)))
print("samples in up and its sample endpoints: %.1f %% of the machine's; of those:" % (100 * mine / max(total, 1e-9)))
for kind, share in by_kind.most_common(15):
    print("  %6.1f %%  %s" % (100 * share / max(mine, 1e-9), kind))
own = sum(v for k, v in by_kind.items() if k.lower().startswith("shadowing"))
print("the product's own code (Shadowing.*, shadowing): %.1f %%; its busiest frames:" % (100 * own / max(mine, 1e-9)))
for frame, share in product.most_common(8):
    print("  %6.2f %%  %s" % (100 * share / max(mine, 1e-9), frame))
PY
