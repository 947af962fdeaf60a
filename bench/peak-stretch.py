#!/usr/bin/env python3
"""What lowering the bias at peaks would cost (issue 17): reads the scored forecasts `shadowing backtest --output
FILE.csv` writes (time,actual,p50,p90,method) and stretches every p50 away from a trailing level by a factor 1 + c,
printing WAPE, the bias over the top decile of actuals (actual - p50, as `peakBias`) and over the top decile of
forecasts (`forecastPeakBias`) for each c, the deciles cut as the backtest cuts them. The level is the mean of the
actuals of the week of scored points that ends ten points before the target (so known at its origin for horizons up
to 10); the first points, without such a week, use what there is, and the very first are left unstretched.
Usage: python3 bench/peak-stretch.py FILE.csv [FILE.csv ...]"""
import csv
import statistics
import sys

WEEK = 336  # 30-minute steps, nyc_taxi's
LAG = 10  # the level ends this many points before the target: older than the origin at horizons up to 10


def top_decile(values):
    # the backtest's rule: the value at index floor(0.9 (n - 1)) of the sorted values, targets at or above it
    ordered = sorted(values)
    return ordered[int(0.9 * (len(ordered) - 1))]


def score(rows, c):
    actuals = [a for a, _ in rows]
    stretched = []
    for i, (actual, p50) in enumerate(rows):
        hi = i - LAG
        known = actuals[max(0, hi - WEEK):hi] if hi > 0 else []
        level = sum(known) / len(known) if known else p50  # too early to know a level: left as it is
        stretched.append((actual, level + (1 + c) * (p50 - level)))
    wape = sum(abs(a - f) for a, f in stretched) / sum(abs(a) for a, _ in stretched)
    top_actual = top_decile([a for a, _ in stretched])
    top_forecast = top_decile([f for _, f in stretched])
    peak = statistics.mean(a - f for a, f in stretched if a >= top_actual)
    forecast_peak = statistics.mean(a - f for a, f in stretched if f >= top_forecast)
    return wape, peak, forecast_peak


for path in sys.argv[1:]:
    rows = [(float(r["actual"]), float(r["p50"])) for r in csv.DictReader(open(path))]
    print(f"{path}: {len(rows)} scored forecasts")
    for c in (0, 0.02, 0.04, 0.05, 0.06, 0.08, 0.10):
        wape, peak, forecast_peak = score(rows, c)
        print(f"  c={c:.2f}  wape {wape:.4f}  peakBias {peak:+.0f}  forecastPeakBias {forecast_peak:+.0f}")
