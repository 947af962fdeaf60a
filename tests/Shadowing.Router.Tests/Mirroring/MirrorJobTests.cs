using System.IO.Compression;
using System.Text;
using Microsoft.AspNetCore.Http;
using Shadowing.Core.Mirroring;
using Shadowing.Router.Mirroring;

namespace Shadowing.Router.Tests.Mirroring;

/// <summary>What a copy carries: the request cleaned of credentials, hop-only headers and the policy's fields.</summary>
public sealed class MirrorJobTests
{
    [Fact]
    public void CopyHeaders_DropsCredentialsOfEveryKnownKind_AndHeadersNamedInConnection()
    {
        var headers = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase)
        {
            ["Accept"] = ["application/json"],
            ["X-Api-Key"] = ["k1"],
            ["ocp-apim-subscription-key"] = ["k2"],
            ["X-MS-TOKEN-AAD-ACCESS-TOKEN"] = ["eyJ0eXAi"],
            ["X-ZUMO-AUTH"] = ["session"],
            ["X-MS-CLIENT-PRINCIPAL"] = ["eyJhdXRoX3R5cCI6"],
            ["X-MS-CLIENT-PRINCIPAL-ID"] = ["00000000-0000-0000-0000-000000000001"],
            ["X-MS-CLIENT-PRINCIPAL-NAME"] = ["user@example.com"],
            ["X-Forwarded-Client-Cert"] = ["Hash=abc;Cert=..."],
            ["dapr-api-token"] = ["t"],
            ["api-key"] = ["azure-openai-key"],
            ["X-Auth-Token"] = ["t2"],
            ["X-Amzn-Oidc-Data"] = ["eyJ0eXAi"],
            ["Cf-Access-Jwt-Assertion"] = ["eyJ0eXAi"],
            ["ssl-client-cert"] = ["-----BEGIN"],
            ["Connection"] = ["keep-alive, X-Hop-Secret"],
            ["X-Hop-Secret"] = ["s"],
            ["X-Request-Id"] = ["r1"],
            // What other fronting proxies add beside their assertions: oauth2-proxy's access token and identity, Google
            // IAP's, Cloudflare Access's, client certificates' details, API keys, Cloud Run's bearer token.
            ["X-Forwarded-Access-Token"] = ["ya29.a0"],
            ["X-Forwarded-User"] = ["u1"],
            ["X-Forwarded-Email"] = ["u1@example.com"],
            ["X-Auth-Request-Access-Token"] = ["ya29.a0"],
            ["X-Goog-Authenticated-User-Email"] = ["accounts.google.com:u1@example.com"],
            ["Cf-Access-Authenticated-User-Email"] = ["u1@example.com"],
            ["X-Forwarded-Tls-Client-Cert-Info"] = ["Subject=CN=u1"],
            ["ssl-client-subject-dn"] = ["CN=u1"],
            ["X-Amzn-Mtls-Clientcert-Leaf"] = ["-----BEGIN"],
            ["apikey"] = ["kong-key"],
            ["X-Goog-Api-Key"] = ["AIza"],
            ["X-Amz-Security-Token"] = ["FwoG"],
            ["X-Serverless-Authorization"] = ["Bearer eyJ"],
            ["X_Api_Key"] = ["k3"], // what a CGI-style stack reads as X-Api-Key
            ["X-Access-Token"] = ["t3"],
            ["X-API-Token"] = ["t4"],
            ["Private-Token"] = ["glpat-"],
            ["X-Vault-Token"] = ["hvs."],
            ["X-CSRF-Token"] = ["c1"],
            ["X-XSRF-TOKEN"] = ["c2"],
        };

        var copied = MirrorJob.CopyHeaders(headers, new MirrorPolicy { StripHeaders = ["x-request-id"] });

        Assert.Equal(["Accept"], copied.Select(h => h.Key));
    }

    [Fact]
    public void CopyHeaders_Referer_LosesTheCredentialsInItsQuery_AsTheCopysOwnQueryDoes()
    {
        var headers = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase)
        {
            ["Referer"] = ["https://shop.example/callback?code=AUTH&state=s1"],
            ["X-Forwarded-Port"] = ["443"], // not a credential: passed on as production gets it
        };

        var copied = MirrorJob.CopyHeaders(headers, new MirrorPolicy { StripQuery = ["state"] }).ToDictionary(h => h.Key, h => h.Value);

        Assert.Equal(["https://shop.example/callback"], copied["Referer"]);
        Assert.Equal(["443"], copied["X-Forwarded-Port"]);
        Assert.Equal(["https://shop.example/cart?item=7"], MirrorJob.CopyHeaders(new Dictionary<string, string[]> { ["Referer"] = ["https://shop.example/cart?item=7"] }, new MirrorPolicy()).Single().Value);
    }

    [Fact]
    public void CopyHeaders_OfARequest_CarryTheForwardingHeadersProductionGets_NotTheClients()
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = System.Net.IPAddress.Parse("192.0.2.7");
        context.Request.Scheme = "https";
        context.Request.Host = new HostString("shop.example.com");
        context.Request.Headers["Accept"] = "application/json";
        context.Request.Headers["X-Forwarded-For"] = "10.0.0.1"; // a client claiming to be on the allow-list
        context.Request.Headers["X-Forwarded-Host"] = "admin.internal";
        context.Request.Headers["Forwarded"] = "for=10.0.0.1";
        context.Request.Headers["x-shadowing-endpoint"] = "p2";
        context.Request.Headers["X-Forwarded-Port"] = "8443"; // not one YARP sets: passed on to production, so to copies too

        var copied = MirrorJob.CopyHeaders(context.Request, new MirrorPolicy()).ToDictionary(h => h.Key, h => string.Join(',', h.Value), StringComparer.OrdinalIgnoreCase);

        Assert.Equal(
            new Dictionary<string, string> { ["Accept"] = "application/json", ["X-Forwarded-Port"] = "8443", ["X-Forwarded-For"] = "192.0.2.7", ["X-Forwarded-Proto"] = "https", ["X-Forwarded-Host"] = "shop.example.com" },
            copied);
    }

    [Fact]
    public void CopyHeaders_OfARequest_APolicyStrippingAForwardingHeader_KeepsItFromTheCopy()
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = System.Net.IPAddress.Parse("192.0.2.7");
        context.Request.Host = new HostString("shop.example.com");

        context.Request.Headers["Connection"] = "keep-alive, X-Forwarded-Host"; // names its own hop's headers, not the router's

        var copied = MirrorJob.CopyHeaders(context.Request, new MirrorPolicy { StripHeaders = ["x-forwarded-for"] });

        // The client's address is what the policy keeps from shadows; it was added after the policy was applied.
        Assert.DoesNotContain(copied, h => h.Key.Equals("X-Forwarded-For", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(copied, h => h.Key == "X-Forwarded-Host");
    }

    [Fact]
    public void CopyHeaders_AppliedToAnEnvelope_RemovesWhatItCarries()
    {
        var envelope = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase) { ["Authorization"] = ["Bearer x"], ["Accept"] = ["*/*"], ["x-shadowing-endpoint"] = ["p2"], ["Forwarded"] = ["for=10.0.0.1"] };

        Assert.Equal(["Accept"], MirrorJob.CopyHeaders(envelope, new MirrorPolicy()).Select(h => h.Key));
    }

    [Fact]
    public void CopyQuery_StripsParametersWhateverTheirCase()
    {
        var query = MirrorJob.CopyQuery(new QueryString("?API_KEY=secret&page=2&Api_Key=again"), new MirrorPolicy { StripQuery = ["api_key"] });

        Assert.Equal("?page=2", query);
    }

    [Theory]
    [InlineData("?b=1&a=2&B=3&token=x", "?b=1&a=2&B=3")] // order and case kept
    [InlineData("?q=a+b%2Bc&%74oken=x&t%C3%A9=%C3%A9", "?q=a+b%2Bc&t%C3%A9=%C3%A9")] // encoding kept; an encoded name still matched
    [InlineData("?token=x&&flag&token", "?flag")]
    [InlineData("?token=x", "")]
    public void CopyQuery_KeepsTheRestAsTheClientSentIt(string sent, string copied) =>
        Assert.Equal(copied, MirrorJob.CopyQuery(new QueryString(sent), new MirrorPolicy { StripQuery = ["token"] }));

    [Theory]
    [InlineData("?code=fn-key&page=2", "?page=2")] // Azure Functions' key in its query form
    [InlineData("?Subscription-Key=k&q=x&access_token=t", "?q=x")]
    [InlineData("?sv=2024&sig=abc%2Bdef&se=2026", "?sv=2024&se=2026")] // a SAS token's signature
    [InlineData("?%63ode=fn-key&q=a+b", "?q=a+b")] // an encoded name is still matched
    [InlineData("?barcode=12&zipcode=1", "?barcode=12&zipcode=1")] // names that merely contain one are kept
    [InlineData("?page=2", "?page=2")]
    [InlineData("?X-Goog-Signature=ab&X-Goog-Credential=sa%2F2026&alt=media", "?alt=media")] // a Cloud Storage signed URL's
    [InlineData("?token=next1&password=p&lang=en", "?token=next1&lang=en")] // token: a page cursor as often as a credential
    [InlineData("?q=a+b&&x=%41&design=1", "?q=a+b&&x=%41&design=1")] // nothing removed: exactly as sent
    public void CopyQuery_CredentialsAreRemovedWithoutAPolicyNamingThem(string sent, string copied) =>
        Assert.Equal(copied, MirrorJob.CopyQuery(new QueryString(sent), new MirrorPolicy()));

    [Theory]
    [InlineData("/cart;jsessionid=ABC123/items", "/cart;jsessionid/items")] // a servlet container's session in the URL
    [InlineData("/a;v=1;JSESSIONID=x", "/a;v=1;JSESSIONID")] // case ignored; other parameters kept
    [InlineData("/a;%6Asessionid=x;v=1", "/a;%6Asessionid;v=1")] // an encoded name is still matched
    [InlineData("/..;jsessionid=x/admin", "/..;jsessionid/admin")] // never turned into a dot segment
    [InlineData("/x;PHPSESSID=1/y;other=2;jsessionid", "/x;PHPSESSID/y;other=2;jsessionid")] // a bare name has no value to remove
    [InlineData("/countries;code=US/img;sig=ab", "/countries;code=US/img;sig=ab")] // other matrix parameters name the resource
    [InlineData("/a;v=1/b", "/a;v=1/b")]
    [InlineData("/items/1", "/items/1")]
    public void CopyPath_SessionPathParameters_LoseTheirValues(string sent, string copied) =>
        Assert.Equal(copied, MirrorJob.CopyPath(sent));

    [Fact]
    public void CopyHeaders_Referer_LosesASessionInItsPath()
    {
        var copied = MirrorJob.CopyHeaders(new Dictionary<string, string[]> { ["Referer"] = ["https://shop.example/cart;jsessionid=S1?item=7&PHPSESSID=p"] }, new MirrorPolicy());

        Assert.Equal(["https://shop.example/cart;jsessionid?item=7"], copied.Single().Value);
    }

    [Fact]
    public void CopyBody_JsonLabelledAsAForm_IsStrippedAsJson_AFormStartingWithABracketAsAForm()
    {
        var policy = new MirrorPolicy { StripJsonFields = ["card.number"] };

        // jQuery's default Content-Type for a JSON.stringify'd body: read as a form it was one field named by the whole object.
        var json = MirrorJob.CopyBody(""" {"card":{"number":"4111111111111111","cvc":"1"},"amount":10}"""u8.ToArray(), "application/x-www-form-urlencoded; charset=UTF-8", [], policy);
        var form = MirrorJob.CopyBody("[0].x=1&card.number=4111"u8.ToArray(), "application/x-www-form-urlencoded", [], policy);

        Assert.Equal("""{"card":{"cvc":"1"},"amount":10}""", Encoding.UTF8.GetString(json!.Value.Span));
        Assert.Equal("[0].x=1", Encoding.UTF8.GetString(form!.Value.Span));

        // An empty pair read as a form ("a && b" in a string) names no field: stripped as JSON and copied.
        var search = MirrorJob.CopyBody(Encoding.UTF8.GetBytes("{\"q\":\"a && b\",\"card\":{\"number\":\"4111\"}}"), "application/x-www-form-urlencoded", [], policy);
        Assert.Equal("{\"q\":\"a \\u0026\\u0026 b\",\"card\":{}}", Encoding.UTF8.GetString(search!.Value.Span));

        // Valid JSON that, read as the form it is labelled, still names a field to strip: not copied.
        Assert.Null(MirrorJob.CopyBody("""[{"x":"&card.number=4111&"}]"""u8.ToArray(), "application/x-www-form-urlencoded", [], policy));
    }

    [Fact]
    public void CopyBody_AForm_StripsTheFieldsAsModelBindingReadsThem_AMultipartBodyIsNotCopied()
    {
        var policy = new MirrorPolicy { StripJsonFields = ["card.number", "items.card.number", "password", "id"] };
        var form = "card.number=4111111111111111&amount=10&Card%5BNumber%5D=5500&items%5B0%5D.card.number=3400&Password=hunter2&Input.Password=h2&sku=a+b&id=7&customer.address.id=9"u8.ToArray();

        var copied = MirrorJob.CopyBody(form, "application/x-www-form-urlencoded; charset=utf-8", [], policy);

        // customer.address.id is not the model's id (two levels down), as in JSON, where only paths from the root match.
        Assert.Equal("amount=10&sku=a+b&customer.address.id=9", Encoding.UTF8.GetString(copied!.Value.Span));
        Assert.Null(MirrorJob.CopyBody("--b\r\nContent-Disposition: form-data; name=\"card.number\"\r\n\r\n4111\r\n--b--"u8.ToArray(), "multipart/form-data; boundary=b", [], policy));
        Assert.Equal(form.Length, MirrorJob.CopyBody(form, "application/x-www-form-urlencoded", [], new MirrorPolicy())!.Value.Length); // nothing to strip: as sent
    }

    [Fact]
    public void CopyBody_StripsFieldsWhateverTheirCase_InsideArraysToo()
    {
        const string Body = """{"Card":{"Number":"4111111111111111","expiry":"12/29"},"items":[{"card":{"number":"5500"}},{"sku":"a"}]}""";
        var policy = new MirrorPolicy { StripJsonFields = ["card.number", "items.card.number"] }; // an array is walked through

        var copied = MirrorJob.CopyBody(Encoding.UTF8.GetBytes(Body), "application/json; charset=utf-8", [], policy);

        var text = Encoding.UTF8.GetString(copied!.Value.Span);
        Assert.DoesNotContain("4111", text, StringComparison.Ordinal);
        Assert.DoesNotContain("5500", text, StringComparison.Ordinal);
        Assert.Contains("12/29", text, StringComparison.Ordinal);
        Assert.Contains("\"sku\":\"a\"", text, StringComparison.Ordinal);

        var topLevelArray = MirrorJob.CopyBody(Encoding.UTF8.GetBytes("""[{"card":{"number":"4111"}}]"""), "application/json", [], policy);
        Assert.DoesNotContain("4111", Encoding.UTF8.GetString(topLevelArray!.Value.Span), StringComparison.Ordinal);
    }

    [Fact]
    public void CopyBody_FieldsToStripFromABodyThatCannotBeRead_IsNoCopy()
    {
        var policy = new MirrorPolicy { StripJsonFields = ["card.number"] };
        var json = Encoding.UTF8.GetBytes("""{"card":{"number":"4111"}}""");
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(json);
        }

        Assert.Null(MirrorJob.CopyBody(compressed.ToArray(), "application/json", [new("Content-Encoding", ["gzip"])], policy));
        Assert.Null(MirrorJob.CopyBody(Encoding.UTF8.GetBytes("""{"card":{"number":"4111" """), "application/json", [], policy));
        Assert.Null(MirrorJob.CopyBody(Encoding.UTF8.GetBytes("""{"card":{"number":"4111"},"\ud83d":1}"""), "application/json", [], policy)); // a name with no string

        // Nothing to strip, or not JSON: the body goes as it is.
        Assert.Equal(json.Length, MirrorJob.CopyBody(json, "application/json", [new("Content-Encoding", ["gzip"])], new MirrorPolicy())!.Value.Length);
        Assert.Equal(4, MirrorJob.CopyBody("a=b&"u8.ToArray(), "text/plain", [], policy)!.Value.Length);
        Assert.Equal(3, MirrorJob.CopyBody("abc"u8.ToArray(), null, [], policy)!.Value.Length);
    }

    [Theory]
    [InlineData("text/plain;charset=UTF-8")] // what navigator.sendBeacon sends a string as
    [InlineData(null)]
    [InlineData("application/octet-stream")]
    public void CopyBody_JsonNotLabelledJson_IsStrippedToo_SinceTheServiceMayParseItAnyway(string? contentType)
    {
        var policy = new MirrorPolicy { StripJsonFields = ["card.number"] };

        var copied = MirrorJob.CopyBody("\uFEFF \n{\"card\":{\"number\":\"4111\",\"expiry\":\"12/29\"}}"u8.ToArray(), contentType, [], policy);
        var text = Encoding.UTF8.GetString(copied!.Value.Span);
        Assert.DoesNotContain("4111", text, StringComparison.Ordinal);
        Assert.Contains("12/29", text, StringComparison.Ordinal);

        // Starting as JSON but not valid (a lenient parser may still read it), or compressed: not copied.
        Assert.Null(MirrorJob.CopyBody("""[{"card":{"number":"4111"}},]"""u8.ToArray(), contentType, [], policy));
        Assert.Null(MirrorJob.CopyBody("x"u8.ToArray(), contentType, [new("Content-Encoding", ["br"])], policy));
    }
}
