using Shadowing.Core.Endpoints;

namespace Shadowing.Core.Tests.Endpoints;

public sealed class EndpointAddressTests
{
    [Theory]
    [InlineData("http://127.0.0.1:5101", "http://127.0.0.1:5101", "")]
    [InlineData("https://orders.example.com/api/v1/", "https://orders.example.com", "/api/v1")]
    [InlineData("http://host", "http://host", "")]
    public void Parse_HttpUrl_SplitsOriginAndBasePath(string text, string origin, string basePath)
    {
        var address = EndpointAddress.Parse(text);

        Assert.Equal(EndpointScheme.Http, address.Scheme);
        Assert.Equal(origin, address.Target);
        Assert.Equal(basePath, address.BasePath);
        Assert.Equal(text, address.ToString());
    }

    [Theory]
    [InlineData("dapr://orders-api", "orders-api", "")]
    [InlineData("dapr://orders.prod/v2/", "orders.prod", "/v2")]
    [InlineData("dapr://legacy/api%20v2", "legacy", "/api%20v2")] // other escapes stay valid: a stored table keeps routing
    public void Parse_DaprAppId_TakesAppIdAndBasePath(string text, string appId, string basePath)
    {
        var address = EndpointAddress.Parse(text);

        Assert.Equal(EndpointScheme.Dapr, address.Scheme);
        Assert.Equal(appId, address.Target);
        Assert.Equal(basePath, address.BasePath);
    }

    [Theory]
    [InlineData(null, "is empty")]
    [InlineData("", "is empty")]
    [InlineData("ftp://host", "is not an http(s):// URL or dapr://app-id")]
    [InlineData("orders", "is not an http(s):// URL or dapr://app-id")]
    [InlineData("http://host/x?y=1", "must not have a query string")]
    [InlineData("http://user:pw@host", "user info")]
    [InlineData("dapr://", "invalid Dapr app id")]
    [InlineData("dapr://-bad", "invalid Dapr app id")]
    [InlineData("dapr://a b", "invalid Dapr app id")]
    [InlineData("dapr://x/../../../state/statestore", "'..' segment")] // the sidecar's URL would collapse into /v1.0/state/…
    [InlineData("dapr://x/v1/./y", "'..' segment")]
    [InlineData("dapr://x/%2e%2e/state", "'..' segment")]
    [InlineData("dapr://x/a\\..\\state", "'..' segment")]
    [InlineData("dapr://x/a%2F..%2F..%2Fstate", "'..' segment")]
    public void TryParse_Invalid_ExplainsWhy(string? text, string expected)
    {
        Assert.False(EndpointAddress.TryParse(text, out var address, out var error));

        Assert.Null(address);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_Invalid_ThrowsFormatException()
    {
        Assert.Throws<FormatException>(() => EndpointAddress.Parse("tcp://x"));
    }
}
