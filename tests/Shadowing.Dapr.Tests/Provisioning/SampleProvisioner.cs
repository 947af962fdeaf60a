using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Shadowing.Core.Serialization;
using Shadowing.Core.Shadows;
using Shadowing.TestUtilities.Hosting;

namespace Shadowing.Dapr.Tests.Provisioning;

/// <summary>
/// A sample of what a platform team writes to plug its own platform into SEP: the Dapr-invoked provisioner contract
/// (README, "Provisioners") over "machines" that are loopback HTTP servers, started on <c>provision</c>, restarted on
/// <c>scale</c> and stopped on <c>retire</c>. Idempotent as the contract asks.
/// </summary>
internal sealed class SampleProvisioner : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, (TestBackend Backend, ProvisionedShadow Shadow)> _running = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1);

    private SampleProvisioner(WebApplication app) => App = app;

    public WebApplication App { get; }

    /// <summary>Calls per method, to check what SEP asked for.</summary>
    public ConcurrentQueue<string> Calls { get; } = new();

    public IReadOnlyCollection<string> Running => [.. _running.Keys];

    public static async Task<SampleProvisioner> StartAsync()
    {
        SampleProvisioner? sample = null;
        var app = await LoopbackApp.StartAsync(null, app =>
        {
            app.MapPost("/provision", (HttpRequest r) => sample!.ProvisionAsync(r, restart: false));
            app.MapPost("/scale", (HttpRequest r) => sample!.ProvisionAsync(r, restart: true));
            app.MapPost("/retire", (HttpRequest r) => sample!.RetireAsync(r));
            app.MapGet("/shadows", () => Results.Json(sample!._running.Values.Select(v => v.Shadow).ToArray(), ShadowingJson.Options));
            app.MapGet("/shadows/{service}/{shadowId}", (string service, string shadowId) =>
                sample!._running.TryGetValue($"{service}/{shadowId}", out var found) ? Results.Json(found.Shadow, ShadowingJson.Options) : Results.NotFound());
        });
        sample = new SampleProvisioner(app);
        return sample;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (backend, _) in _running.Values)
        {
            await backend.DisposeAsync();
        }

        await App.DisposeAsync();
        _gate.Dispose();
    }

    private async Task<IResult> ProvisionAsync(HttpRequest request, bool restart)
    {
        var spec = await request.ReadFromJsonAsync<ProvisionSpec>(ShadowingJson.Options);
        if (spec is null || string.IsNullOrEmpty(spec.Service) || string.IsNullOrEmpty(spec.ShadowId))
        {
            return Results.Problem(statusCode: 400, detail: "expected {service, shadowId, resources}");
        }

        Calls.Enqueue($"{(restart ? "scale" : "provision")} {spec.Service}/{spec.ShadowId} size {spec.Resources.Size}");
        var key = $"{spec.Service}/{spec.ShadowId}";
        await _gate.WaitAsync();
        try
        {
            if (_running.TryGetValue(key, out var current))
            {
                if (!restart)
                {
                    return Results.Json(current.Shadow, ShadowingJson.Options); // already runs: as it is
                }

                _running.TryRemove(key, out _);
                await current.Backend.DisposeAsync();
            }
            else if (restart)
            {
                return Results.Problem(statusCode: 409, detail: $"{key} does not run; provision it first");
            }

            var backend = await TestBackend.StartAsync(spec.ShadowId);
            var shadow = new ProvisionedShadow
            {
                Service = spec.Service,
                ShadowId = spec.ShadowId,
                Address = backend.Address.ToString().TrimEnd('/'),
                Resources = spec.Resources,
                Handle = $"vm-{backend.Address.Port}",
                StartedAt = DateTimeOffset.UnixEpoch,
                Notes = ["sample: no data copied"],
            };
            _running[key] = (backend, shadow);
            return Results.Json(shadow, ShadowingJson.Options);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<IResult> RetireAsync(HttpRequest request)
    {
        var body = await request.ReadFromJsonAsync<Shadowing.Dapr.Provisioning.DaprInvokedProvisioner.RetireRequest>(ShadowingJson.Options);
        Calls.Enqueue($"retire {body!.Service}/{body.ShadowId}");
        if (_running.TryRemove($"{body.Service}/{body.ShadowId}", out var gone))
        {
            await gone.Backend.DisposeAsync();
        }

        return Results.NoContent(); // also when it did not run
    }
}
