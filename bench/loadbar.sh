#!/usr/bin/env bash
# The load bar (issue 16; Dapr's performance tests as the anchor): 1,000 requests per second for 60 s over 16
# connections through the router of `shadowing up`, with a shadow lifecycle running (a shadow requested through the
# status API: provisioned, mirrored to at Shadowing:Sep:MirrorPercent = 10 %, warmed up, validated, PreWarmed, held),
# against the same load sent directly to the production endpoint, in the same run. Prints achieved rate, errors and
# p50/p90/p99 of each, the router's p90 minus the direct one, the shadow's phases during the run and the mirror's
# counters, and the CPU time `up` spent per request in each run (its router, mirror and lifecycle; the sample endpoints
# are processes of their own). The bar: >= 99 % of 1,000 QPS, 0 errors, p90 within 2 ms of direct.
# Each round also sends the same load through plain YARP (bench/ReferenceProxy, run with the runtime settings `up` ships
# with: tiered PGO off, no thread-pool spinning) to the same endpoint: what one .NET proxy hop costs on this machine,
# so the router's own share of its p90 over direct reads as router minus YARP.
# Each round then sends the same three loads again from wrk with evenly spaced requests (bench/lib/paced.lua). hey's 16
# workers tick together, so its requests arrive 16 at once every 16 ms, as those of Dapr's performance tests do (fortio
# without -uniform), and a p90 under hey is mostly the time two cores take to clear such a burst; real clients do not
# synchronise like that. The bar is judged on both and printed for each.
# Environment variables reach `up`: for example DOTNET_TieredPGO=1, or DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=70
# and (through `env`, the name has dots) Logging__LogLevel__Microsoft.AspNetCore.Hosting.Diagnostics=Warning to run
# it as it was before those defaults.
# Usage: bash bench/loadbar.sh [rounds] [seconds]   (default 1 round of 60 s per run after a 30 s warm-up; installs hey
# and wrk with apt-get)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib/load.sh
source "$root/bench/lib/load.sh"
rounds="${1:-1}"
seconds="${2:-60}"
warmup="${WARMUP:-30}"
rate=1000
connections=16
ensure_tools hey wrk curl python3

work="$(mktemp -d)"
pids=()
trap stop_pids EXIT

router=$(free_port); admin=$(free_port); production=$(free_port); yarp=$(free_port)
echo "== building the CLI and the reference proxy (Release)"
dotnet build "$root/cli/Shadowing.Cli" -c Release -o "$work/cli" -v quiet -nologo | tail -n 1
dotnet build "$root/bench/ReferenceProxy" -c Release -o "$work/yarp" -v quiet -nologo | tail -n 1

# One production endpoint (the sample endpoint `up` runs, answering at once) so the direct run hits exactly what the
# router forwards to. Its shadows are more sample endpoints with the same settings.
cat >"$work/up.json" <<JSON
{
  "Urls": "http://127.0.0.1:$router",
  "Logging": { "LogLevel": { "Default": "Warning", "Shadowing": "Warning" } },
  "Shadowing": { "Embedded": { "StatePath": "$work/state.db" }, "Admin": { "Urls": "http://127.0.0.1:$admin" } },
  "Samples": {
    "orders": {
      "MaxLatencyMs": 500,
      "Production": [ { "Id": "orders-1", "Port": $production, "Capacity": 64, "LatencyMs": 0, "ErrorRate": 0.0 } ]
    }
  }
}
JSON
(cd "$work" && exec dotnet cli/shadowing.dll up --config "$work/up.json" >"$work/up.log" 2>&1) &
pids+=($!)
up_pid=$!
(cd "$work" && DOTNET_TieredPGO=0 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 \
  exec dotnet yarp/ReferenceProxy.dll --urls "http://127.0.0.1:$yarp" --upstream "http://127.0.0.1:$production" >"$work/yarp.log" 2>&1) &
pids+=($!)
yarp_pid=$!
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # user + system, all of a process's threads
# The sample endpoints `up` started (production and the shadow): its child processes, each a process of its own.
endpoint_ticks() {
  local total=0 child
  for child in $(pgrep -P "$up_pid" 2>/dev/null); do total=$((total + $(cpu_ticks "$child"))); done
  echo "$total"
}
# measured PID RUNNER NAME ARGS…: RUNNER (run_load: hey, run_paced: wrk) NAME ARGS… and writes PID's CPU ticks during it
# to $work/NAME.cpu, the endpoints' to $work/NAME.endpoints
measured() {
  local pid="$1" runner="$2" before endpoints
  shift 2
  before=$(cpu_ticks "$pid")
  endpoints=$(endpoint_ticks)
  "$runner" "$@"
  echo $(($(cpu_ticks "$pid") - before)) >"$work/$1.cpu"
  echo $(($(endpoint_ticks) - endpoints)) >"$work/$1.endpoints"
}
wait_for_200 "http://127.0.0.1:$router/orders/items/42" "the router"
wait_for_200 "http://127.0.0.1:$production/orders/items/42" "the production endpoint"
wait_for_200 "http://127.0.0.1:$yarp/orders/items/42" "the reference proxy"

phases() { # the shadows' phases, e.g. "orders-s…-1=WarmingUp"
  curl -s "http://127.0.0.1:$admin/api/services/orders" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
print(" ".join("%s=%s" % (s.get("id"), s.get("phase")) for s in doc.get("shadows", [])) or "(no shadow)")' 2>/dev/null || echo "(status API unavailable)"
}

echo "== asking SEP for a shadow for an hour"
curl -s -X POST -H 'content-type: application/json' -d '{"count":1,"duration":"01:00:00","reason":"load bar"}' \
  "http://127.0.0.1:$admin/api/services/orders/shadows" >/dev/null
( while true; do echo "$(date +%T) $(phases)"; sleep 5; done ) >"$work/phases.log" 2>&1 &
pids+=($!)

echo "== warm-up: ${warmup} s through the router (JIT, connection pools, the shadow's warm-up), 10 s through YARP"
run_load warmup "http://127.0.0.1:$router/orders/items/42" "$warmup" "$rate" "$connections" "$work"
run_load warmup-yarp "http://127.0.0.1:$yarp/orders/items/42" 10 "$rate" "$connections" "$work"
echo "   shadow: $(phases)"

for r in $(seq 1 "$rounds"); do
  echo "== round $r: direct, through YARP, then through the router, ${seconds} s each at $rate req/s over $connections connections, from hey, then evenly spaced from wrk"
  for loader in hey wrk; do
    runner=run_load prefix=""
    [ "$loader" = wrk ] && runner=run_paced prefix="paced-"
    measured "$up_pid" "$runner" "${prefix}direct-$r" "http://127.0.0.1:$production/orders/items/42" "$seconds" "$rate" "$connections" "$work"
    measured "$yarp_pid" "$runner" "${prefix}yarp-$r" "http://127.0.0.1:$yarp/orders/items/42" "$seconds" "$rate" "$connections" "$work"
    measured "$up_pid" "$runner" "${prefix}router-$r" "http://127.0.0.1:$router/orders/items/42" "$seconds" "$rate" "$connections" "$work"
  done
done
kill "${pids[-1]}" 2>/dev/null || true

tick=$(getconf CLK_TCK)
per_request() { python3 -c "print('%.0f' % ($(cat "$work/$1.${3:-cpu}") / $tick * 1e6 / max($2, 1)))"; }
row() { # row NAME REFERENCE_P90: one run's line, with its p90 over the reference (empty for none)
  local rate ok err p50 p90 p99 over=""
  IFS=$'\t' read -r rate ok err p50 p90 p99 <"$work/$1.tsv"
  [ -n "$2" ] && over=$(python3 -c "print('%.2f' % (float('$p90') - float('$2')))") # nan when a run printed nothing
  printf '%-16s %10s %8s %7s %7s %7s %7s %12s %14s %14s\n' "$1" "$rate" "$ok" "$err" "$p50" "$p90" "$p99" "$over" "$(per_request "$1" "$ok")" "$(per_request "$1" "$ok" endpoints)"
}
# bar PREFIX: met when every round's router run reached 99 % of the rate with 0 errors and a p90 within 2 ms of direct
bar() {
  local verdict=met d_rate d_ok d_err d50 d90 d99 r_rate r_ok r_err r50 r90 r99
  for r in $(seq 1 "$rounds"); do
    IFS=$'\t' read -r d_rate d_ok d_err d50 d90 d99 <"$work/$1direct-$r.tsv"
    IFS=$'\t' read -r r_rate r_ok r_err r50 r90 r99 <"$work/$1router-$r.tsv"
    python3 -c "import sys; sys.exit(0 if float('$r_rate') >= 0.99 * $rate and int('$r_err') == 0 and float('$r90') - float('$d90') <= 2.0 else 1)" || verdict=missed
  done
  echo "$verdict"
}
for loader in hey wrk; do
  prefix=""
  [ "$loader" = wrk ] && prefix="paced-"
  echo
  if [ "$loader" = hey ]; then
    echo "== results from hey, 16 workers ticking together (ms; hey's percentiles have 0.1 ms resolution)"
  else
    echo "== results from wrk, requests evenly spaced (ms)"
  fi
  printf '%-16s %10s %8s %7s %7s %7s %7s %12s %14s %14s\n' run "req/s" ok errors p50 p90 p99 "p90-direct" "CPU us/req" "endpoints us"
  for r in $(seq 1 "$rounds"); do
    direct90=$(cut -f5 "$work/${prefix}direct-$r.tsv")
    row "${prefix}direct-$r" ""
    row "${prefix}yarp-$r" "$direct90"
    row "${prefix}router-$r" "$direct90"
  done
  echo "bar from $loader (>= 99 % of $rate req/s, 0 errors, p90 within 2 ms of direct): $(bar "$prefix")"
done
echo "CPU us/req: up's (router and background work) for direct and router rows, the reference proxy's for yarp rows;"
echo "endpoints us: the sample endpoints' (production, and the shadow answering the router's copies), per request"
echo
echo "== the shadow's phases during the run (every 5 s)"
awk '{ if ($0 != last) print; last = $0 }' <(cut -d' ' -f2- "$work/phases.log") | sed 's/^/   /'
echo "== the router's mirror counters"
curl -s "http://127.0.0.1:$router/metrics" | grep -E '^shadowing_mirror_(copies|dropped|decisions)_total' | sed 's/^/   /' || true
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), .NET $(dotnet --version), $(dpkg-query -W -f='hey ${Version}, ' hey 2>/dev/null)$(dpkg-query -W -f='wrk ${Version}' wrk 2>/dev/null)"
