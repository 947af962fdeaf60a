using Microsoft.Extensions.Configuration;
using Shadowing.Cli.Samples;
using Shadowing.Cli.Up;

namespace Shadowing.Cli.Tests.Up;

public sealed class UpSamplesTests
{
    [Fact]
    public void Read_ShippedSampleConfiguration_IsValid()
    {
        var configuration = new ConfigurationBuilder().AddJsonFile(Path.Combine(AppContext.BaseDirectory, "shadowing.json")).Build();

        var samples = UpSamples.Read(configuration);

        var orders = samples["orders"];
        Assert.Equal(2, orders.Production.Count);
        Assert.NotNull(orders.Default);
    }

    [Theory]
    [InlineData("Samples:orders:Production:0:Capacity", "0", "Samples:orders:Production:0:Capacity:")]
    [InlineData("Samples:orders:Production:0:ErrorRate", "1.5", "Samples:orders:Production:0:ErrorRate:")]
    [InlineData("Samples:orders:Production:0:Id", "bad id", "Samples:orders:Production:0:Id: 'bad id' is not a valid endpoint id")]
    [InlineData("Samples:orders:Default:Id", "o1", "Samples:orders:Default:Id: 'o1' is used twice")]
    public void Read_InvalidValue_NamesTheKey(string key, string value, string expected)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Samples:orders:Production:0:Id"] = "o1",
            ["Samples:orders:Default:Id"] = "d1",
            [key] = value,
        };

        var error = Assert.Throws<InvalidOperationException>(() => UpSamples.Read(new ConfigurationBuilder().AddInMemoryCollection(settings).Build()));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_ReservedServiceName_Refused()
    {
        var settings = new Dictionary<string, string?> { ["Samples:metrics:Production:0:Id"] = "m1" };

        var error = Assert.Throws<InvalidOperationException>(() => UpSamples.Read(new ConfigurationBuilder().AddInMemoryCollection(settings).Build()));

        Assert.Contains("Samples:metrics:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_ServiceWithoutProduction_Refused()
    {
        var settings = new Dictionary<string, string?> { ["Samples:orders:Default:Id"] = "d1" };

        var error = Assert.Throws<InvalidOperationException>(() => UpSamples.Read(new ConfigurationBuilder().AddInMemoryCollection(settings).Build()));

        Assert.Contains("Samples:orders:Production: give at least one production endpoint", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToRoutingTable_UsesCapacityAsThresholdUnlessSet()
    {
        var options = new SampleServiceOptions
        {
            MaxLatencyMs = 300,
            Production = [new SampleEndpointOptions { Id = "a", Capacity = 8 }, new SampleEndpointOptions { Id = "b", Capacity = 8, MaxConcurrency = 4 }],
        };

        var table = UpSamples.ToRoutingTable("orders", options, address: id => new Uri($"http://127.0.0.1:{(id == "a" ? 1 : 2)}/"));

        Assert.Equal([8, 4], table.Production.Select(p => p.MaxConcurrency));
        Assert.Equal("http://127.0.0.1:1", table.Production[0].Address);
        Assert.All(table.Production, p => Assert.Equal(300, p.MaxLatencyMs));
        Assert.Null(table.Default);
    }
}
