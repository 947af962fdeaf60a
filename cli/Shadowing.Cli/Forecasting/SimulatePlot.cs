using ScottPlot;
using Shadowing.Forecasting.Simulation;

namespace Shadowing.Cli.Forecasting;

/// <summary>Draws a simulation: demand, each policy's ready capacity within the SLO, and each policy's violating steps.</summary>
internal static class SimulatePlot
{
    private static readonly Color[] Palette = [Colors.SteelBlue, Colors.OrangeRed, Colors.Green, Colors.Purple];

    public static void Save(SimulationResult result, string path, string title)
    {
        var plot = new Plot();
        double[] times = [.. Enumerable.Range(0, result.Demand.Count).Select(i => (result.From + (result.Step * i)).UtcDateTime.ToOADate())];
        var demand = plot.Add.ScatterLine(times, [.. result.Demand]);
        demand.Color = Colors.Black;
        demand.LegendText = "demand";
        var production = plot.Add.HorizontalLine(result.UsablePerEndpoint * result.ProductionEndpoints);
        production.LinePattern = LinePattern.Dotted;
        production.LegendText = "production within the SLO";
        var top = result.Demand.DefaultIfEmpty(1).Max();
        for (var p = 0; p < result.Outcomes.Count; p++)
        {
            var outcome = result.Outcomes[p];
            var color = Palette[p % Palette.Length];
            var capacity = plot.Add.ScatterLine(times, [.. outcome.ReadyCapacity]);
            capacity.Color = color.WithAlpha(0.8);
            capacity.ConnectStyle = ConnectStyle.StepHorizontal;
            capacity.LegendText = $"{SimulateCommand.Name(outcome.Policy)}: ready capacity";

            // Steps where some minute violated the SLO: a row of marks per policy above the demand.
            var violating = Enumerable.Range(0, result.Demand.Count).Where(i => result.Demand[i] > outcome.ReadyCapacity[i]).ToArray();
            if (violating.Length > 0)
            {
                var marks = plot.Add.ScatterPoints(violating.Select(i => times[i]).ToArray(), violating.Select(_ => top * (1.05 + (0.04 * p))).ToArray());
                marks.Color = color;
                marks.MarkerSize = 3;
                marks.LegendText = $"{SimulateCommand.Name(outcome.Policy)}: SLO violated";
            }
        }

        plot.Axes.DateTimeTicksBottom();
        plot.Title($"{title}: demand and ready capacity per policy");
        plot.YLabel($"requests per {Core.Configuration.Durations.Describe(result.Step)}");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 1600, 700);
    }
}
