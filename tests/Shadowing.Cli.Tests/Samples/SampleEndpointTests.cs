using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Cli.Samples;
using Shadowing.Core.Randomness;
using Shadowing.Embedded.State;

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

    [Fact]
    public async Task DataApi_WritesReadsListsAndDeletesItsOwnRecords_AndAShadowNeverTouchesProductions()
    {
        using var store = new SqliteStateStore(SqliteStateStore.InMemory, TimeProvider.System);
        await using var production = await StartAsync(new SampleEndpointOptions { Id = "o1", LatencyMs = 0 }, data: store);
        await using var shadow = await StartAsync(new SampleEndpointOptions { Id = "s1", LatencyMs = 0 }, data: store, dataPrefix: "shadow-data/orders/s1/");
        using var http = new HttpClient { BaseAddress = AddressOf(production) };
        using var shadowHttp = new HttpClient { BaseAddress = AddressOf(shadow) };

        using var put = await http.PutAsync(new Uri("/data/o-1", UriKind.Relative), new StringContent("{\"total\":12}"), Ct);
        using var put2 = await http.PutAsync(new Uri("/data/o-2", UriKind.Relative), new StringContent("{\"total\":7}"), Ct);
        using var deleted = await http.DeleteAsync(new Uri("/data/o-2", UriKind.Relative), Ct);
        using var shadowPut = await shadowHttp.PutAsync(new Uri("/data/o-1", UriKind.Relative), new StringContent("{\"total\":999}"), Ct); // a mirrored write

        Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        Assert.Equal(12, (await http.GetFromJsonAsync<JsonElement>(new Uri("/data/o-1", UriKind.Relative), Ct)).GetProperty("total").GetInt32());
        Assert.Equal(["o-1"], (await http.GetFromJsonAsync<JsonElement>(new Uri("/data", UriKind.Relative), Ct)).GetProperty("keys").EnumerateArray().Select(k => k.GetString()));
        using var gone = await http.GetAsync(new Uri("/data/o-2", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        Assert.Equal("{\"total\":12}", System.Text.Encoding.UTF8.GetString((await store.GetAsync("data/orders/o-1", Ct))!.Value.Span));
        Assert.Equal("{\"total\":999}", System.Text.Encoding.UTF8.GetString((await store.GetAsync("shadow-data/orders/s1/o-1", Ct))!.Value.Span));
        Assert.Equal(3, (await store.ReadAsync("data/orders/", 0, 100, Ct)).Changes.Count); // production's changes are in the feed, the shadow's are not
    }

    private static async Task<WebApplication> StartAsync(SampleEndpointOptions options, IRandomSource? random = null, SqliteStateStore? data = null, string? dataPrefix = null)
    {
        var app = SampleEndpoint.Build("orders", options, random ?? RandomSource.Seeded(0), TimeProvider.System, data, dataPrefix);
        await app.StartAsync(Ct);
        return app;
    }

    private static Uri AddressOf(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
}
