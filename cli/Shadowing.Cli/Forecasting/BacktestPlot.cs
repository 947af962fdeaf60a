using ScottPlot;
using Shadowing.Forecasting.Backtesting;

namespace Shadowing.Cli.Forecasting;

/// <summary>Draws a backtest: actual values, the p50 forecast and the p50–p90 band.</summary>
internal static class BacktestPlot
{
    public static void Save(BacktestResult result, string path, string title)
    {
        var plot = new Plot();
        var times = result.Points.Select(p => p.Time.UtcDateTime.ToOADate()).ToArray();
        var band = plot.Add.FillY(times, [.. result.Points.Select(p => p.P50)], [.. result.Points.Select(p => p.P90)]);
        band.FillColor = Colors.Orange.WithAlpha(0.25);
        band.LegendText = "p50–p90";
        var actual = plot.Add.ScatterLine(times, [.. result.Points.Select(p => p.Actual)]);
        actual.LegendText = "actual";
        actual.Color = Colors.Black;
        var forecast = plot.Add.ScatterLine(times, [.. result.Points.Select(p => p.P50)]);
        forecast.LegendText = $"p50, {result.Horizon} step(s) ahead";
        forecast.Color = Colors.OrangeRed;
        plot.Axes.DateTimeTicksBottom();
        plot.Title($"{title}: WAPE {result.Forecast.Wape:F3}, p90 coverage {result.Forecast.CoverageP90:F2}");
        plot.ShowLegend();
        plot.SavePng(path, 1600, 600);
    }
}
