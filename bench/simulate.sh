#!/usr/bin/env bash
# `shadowing simulate --policy all` on the two shared traces issue 15 names (outside CI), timed: prints each table as
# the command prints it, its wall-clock seconds, and the proactive-against-reactive ratios with the goal
# (≤ 20 % of reactive's SLO-violation minutes with ≤ 15 % more capacity-hours). Needs ../shared/data/nab.
# Usage: bash bench/simulate.sh [data folder]   (default ../shared/data/nab, or SHADOWING_SHARED_DATA)
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-${SHADOWING_SHARED_DATA:-$root/../shared/data/nab}}"
cd "$root"
dotnet build cli/Shadowing.Cli -c Release -v q -nologo >/dev/null || { echo "build failed"; exit 1; }
status=0
for trace in nyc_taxi.csv elb_request_count_8c0756.csv; do
  if [ ! -f "$data/$trace" ]; then echo "$data/$trace: not found (the shared NAB data)"; exit 1; fi
  echo "== $trace"
  start=$(date +%s.%N)
  dotnet run --project cli/Shadowing.Cli -c Release --no-build -- simulate --trace "$data/$trace" --policy all --json --plot "/tmp/simulate-${trace%.csv}.png" > "/tmp/simulate-${trace%.csv}.json" 2>/dev/null || status=1
  seconds=$(python3 -c "import time; print(round(time.time() - $start, 1))")
  python3 - "/tmp/simulate-${trace%.csv}.json" "$seconds" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); seconds = float(sys.argv[2])
print(f"window {r['from']} to {r['to']}; capacity per endpoint {r['capacityPerEndpoint']:.1f} ({r['usablePerEndpoint']:.1f} within the SLO), {r['productionEndpoints']} production endpoints, cold start {r['coldStartMinutes']:g} min")
print(f"{'policy':<18} {'SLO-violation min':>17} {'covered/spikes':>15} {'capacity-h':>11} {'cold starts':>11}")
p = {x['policy']: x for x in r['policies']}
for x in r['policies']:
    print(f"{x['policy']:<18} {x['sloViolationMinutes']:>17.0f} {str(x['spikesCoveredBeforeOnset']) + '/' + str(x['spikes']):>15} {x['capacityHours']:>11.1f} {x['coldStarts']:>11}")
pro, rea = p['proactive'], p['reactive']
v = pro['sloViolationMinutes'] / rea['sloViolationMinutes'] if rea['sloViolationMinutes'] else float('nan')
c = pro['capacityHours'] / rea['capacityHours'] - 1
print(f"proactive: {v:.0%} of reactive's SLO-violation minutes (goal <= 20 %), {c:+.1%} capacity-hours (goal <= +15 %); {'goal met' if v <= 0.2 and c <= 0.15 else 'goal missed'}")
print(f"{seconds} s wall clock ({'under' if seconds < 120 else 'OVER'} 120 s)")
PY
done
exit $status
