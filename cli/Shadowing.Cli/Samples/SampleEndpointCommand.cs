using System.ComponentModel;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Shadowing.Core.Randomness;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Samples;

/// <summary><c>shadowing sample-endpoint</c>: runs one sample endpoint process (started by <c>up</c>).</summary>
internal sealed class SampleEndpointCommand : AsyncCommand<SampleEndpointCommand.Settings>
{
    /// <summary>The line a started endpoint prints, followed by its URL.</summary>
    public const string ReadyLine = "LISTENING ";

    public sealed class Settings : CommonSettings
    {
        [CommandOption("--service <NAME>")]
        [Description("Service name put in answers.")]
        public string Service { get; init; } = "sample";

        [CommandOption("--id <ID>")]
        [Description("Endpoint id put in answers.")]
        public string Id { get; init; } = "sample-1";

        [CommandOption("--port <PORT>")]
        [Description("Loopback port; 0 picks a free one.")]
        public int Port { get; init; }

        [CommandOption("--capacity <N>")]
        [Description("Requests worked on at once.")]
        [DefaultValue(16)]
        public int Capacity { get; init; } = 16;

        [CommandOption("--latency-ms <MS>")]
        [Description("Base latency per request.")]
        [DefaultValue(20.0)]
        public double LatencyMs { get; init; } = 20;

        [CommandOption("--error-rate <P>")]
        [Description("Share of requests answered 500, 0..1.")]
        public double ErrorRate { get; init; }

        [CommandOption("--seed <SEED>")]
        [Description("Seed for injected errors; random when absent.")]
        public int? Seed { get; init; }

        [CommandOption("--data-state <PATH>")]
        [Description("SQLite state file holding the service's data (the embedded store's); enables the /data API.")]
        public string? DataState { get; init; }

        [CommandOption("--data-prefix <PREFIX>")]
        [Description("Key prefix of this endpoint's data; default data/{service}/ (a shadow with a copy: shadow-data/{service}/{shadow}/).")]
        public string? DataPrefix { get; init; }

        [CommandOption("--exit-with-parent")]
        [Description("Exit when standard input closes (the parent died).")]
        public bool ExitWithParent { get; init; }

        public override Spectre.Console.ValidationResult Validate() =>
            Capacity < 1 ? Spectre.Console.ValidationResult.Error("--capacity must be at least 1")
            : LatencyMs < 0 ? Spectre.Console.ValidationResult.Error("--latency-ms must not be negative")
            : ErrorRate is < 0 or > 1 ? Spectre.Console.ValidationResult.Error("--error-rate must be between 0 and 1")
            : Port is < 0 or > 65535 ? Spectre.Console.ValidationResult.Error("--port must be between 0 and 65535")
            : DataPrefix is { } prefix && (prefix.Length < 2 || prefix[^1] != '/') ? Spectre.Console.ValidationResult.Error("--data-prefix must end with '/'")
            : DataState == Shadowing.Embedded.State.SqliteStateStore.InMemory ? Spectre.Console.ValidationResult.Error("--data-state must be a file shared with the stack, not :memory:")
            : Spectre.Console.ValidationResult.Success();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        // A shadow started by the local-process provisioner gets its size and injected faults in the environment.
        var size = EnvironmentNumber("SHADOW_SIZE") is { } s and >= 1 ? (int)s : 1;
        var options = new SampleEndpointOptions
        {
            Id = settings.Id,
            Port = settings.Port,
            Capacity = settings.Capacity * size,
            LatencyMs = settings.LatencyMs + (EnvironmentNumber("SHADOW_ADDED_LATENCY_MS") ?? 0),
            ErrorRate = Math.Clamp(Math.Max(settings.ErrorRate, EnvironmentNumber("SHADOW_ERROR_RATE") ?? 0), 0, 1),
        };
        var random = settings.Seed is { } seed ? RandomSource.Seeded(seed) : RandomSource.Shared;
        using var data = settings.DataState is { } path ? new Shadowing.Embedded.State.SqliteStateStore(path, TimeProvider.System) : null;
        await using var app = SampleEndpoint.Build(settings.Service, options, random, TimeProvider.System, data, settings.DataPrefix);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        await Console.Out.WriteLineAsync(ReadyLine + address).ConfigureAwait(false);
        await Console.Out.FlushAsync(cancellationToken).ConfigureAwait(false);

        using var parentGone = new CancellationTokenSource();
        if (settings.ExitWithParent)
        {
            _ = Task.Run(async () =>
            {
                // ReadToEnd returns when the parent's end of the pipe closes, whether it exited cleanly or not.
                await Console.In.ReadToEndAsync(CancellationToken.None).ConfigureAwait(false);
                await parentGone.CancelAsync().ConfigureAwait(false);
            }, CancellationToken.None);
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, parentGone.Token);
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, TimeProvider.System, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        return 0;
    }

    private static double? EnvironmentNumber(string name) =>
        double.TryParse(Environment.GetEnvironmentVariable(name), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) ? value : null;
}
