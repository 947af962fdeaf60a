#!/usr/bin/env python3
"""What lowering the bias at peaks would cost (issue 17): reads the scored forecasts `shadowing backtest --output
FILE.csv` writes (time,actual,p50,p90,method) and stretches every p50 away from a trailing level by a factor 1 + c,
printing WAPE, the bias over the top decile of actuals (actual - p50, as `peakBias`) and over the top decile of
forecasts (`forecastPeakBias`) for each c. The level is the mean of the actuals of the previous week of scored
points, ending ten points before (an approximation of what the forecaster knew at the origin).
Usage: python3 bench/peak-stretch.py FILE.csv [FILE.csv ...]"""
import csv
import statistics
import sys

WEEK = 336  # 30-minute steps, nyc_taxi's


def score(rows, c):
    actuals = [a for a, _ in rows]
    stretched = []
    for i, (actual, p50) in enumerate(rows):
        lo = max(0, i - WEEK)
        known = actuals[lo:max(lo + 1, i - 10)]
        level = sum(known) / len(known)
        stretched.append((actual, level + (1 + c) * (p50 - level)))
    wape = sum(abs(a - f) for a, f in stretched) / sum(abs(a) for a, _ in stretched)
    top_actual = sorted(a for a, _ in stretched)[int(len(stretched) * 0.9)]
    top_forecast = sorted(f for _, f in stretched)[int(len(stretched) * 0.9)]
    peak = statistics.mean(a - f for a, f in stretched if a >= top_actual)
    forecast_peak = statistics.mean(a - f for a, f in stretched if f >= top_forecast)
    return wape, peak, forecast_peak


for path in sys.argv[1:]:
    rows = [(float(r["actual"]), float(r["p50"])) for r in csv.DictReader(open(path))]
    print(f"{path}: {len(rows)} scored forecasts")
    for c in (0, 0.02, 0.04, 0.05, 0.06, 0.08, 0.10):
        wape, peak, forecast_peak = score(rows, c)
        print(f"  c={c:.2f}  wape {wape:.4f}  peakBias {peak:+.0f}  forecastPeakBias {forecast_peak:+.0f}")
