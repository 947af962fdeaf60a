using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Shadowing.Core.State;
using Shadowing.Dapr.State;

namespace Shadowing.Functions.Tests;

public sealed class FunctionsAppTests
{
    [Fact]
    public void AddShadowingFunctions_UsesTheDaprAdapters()
    {
        using var provider = new ServiceCollection().AddLogging().AddShadowingFunctions(new ConfigurationBuilder().Build()).BuildServiceProvider();

        Assert.IsType<DaprStateStore>(provider.GetRequiredService<IStateStore>());
        Assert.NotNull(provider.GetRequiredService<Shadowing.Forecasting.Pae.DemandForecastService>());
        Assert.IsType<Shadowing.Control.Workflows.InvokedWorkflowControl>(provider.GetRequiredService<Shadowing.Control.Workflows.IWorkflowControl>());
        Assert.NotNull(provider.GetRequiredService<Shadowing.Control.ControlApi>());
    }

    [Fact]
    public async Task AddShadowingFunctions_EveryFunctionClassAndHostedService_Resolves()
    {
        // What the worker does at start and at each invocation: a constructor dependency nobody registered fails only there.
        await using var provider = new ServiceCollection().AddLogging().AddShadowingFunctions(new ConfigurationBuilder().Build()).BuildServiceProvider();
        var functions = typeof(FunctionsServiceCollectionExtensions).Assembly.GetTypes()
            .Where(t => t.GetMethods().Any(m => m.GetCustomAttributes(typeof(Microsoft.Azure.Functions.Worker.FunctionAttribute), false).Length > 0))
            .ToList();

        Assert.Equal(3, functions.Count); // ForecastDemand, ControlFunctions, ValidateShadows
        Assert.All(functions, t => Assert.NotNull(ActivatorUtilities.CreateInstance(provider, t)));
        Assert.All(provider.GetServices<Microsoft.Extensions.Hosting.IHostedService>(), Assert.NotNull);
    }

    [Fact]
    public void AddShadowingFunctions_BadWorkflowsUrl_FailsAtStartNamingTheSetting()
    {
        // At composition, not at the first control API call (every call would have failed with a 500).
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["WorkflowsUrl"] = "not a url" }).Build();

        var error = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddLogging().AddShadowingFunctions(configuration));

        Assert.Contains("WorkflowsUrl", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddShadowingFunctions_MisspeltPaeSetting_FailsNamingIt()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Pae:HolidayContry"] = "DE", ["Pae:Prometheus:BaseAddress"] = "http://prometheus:9090" }).Build();

        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => new ServiceCollection().AddLogging().AddShadowingFunctions(configuration));

        Assert.Equal("Pae:HolidayContry is not a setting of the Functions app: check its spelling against the README's table.", Assert.Single(error.Failures));
    }

    [Fact]
    public void Build_Output_HasHostJsonAndTheRoutingFunctionsInMetadata()
    {
        // The Functions SDK writes functions.metadata and copies host.json next to the worker it builds.
        var output = Path.GetDirectoryName(typeof(FunctionsServiceCollectionExtensions).Assembly.Location)!;
        var functionsOutput = Path.Combine(output.Replace(Path.Combine("tests", "Shadowing.Functions.Tests"), Path.Combine("functions", "Shadowing.Functions"), StringComparison.Ordinal));
        var metadata = Path.Combine(functionsOutput, "functions.metadata");
        Assert.True(File.Exists(metadata), $"{metadata} exists (build the Functions project)");
        Assert.True(File.Exists(Path.Combine(functionsOutput, "host.json")));

        using var document = JsonDocument.Parse(File.ReadAllText(metadata));
        var names = document.RootElement.EnumerateArray().Select(f => f.GetProperty("name").GetString()).ToArray();
        Assert.Contains("GetRoutingTable", names);
        Assert.Contains("ListRoutingTables", names);
        foreach (var control in new[] { "GetWorkflow", "RaiseWorkflowEvent", "TerminateWorkflow", "GetService", "StartShadows", "PromoteShadow", "GetEvents", "PutEvents" })
        {
            Assert.Contains(control, names);
        }

        // Every HTTP function takes a function key.
        foreach (var function in document.RootElement.EnumerateArray())
        {
            foreach (var binding in function.GetProperty("bindings").EnumerateArray().Where(b => b.GetProperty("type").GetString() == "httpTrigger"))
            {
                Assert.Equal("Function", binding.GetProperty("authLevel").GetString());
            }
        }

        Assert.Contains("ForecastDemand", names);
        Assert.Contains("ValidateShadows", names);

        // Every timer reads its schedule from an app setting, which has no default: the sample settings and the
        // README's deployment steps must both name it, spelled as the binding spells it.
        var root = new DirectoryInfo(output);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Shadowing.Functions.sln")))
        {
            root = root.Parent;
        }

        Assert.NotNull(root);
        using var sample = JsonDocument.Parse(File.ReadAllText(Path.Combine(root.FullName, "functions", "Shadowing.Functions", "local.settings.sample.json")));
        var readme = File.ReadAllText(Path.Combine(root.FullName, "README.md"));
        var timers = document.RootElement.EnumerateArray()
            .SelectMany(f => f.GetProperty("bindings").EnumerateArray())
            .Where(b => b.GetProperty("type").GetString() == "timerTrigger")
            .Select(b => b.GetProperty("schedule").GetString()!)
            .ToArray();
        Assert.Equal(2, timers.Length);
        foreach (var schedule in timers)
        {
            Assert.Matches("^%[A-Za-z]+%$", schedule);
            var setting = schedule.Trim('%');
            Assert.True(sample.RootElement.GetProperty("Values").TryGetProperty(setting, out var value), $"local.settings.sample.json sets {setting}");
            Assert.Equal(6, value.GetString()!.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length); // NCRONTAB: seconds first
            Assert.Contains($"`{setting}` (", readme, StringComparison.Ordinal);
        }
    }
}
