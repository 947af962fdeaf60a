#!/usr/bin/env bash
# PAE figures on the real NAB series in ../shared/data, all measured in this one run:
#   accuracy (backtest WAPE vs the seasonal-naive baselines and the published anchors),
#   selection against the three baselines on every series (horizons 1, 5, 12), bias at nyc_taxi's peaks,
#   failure risk (NAB-style score, leave one series out, against a rolling robust z-score),
#   timing (a 10,000-point backtest with weekly retraining vs its 2-minute budget, and one forecast vs 50 ms).
# Usage: bash bench/pae.sh   (SHADOWING_SHARED_DATA overrides the data folder)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${SHADOWING_SHARED_DATA:-$root/../shared/data}/nab"
if [ ! -f "$data/nyc_taxi.csv" ]; then
  echo "bench/pae.sh needs the NAB series in $data (set SHADOWING_SHARED_DATA)." >&2
  exit 2
fi

out="$(mktemp -d)"
echo "== building (Release)"
dotnet build "$root/cli/Shadowing.Cli" -c Release -o "$out/cli" -v quiet -nologo | tail -n 2
cli() { dotnet "$out/cli/shadowing.dll" "$@"; }
field() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print($1)"; }

echo
echo "== accuracy: nyc_taxi, origins 6500-10314 (published: ESN 0.094, HTM 0.122, LSTM 0.124, weekly seasonal naive 0.153;"
echo "   outside anomaly windows LSTM 0.089, HTM 0.090; targets 0.085 and 0.065)"
for h in 5 1; do
  cli backtest --input "$data/nyc_taxi.csv" --horizon $h --start-index 6500 --end-index 10314 \
      --holidays US --events "$data/nyc_taxi.events.csv" --exclude-windows "$data/anomaly_windows.json" --json \
    | field "f\"  horizon {d['horizon']}: WAPE {d['wape']:.4f}, outside windows {d['excludingWindows']['wape']:.4f}, NRMSE {d['nrmse']:.4f}, MASE {d['mase']:.4f}, p90 coverage {d['coverageP90']:.3f}; baselines day {d['baselines']['seasonalNaiveDay']['wape']:.4f} week {d['baselines']['seasonalNaiveWeek']['wape']:.4f}; training {d['trainSeconds']} s; bias over the top decile of actuals {d['peakBias']:.0f} (p90 covers {d['peakCoverageP90']:.3f}), of forecasts {d['forecastPeakBias']:.0f}\""
done

echo
echo "== accuracy: AWS series, second week (origins from the middle), weekly retraining"
for f in elb_request_count_8c0756 ec2_cpu_utilization_5f5533; do
  for h in 1 6 12; do
    cli backtest --input "$data/$f.csv" --horizon $h --holidays US --json \
      | field "f\"  $f h={d['horizon']}: WAPE {d['wape']:.4f} vs seasonal naive day {d['baselines']['seasonalNaiveDay']['wape']:.4f}, week {d['baselines']['seasonalNaiveWeek']['wape']:.4f} (ratio to the better: {d['wape']/min(d['baselines']['seasonalNaiveDay']['wape'], d['baselines']['seasonalNaiveWeek']['wape']):.2f})\""
  done
done

echo
echo "== accountability: every series, origins in the second half, WAPE as a ratio to the best of the three baselines"
echo "   (last value, daily and weekly seasonal naive); training and the per-horizon choice of model or baseline use"
echo "   only data before each origin"
for h in ${PAE_HORIZONS:-1 5 12}; do
  ratios=""
  for path in "$data"/*.csv; do
    f=$(basename "$path" .csv)
    case "$f" in *.events) continue ;; esac
    line=$(cli backtest --input "$path" --horizon $h --holidays US --json \
      | field "f\"{d['ratioToBestBaseline']:.3f} $f h={d['horizon']}: WAPE {d['wape']:.4f}, last value {d['baselines']['lastValue']['wape']:.4f}, day {d['baselines']['seasonalNaiveDay']['wape']:.4f}, week {(d['baselines']['seasonalNaiveWeek'] or {}).get('wape') or float('nan'):.4f}; forecasts by {d['methods']}\"")
    echo "  ratio ${line}"
    ratios="$ratios ${line%% *}"
  done
  python3 -c "import sys; r=[float(x) for x in sys.argv[1:]]; print(f'  horizon $h: mean ratio {sum(r)/len(r):.3f}, worst {max(r):.3f}, series over 1.05: {sum(x > 1.05 for x in r)} of {len(r)}')" $ratios
done

echo
echo "== failure risk: NAB-style score, each series with settings chosen on the others, vs a rolling robust z-score"
cli risk-evaluate --data "$data" --json \
  | field "'\\n'.join([f\"  {s['name']}: {s['seasonal']['score']} ({s['seasonal']['detected']} of {s['windows']} windows, {s['seasonal']['falseAlarms']} false alarms; chosen on the others: {s['seasonal']['chosen']}); rolling z {s['rolling']['score']}\" for s in d['series']] + [f\"  all, held out: {d['total']['seasonal']} vs rolling z {d['total']['rolling']}; chosen on all: {d['chosenOnAll']['seasonal']}\"])"

echo "== timing: 10,000-point backtest (nyc_taxi origins 314-10313, horizon 5, weekly retraining)"
start=$(date +%s.%N)
cli backtest --input "$data/nyc_taxi.csv" --horizon 5 --start-index 314 --end-index 10313 --holidays US --json \
  | field "f\"  points {d['points']}, trainings {d['trainings']}, training {d['trainSeconds']} s, WAPE {d['wape']:.4f}\""
end=$(date +%s.%N)
python3 -c "s=$end-$start; print(f'  wall time {s:.1f} s = {s/120:.2f} x the 2-minute budget')"

echo
echo "== timing: one forecast (24 horizons) for one trained service (BenchmarkDotNet, short run)"
dotnet run -c Release --project "$root/bench/Shadowing.Benchmarks" -- forecast --filter '*' 2>&1 | grep -E '^RESULT|^\|' | sed 's/^RESULT /  /'
