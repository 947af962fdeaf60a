using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Cli.Samples;
using Shadowing.Core.Randomness;

namespace Shadowing.Cli.Tests.Samples;

public sealed class SampleEndpointTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Request_AnswersWithServiceEndpointAndPath_AndHealthz()
    {
        await using var app = await StartAsync(new SampleEndpointOptions { Id = "o1", LatencyMs = 0 });
        using var http = new HttpClient { BaseAddress = AddressOf(app) };

        var answer = await http.GetFromJsonAsync<JsonElement>(new Uri("/items/1", UriKind.Relative), Ct);
        using var health = await http.GetAsync(new Uri("/healthz", UriKind.Relative), Ct);

        Assert.Equal("orders", answer.GetProperty("service").GetString());
        Assert.Equal("o1", answer.GetProperty("endpoint").GetString());
        Assert.Equal("/items/1", answer.GetProperty("path").GetString());
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task ErrorRate_SeededRandom_InjectsThatShareOf500s()
    {
        await using var app = await StartAsync(new SampleEndpointOptions { Id = "o1", LatencyMs = 0, ErrorRate = 0.3 }, RandomSource.Seeded(1));
        using var http = new HttpClient { BaseAddress = AddressOf(app) };

        var failures = 0;
        for (var i = 0; i < 200; i++)
        {
            using var response = await http.GetAsync(new Uri("/x", UriKind.Relative), Ct);
            failures += response.StatusCode == HttpStatusCode.InternalServerError ? 1 : 0;
        }

        // The seeded source draws exactly this sequence; 0.3 of 200 is 60 on average.
        var reference = RandomSource.Seeded(1);
        var expected = Enumerable.Range(0, 200).Count(_ => reference.NextDouble() < 0.3);
        Assert.Equal(expected, failures);
        Assert.InRange(failures, 40, 80);
    }

    [Fact]
    public async Task Capacity_Full_LaterRequestsWaitInLine()
    {
        await using var app = await StartAsync(new SampleEndpointOptions { Id = "o1", LatencyMs = 200, Capacity = 1 });
        using var http = new HttpClient { BaseAddress = AddressOf(app) };

        var answers = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => http.GetFromJsonAsync<JsonElement>(new Uri("/x", UriKind.Relative), Ct)));

        // One at a time: every request got a distinct sequence number 1..3 and all were answered.
        Assert.Equal([1L, 2L, 3L], answers.Select(a => a.GetProperty("served").GetInt64()).Order());
    }

    private static async Task<WebApplication> StartAsync(SampleEndpointOptions options, IRandomSource? random = null)
    {
        var app = SampleEndpoint.Build("orders", options, random ?? RandomSource.Seeded(0), TimeProvider.System);
        await app.StartAsync(Ct);
        return app;
    }

    private static Uri AddressOf(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
}
