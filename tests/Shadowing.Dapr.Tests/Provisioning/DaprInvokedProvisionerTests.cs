using System.Net;
using Dapr.Client;
using Microsoft.AspNetCore.Http;
using Shadowing.Core.Shadows;
using Shadowing.Dapr.Provisioning;
using Shadowing.TestUtilities.Dapr;
using Shadowing.TestUtilities.Hosting;

namespace Shadowing.Dapr.Tests.Provisioning;

/// <summary>
/// The Dapr-invoked provisioner against the sample implementation, called as in deployment: through a sidecar (the
/// fake, routing <c>/v1.0/invoke/{app}/method/…</c> as daprd does, with its API token) to the provisioner app.
/// </summary>
public sealed class DaprInvokedProvisionerTests : IAsyncLifetime
{
    private const string AppId = "platform-provisioner";
    private const string Token = "sidecar-token";
    private SampleProvisioner _sample = null!;
    private FakeDaprSidecar _sidecar = null!;
    private HttpClient _invoke = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private DaprInvokedProvisioner Provisioner => new(_invoke, AppId);

    public async ValueTask InitializeAsync()
    {
        _sample = await SampleProvisioner.StartAsync();
        _sidecar = await FakeDaprSidecar.StartAsync(apiToken: Token);
        _sidecar.State.MapAppAt(AppId, LoopbackApp.AddressOf(_sample.App));
        _invoke = DaprClient.CreateInvokeHttpClient(AppId, _sidecar.HttpEndpoint, Token);
    }

    public async ValueTask DisposeAsync()
    {
        _invoke.Dispose();
        await _sidecar.DisposeAsync();
        await _sample.DisposeAsync();
    }

    [Fact]
    public async Task Provision_StartsAShadowThatAnswers_AndAgainReturnsTheSameOne()
    {
        var spec = new ProvisionSpec("orders", "s1", new ShadowResources(Size: 2));

        var first = await Provisioner.ProvisionAsync(spec, Ct);
        var again = await Provisioner.ProvisionAsync(spec, Ct);

        Assert.Equal(first, again with { Notes = first.Notes });
        Assert.Equal(("orders", "s1", 2), (first.Service, first.ShadowId, first.Resources.Size));
        Assert.Equal(["sample: no data copied"], first.Notes);
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(first.Address + "/healthz"), Ct)).StatusCode);
        Assert.Single(_sample.Running);
        Assert.All(_sidecar.State.Invocations, i => Assert.Equal(AppId, i.AppId));
        Assert.Contains(_sidecar.State.Invocations, i => i.Method == "/provision");
    }

    [Fact]
    public async Task Scale_FindList_Retire_FollowTheContract()
    {
        var first = await Provisioner.ProvisionAsync(new ProvisionSpec("orders", "s1", new ShadowResources()), Ct);

        var resized = await Provisioner.ResizeAsync(new ProvisionSpec("orders", "s1", new ShadowResources(Size: 3)), Ct);
        var found = await Provisioner.FindAsync("orders", "s1", Ct);
        var listed = await Provisioner.ListAsync(Ct);

        Assert.Equal(3, resized.Resources.Size);
        Assert.NotEqual(first.Address, resized.Address);
        Assert.Equal(resized.Address, found!.Address);
        Assert.Equal(["orders/s1"], listed.Select(s => $"{s.Service}/{s.ShadowId}"));

        await Provisioner.RetireAsync("orders", "s1", Ct);
        await Provisioner.RetireAsync("orders", "s1", Ct); // gone already: still fine
        Assert.Null(await Provisioner.FindAsync("orders", "s1", Ct));
        Assert.Empty(await Provisioner.ListAsync(Ct));
        Assert.Equal(["provision orders/s1 size 1", "scale orders/s1 size 3", "retire orders/s1", "retire orders/s1"], _sample.Calls);
    }

    [Fact]
    public async Task ProvisionerAnsweringAnError_IsAProvisioningExceptionNamingAppMethodAndStatus()
    {
        var error = await Assert.ThrowsAsync<ProvisioningException>(() => Provisioner.ResizeAsync(new ProvisionSpec("orders", "s9", new ShadowResources()), Ct));

        Assert.Contains($"Provisioner app '{AppId}' answered 409", error.Message, StringComparison.Ordinal);
        Assert.Contains("scale of orders/s9", error.Message, StringComparison.Ordinal);
        Assert.Contains("does not run", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProvisionerAnsweringAnotherShadow_IsRefused()
    {
        _sidecar.State.MapApp(AppId, (context, _) => context.Response.WriteAsync("""{"service":"orders","shadowId":"other","address":"http://x","resources":{"size":1},"startedAt":"2026-12-02T00:00:00Z"}"""));

        var error = await Assert.ThrowsAsync<ProvisioningException>(() => Provisioner.ProvisionAsync(new ProvisionSpec("orders", "s1", new ShadowResources()), Ct));

        Assert.Contains("expected the same service and shadow id", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProvisionerAnsweringNullNotes_GivesNone()
    {
        // A Go nil slice or Python's None: the README calls notes optional, and the workflow reads their count.
        const string Answer = """{"service":"orders","shadowId":"s1","address":"http://x","resources":{"size":1},"startedAt":"2026-12-02T00:00:00Z","notes":null}""";
        _sidecar.State.MapApp(AppId, (context, _) => context.Response.WriteAsync(Answer));

        var shadow = await Provisioner.ProvisionAsync(new ProvisionSpec("orders", "s1", new ShadowResources()), Ct);

        Assert.Empty(shadow.Notes);
        Assert.Empty(System.Text.Json.JsonSerializer.Deserialize<ProvisionedShadow>(Answer, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))!.Notes); // as an activity's output is read
    }

    [Fact]
    public async Task NoSidecar_IsAProvisioningException()
    {
        using var nowhere = DaprClient.CreateInvokeHttpClient(AppId, "http://127.0.0.1:9");

        var error = await Assert.ThrowsAsync<ProvisioningException>(() => new DaprInvokedProvisioner(nowhere, AppId).ListAsync(Ct));

        Assert.Contains("could not be called", error.Message, StringComparison.Ordinal);
    }
}
