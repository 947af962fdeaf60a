using System.Globalization;
using System.Net;
using System.Text;
using ScottPlot;
using Shadowing.Core.Shadows;

namespace Shadowing.Cli.Demo;

/// <summary>The demo's report folder: PNG plots (ScottPlot) and an HTML page that shows them with the summary.</summary>
internal static class DemoReport
{
    public static readonly string[] Images = ["demand-forecast.png", "capacity.png", "routing.png", "latency.png", "phases.png"];

    /// <summary>Writes the plots and <c>index.html</c> into <paramref name="folder"/>; returns the page's path.</summary>
    public static string Write(string folder, DemoSummary summary, DemoTrace trace, IReadOnlyList<DemoLoad.StepCounts> steps, DemoTimeline timeline)
    {
        Directory.CreateDirectory(folder);
        var markers = Markers(summary);
        DemandAndForecast(Path.Combine(folder, Images[0]), trace, steps, timeline, markers);
        CapacityAndDemand(Path.Combine(folder, Images[1]), steps, timeline, markers);
        Routing(Path.Combine(folder, Images[2]), steps, markers);
        Latency(Path.Combine(folder, Images[3]), steps, markers);
        Phases(Path.Combine(folder, Images[4]), trace, timeline, markers);
        var page = Path.Combine(folder, "index.html");
        File.WriteAllText(page, Html(summary));
        return page;
    }

    private static (string Label, DateTimeOffset At, Color Color)[] Markers(DemoSummary summary) =>
    [
        .. new (string, DateTimeOffset?, Color)[]
        {
            ("spike onset", summary.SpikeOnset, Colors.Red),
            ("first shadow PreWarmed", summary.PreWarmedAt, Colors.Green),
            ("production killed", summary.FailureAt, Colors.Black),
            ("production back", summary.RecoveredAt, Colors.Gray),
        }.Where(m => m.Item2 is not null).Select(m => (m.Item1, m.Item2!.Value, m.Item3)),
    ];

    private static double X(DateTimeOffset time) => time.UtcDateTime.ToOADate();

    private static Plot NewPlot(string title, string yLabel, IEnumerable<(string Label, DateTimeOffset At, Color Color)> markers)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.YLabel(yLabel);
        plot.Axes.DateTimeTicksBottom();
        foreach (var (label, at, color) in markers)
        {
            var line = plot.Add.VerticalLine(X(at));
            line.Color = color;
            line.LinePattern = LinePattern.Dashed;
            line.LegendText = label;
        }

        return plot;
    }

    private static void Save(Plot plot, string path)
    {
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 1400, 500);
    }

    private static double PerMinute(long count) => count / DemoTrace.Step.TotalMinutes;

    private static void DemandAndForecast(string path, DemoTrace trace, IReadOnlyList<DemoLoad.StepCounts> steps, DemoTimeline timeline, IEnumerable<(string, DateTimeOffset, Color)> markers)
    {
        var plot = NewPlot("Demand and the PAE's forecast made 30 min ahead", "requests per simulated minute", markers);
        var forecasts = timeline.Forecasts.Where(f => f.Key >= trace.Start && f.Key < trace.End).OrderBy(f => f.Key).ToArray();

        // One line per run of consecutive steps: a gap (no forecast yet, or none kept) is not drawn as a straight line across.
        var first = true;
        foreach (var run in Runs(forecasts, f => f.Key))
        {
            double[] xs = [.. run.Select(f => X(f.Key))];
            var band = plot.Add.FillY(xs, [.. run.Select(f => f.Value.P50)], [.. run.Select(f => f.Value.P90)]);
            band.FillColor = Colors.Orange.WithAlpha(0.3);
            var p50 = plot.Add.ScatterLine(xs, [.. run.Select(f => f.Value.P50)]);
            p50.Color = Colors.OrangeRed;
            if (first)
            {
                band.LegendText = "forecast p50–p90";
                p50.LegendText = "forecast p50";
                first = false;
            }
        }

        var actual = plot.Add.ScatterLine(steps.Select(s => X(s.Time)).ToArray(), steps.Select(s => PerMinute(s.Total)).ToArray());
        actual.Color = Colors.Black;
        actual.LegendText = "demand (requests sent)";
        var capacity = plot.Add.HorizontalLine(trace.ProductionCapacity);
        capacity.LinePattern = LinePattern.Dotted;
        capacity.LegendText = "production capacity";
        Save(plot, path);
    }

    /// <summary>Splits time-ordered items into runs of consecutive 5-minute steps (runs of one are dropped: nothing to draw).</summary>
    private static IEnumerable<T[]> Runs<T>(IReadOnlyList<T> items, Func<T, DateTimeOffset> time)
    {
        var run = new List<T>();
        foreach (var item in items)
        {
            if (run.Count > 0 && time(item) - time(run[^1]) > DemoTrace.Step)
            {
                if (run.Count > 1)
                {
                    yield return [.. run];
                }

                run.Clear();
            }

            run.Add(item);
        }

        if (run.Count > 1)
        {
            yield return [.. run];
        }
    }

    private static void CapacityAndDemand(string path, IReadOnlyList<DemoLoad.StepCounts> steps, DemoTimeline timeline, IEnumerable<(string, DateTimeOffset, Color)> markers)
    {
        var plot = NewPlot("Ready capacity against demand", "requests per simulated minute", markers);
        var samples = timeline.Capacity;
        if (samples.Count > 1)
        {
            double[] xs = [.. samples.Select(c => X(c.Time))];
            var production = plot.Add.FillY(xs, [.. samples.Select(_ => 0.0)], [.. samples.Select(c => c.Production)]);
            production.FillColor = Colors.SteelBlue.WithAlpha(0.4);
            production.LegendText = "production";
            var shadows = plot.Add.FillY(xs, [.. samples.Select(c => c.Production)], [.. samples.Select(c => c.Production + c.Shadows)]);
            shadows.FillColor = Colors.Green.WithAlpha(0.4);
            shadows.LegendText = "pre-warmed shadows";
        }

        var demand = plot.Add.ScatterLine(steps.Select(s => X(s.Time)).ToArray(), steps.Select(s => PerMinute(s.Total)).ToArray());
        demand.Color = Colors.Black;
        demand.LegendText = "demand";
        Save(plot, path);
    }

    private static void Routing(string path, IReadOnlyList<DemoLoad.StepCounts> steps, IEnumerable<(string, DateTimeOffset, Color)> markers)
    {
        var plot = NewPlot("Who answered: the routing split", "requests per simulated minute", markers);
        double[] xs = [.. steps.Select(s => X(s.Time))];
        double[] zero = [.. steps.Select(_ => 0.0)];
        double[] production = [.. steps.Select(s => PerMinute(s.Production))];
        double[] shadow = [.. steps.Select(s => PerMinute(s.Production + s.Shadow))];
        double[] fallback = [.. steps.Select(s => PerMinute(s.Production + s.Shadow + s.Default))];
        double[] failed = [.. steps.Select(s => PerMinute(s.Total))];
        if (xs.Length > 1)
        {
            foreach (var (low, high, color, label) in new[]
            {
                (zero, production, Colors.SteelBlue, "production"),
                (production, shadow, Colors.Green, "shadow"),
                (shadow, fallback, Colors.Gray, "default"),
                (fallback, failed, Colors.Red, "failed"),
            })
            {
                var area = plot.Add.FillY(xs, low, high);
                area.FillColor = color.WithAlpha(0.5);
                area.LegendText = label;
            }
        }

        Save(plot, path);
    }

    private static void Latency(string path, IReadOnlyList<DemoLoad.StepCounts> steps, IEnumerable<(string, DateTimeOffset, Color)> markers)
    {
        var plot = NewPlot("Client latency through the router (real milliseconds)", "ms", markers);
        double[] xs = [.. steps.Select(s => X(s.Time))];
        foreach (var (q, color) in new[] { (0.5, Colors.SteelBlue), (0.9, Colors.Orange), (0.99, Colors.Red) })
        {
            var line = plot.Add.ScatterLine(xs, [.. steps.Select(s => s.Percentile(q))]);
            line.Color = color;
            line.LegendText = string.Create(CultureInfo.InvariantCulture, $"p{q * 100:F0}");
        }

        Save(plot, path);
    }

    private static void Phases(string path, DemoTrace trace, DemoTimeline timeline, IEnumerable<(string, DateTimeOffset, Color)> markers)
    {
        var plot = NewPlot("Shadow phases", "shadow", markers);
        var transitions = timeline.Transitions;
        var shadows = transitions.Select(t => t.Shadow).Distinct().ToArray();
        var colors = new Dictionary<ShadowState, Color>
        {
            [ShadowState.Provisioning] = Colors.LightGray,
            [ShadowState.Syncing] = Colors.Silver,
            [ShadowState.WarmingUp] = Colors.Orange,
            [ShadowState.Validating] = Colors.Gold,
            [ShadowState.PreWarmed] = Colors.Green,
            [ShadowState.Active] = Colors.DarkGreen,
            [ShadowState.Draining] = Colors.SteelBlue,
            [ShadowState.Retired] = Colors.DarkGray,
            [ShadowState.Failed] = Colors.Red,
        };
        var labelled = new HashSet<ShadowState>();
        for (var row = 0; row < shadows.Length; row++)
        {
            var mine = transitions.Where(t => t.Shadow == shadows[row]).ToArray();
            for (var i = 0; i < mine.Length; i++)
            {
                var end = i + 1 < mine.Length ? mine[i + 1].At : (mine[i].State == ShadowState.Retired ? mine[i].At + DemoTrace.Step : trace.End);
                var box = plot.Add.Rectangle(X(mine[i].At), X(end), row + 0.1, row + 0.9);
                box.FillColor = colors.GetValueOrDefault(mine[i].State, Colors.Purple);
                box.LineColor = box.FillColor;
                if (labelled.Add(mine[i].State))
                {
                    box.LegendText = mine[i].State.ToString();
                }
            }

            plot.Add.Text(shadows[row], X(mine[0].At), row + 0.95);
        }

        plot.Axes.SetLimitsY(0, Math.Max(1, shadows.Length) + 0.2);
        Save(plot, path);
    }

    private static string Html(DemoSummary summary)
    {
        static string E(string? text) => WebUtility.HtmlEncode(text ?? "–");
        var html = new StringBuilder();
        html.AppendLine("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Shadowing demo</title>");
        html.AppendLine("<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}td,th{padding:.2em .8em;text-align:left}img{width:100%;border:1px solid #ddd;margin:.5em 0}</style></head><body>");
        html.AppendLine("<h1>Shadowing demo</h1>");
        html.Append(CultureInfo.InvariantCulture, $"<p>{E(summary.Trace)}; simulated {E(summary.SimulatedFrom.ToString("u", CultureInfo.InvariantCulture))} to {E(summary.SimulatedTo.ToString("u", CultureInfo.InvariantCulture))} at {summary.Speed}× real time.</p>").AppendLine();
        html.AppendLine("<table>");
        foreach (var (name, value) in summary.Lines())
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr><th>{E(name)}</th><td>{E(value)}</td></tr>").AppendLine();
        }

        html.AppendLine("</table>");
        foreach (var image in Images)
        {
            html.Append(CultureInfo.InvariantCulture, $"<img src=\"{image}\" alt=\"{Path.GetFileNameWithoutExtension(image)}\">").AppendLine();
        }

        html.AppendLine("</body></html>");
        return html.ToString();
    }
}
