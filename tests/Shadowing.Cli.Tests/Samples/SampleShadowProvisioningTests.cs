using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Shadowing.Core.Shadows;
using Shadowing.Embedded.Provisioning;
using Shadowing.TestUtilities.State;

namespace Shadowing.Cli.Tests.Samples;

/// <summary>The local-process provisioner running the sample service's endpoint as real shadow processes.</summary>
public sealed class SampleShadowProvisioningTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Provision_Idempotent_ResizeKeepsTheAddress_ANewHostFindsIt_RetireStopsIt()
    {
        var store = new InMemoryStateStore();
        var options = Options.Create(Template());
        var spec = new ProvisionSpec("orders", "orders-shadow-1", new ShadowResources());
        ProvisionedShadow resized;
        await using (var provisioner = new LocalProcessProvisioner(store, options, TimeProvider.System, NullLogger<LocalProcessProvisioner>.Instance))
        {
            var first = await provisioner.ProvisionAsync(spec, Ct);
            var again = await provisioner.ProvisionAsync(spec, Ct);

            Assert.Equal(first.Handle, again.Handle); // an activity run twice starts one process
            using (var http = new HttpClient())
            {
                Assert.True((await http.GetAsync(new Uri(first.Address + "/healthz"), Ct)).IsSuccessStatusCode);
            }

            resized = await provisioner.ResizeAsync(spec with { Resources = new ShadowResources(Size: 2, AddedLatencyMs: 50) }, Ct);
            Assert.Equal(first.Address, resized.Address);
            Assert.NotEqual(first.Handle, resized.Handle);
            Assert.False(Running(first.Handle!));

            // Another host on the same store (a restart) finds the running shadow instead of starting a second one.
            var adopter = new LocalProcessProvisioner(store, options, TimeProvider.System, NullLogger<LocalProcessProvisioner>.Instance);
            Assert.Equal(resized.Handle, (await adopter.FindAsync("orders", "orders-shadow-1", Ct))!.Handle);
            Assert.Equal(resized.Handle, (await adopter.ProvisionAsync(spec with { Resources = resized.Resources }, Ct)).Handle);

            await adopter.RetireAsync("orders", "orders-shadow-1", Ct);
            await adopter.RetireAsync("orders", "orders-shadow-1", Ct); // retiring what is gone succeeds
            Assert.False(Running(resized.Handle!));
            Assert.Null(await provisioner.FindAsync("orders", "orders-shadow-1", Ct));
        }
    }

    [Fact]
    public async Task Resize_OfAShadowThatDied_StartsItAgainOnItsPort_TheRoutingTablesAddressStaysRight()
    {
        var spec = new ProvisionSpec("orders", "s1", new ShadowResources());
        await using var provisioner = new LocalProcessProvisioner(new InMemoryStateStore(), Options.Create(Template()), TimeProvider.System, NullLogger<LocalProcessProvisioner>.Instance);
        var first = await provisioner.ProvisionAsync(spec, Ct);
        using (var process = Process.GetProcessById(int.Parse(first.Handle!.Split('@')[0], CultureInfo.InvariantCulture)))
        {
            process.Kill();
            await process.WaitForExitAsync(Ct);
        }

        var resized = await provisioner.ResizeAsync(spec with { Resources = new ShadowResources(Size: 2) }, Ct);

        Assert.Equal(first.Address, resized.Address);
        Assert.True(Running(resized.Handle!));
        await provisioner.RetireAsync("orders", "s1", Ct);
    }

    [Fact]
    public async Task HostStopping_StopsTheShadowsItStarted()
    {
        var provisioner = new LocalProcessProvisioner(new InMemoryStateStore(), Options.Create(Template()), TimeProvider.System, NullLogger<LocalProcessProvisioner>.Instance);
        var shadow = await provisioner.ProvisionAsync(new ProvisionSpec("orders", "s1", new ShadowResources()), Ct);

        await provisioner.DisposeAsync();

        Assert.False(Running(shadow.Handle!));
    }

    private static LocalProvisionerOptions Template()
    {
        var options = new LocalProvisionerOptions();
        options.Services["orders"] = new LocalServiceTemplate
        {
            Command = "dotnet",
            Arguments = [CliProcess.CliDll, "sample-endpoint", "--service", "{service}", "--id", "{shadowId}", "--port", "{port}", "--latency-ms", "{latencyMs}", "--error-rate", "{errorRate}", "--exit-with-parent"],
            StartTimeout = TimeSpan.FromSeconds(60),
        };
        return options;
    }

    private static bool Running(string handle)
    {
        var id = int.Parse(handle.Split('@')[0], CultureInfo.InvariantCulture);
        try
        {
            using var process = Process.GetProcessById(id);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
