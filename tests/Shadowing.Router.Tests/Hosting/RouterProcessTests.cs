using System.Net;
using System.Net.Sockets;
using System.Text;
using Shadowing.TestUtilities.Hosting;
using Shadowing.TestUtilities.Time;

namespace Shadowing.Router.Tests.Hosting;

/// <summary>The router as its users run it, a process: what it prints when a start fails, and while it forwards.</summary>
public sealed class RouterProcessTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("shadowing-router-process-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string RouterDll => Path.Combine(AppContext.BaseDirectory, "Shadowing.Router.dll");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("--Router:ActiveHealthChecks:Timeout=00:00:09", "router: invalid setting: Router:ActiveHealthChecks:Timeout (00:00:09) must be shorter than Router:ActiveHealthChecks:Interval")]
    [InlineData("--Router:LatencyEwmaAlpha=2", "router: invalid setting: Router:LatencyEwmaAlpha:")]
    [InlineData("--Router:OutlierDetection:ConsecutiveFailure=3", "router: invalid setting: Router:OutlierDetection:ConsecutiveFailure is not a setting of the router")]
    [InlineData("--Router:PollInterval=10s", "router: invalid setting: Failed to convert configuration value '10s' at 'Router:PollInterval'")]
    [InlineData("--Shadowing:Mode=Cloud", "router: Shadowing:Mode is 'Cloud'; use Auto, Embedded or Dapr.")]
    [InlineData("--routes=missing.yaml", "router: Routing file 'missing.yaml' cannot be read")]
    public async Task BadSettingOrFile_ExitsTwoWithOneLine_AndNoStackTrace(string argument, string expected)
    {
        await using var router = Start(argument, "--urls=http://127.0.0.1:0", "--Shadowing:Embedded:StatePath=:memory:");

        var exit = await router.WaitForExitAsync(TimeSpan.FromMinutes(1), Ct);

        Assert.Equal(2, exit);
        Assert.Contains(expected, router.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", router.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", router.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABadSettingCheckedByItsAnnotations_IsNamedByItsKey_NotItsClass()
    {
        await using var router = Start("--Shadowing:Embedded:PubSub:MaxAttempts=0", "--urls=http://127.0.0.1:0", "--Shadowing:Embedded:StatePath=:memory:");

        var exit = await router.WaitForExitAsync(TimeSpan.FromMinutes(1), Ct);

        Assert.Equal(2, exit);
        Assert.Contains("router: invalid setting: Shadowing:Embedded:PubSub:MaxAttempts: The field MaxAttempts must be between 1 and 100.", router.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("InProcessEventBusOptions", router.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Describe_BadSettingsOfTwoOptionsClasses_IsOneUsageError_NamingEachKey()
    {
        // Start-up validation throws every failing options class's exception together (`up` binds many classes).
        var error = new AggregateException(
            new Microsoft.Extensions.Options.OptionsValidationException(string.Empty, typeof(Shadowing.Embedded.Messaging.InProcessEventBusOptions), ["DataAnnotation validation failed for 'InProcessEventBusOptions' members: 'MaxAttempts' with the error: 'The field MaxAttempts must be between 1 and 100.'."]),
            new Microsoft.Extensions.Options.OptionsValidationException(string.Empty, typeof(RouterOptions), ["Router:LatencyEwmaAlpha: The field LatencyEwmaAlpha must be between 0.001 and 1."]));

        var described = Shadowing.Router.Hosting.RouterHost.Describe(error);

        Assert.Equal((2, "invalid setting: Shadowing:Embedded:PubSub:MaxAttempts: The field MaxAttempts must be between 1 and 100. Router:LatencyEwmaAlpha: The field LatencyEwmaAlpha must be between 0.001 and 1."), described);
        Assert.Null(Shadowing.Router.Hosting.RouterHost.Describe(new AggregateException(new InvalidDataException("x"))));
    }

    [Fact]
    public async Task PortInUse_ExitsOneWithOneLine()
    {
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        var port = ((IPEndPoint)busy.LocalEndpoint).Port;
        await using var router = Start($"--urls=http://127.0.0.1:{port}", "--Shadowing:Embedded:StatePath=:memory:");

        var exit = await router.WaitForExitAsync(TimeSpan.FromMinutes(1), Ct);

        Assert.Equal(1, exit);
        Assert.Contains($"router: Failed to bind to address http://127.0.0.1:{port}: address already in use.", router.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", router.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AStateFileItCannotOpen_ExitsOneWithOneLine()
    {
        var notAFolder = Path.Combine(_directory, "file");
        await File.WriteAllTextAsync(notAFolder, "x", Ct);
        await using var router = Start("--urls=http://127.0.0.1:0", $"--Shadowing:Embedded:StatePath={Path.Combine(notAFolder, "state.db")}");

        var exit = await router.WaitForExitAsync(TimeSpan.FromMinutes(1), Ct);

        Assert.True(exit == 1, router.Output);
        Assert.Contains("router: ", router.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", router.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", router.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ForwardingFailuresAndClientErrors_AreOneLineEach_WithoutStackTraces()
    {
        await using var fallback = await TestBackend.StartAsync("fallback");

        // Bound but not listening: connections are refused, and no other test can take the port meanwhile.
        using var deadSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        deadSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var dead = ((IPEndPoint)deadSocket.LocalEndPoint!).Port;
        var routes = Path.Combine(_directory, "routes.json");
        await File.WriteAllTextAsync(routes, $$"""
            { "services": { "orders": {
                "production": [ { "id": "dead", "address": "http://127.0.0.1:{{dead}}", "maxConcurrency": 16 } ],
                "default": { "id": "fallback", "address": "{{fallback.Address.ToString().TrimEnd('/')}}" } },
              "echo": {
                "production": [ { "id": "echo-1", "address": "{{fallback.Address.ToString().TrimEnd('/')}}", "maxConcurrency": 16 } ] },
              "lonely": {
                "production": [ { "id": "dead", "address": "http://127.0.0.1:{{dead}}", "maxConcurrency": 16 } ] } } }
            """, Ct);

        // Probes are slow to judge here, so production stays a candidate and every request meets the dead endpoint.
        await using var router = Start("--urls=http://127.0.0.1:0", $"--routes={routes}", "--Shadowing:Embedded:StatePath=:memory:", "--Router:ActiveHealthChecks:Interval=00:01:00", "--Router:OutlierDetection:ConsecutiveFailures=100", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information");
        var listening = await router.WaitForLineAsync(l => l.Contains("Now listening on: ", StringComparison.Ordinal), TimeSpan.FromMinutes(1), Ct);
        var address = new Uri(listening[(listening.IndexOf("http", StringComparison.Ordinal))..].Trim());
        var port = address.Port;
        using var http = new HttpClient { BaseAddress = address };
        await WaitUntilListeningAsync(http);

        for (var i = 0; i < 3; i++)
        {
            using var response = await http.GetAsync(new Uri("/orders/items", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // A POST that never reached the endpoint (refused) goes to the next one too; with none, it fails with 502, logged once.
        using (var post = await http.PostAsync(new Uri("/orders/items", UriKind.Relative), new StringContent("{}"), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, post.StatusCode);
        }

        using (var post = await http.PostAsync(new Uri("/lonely/items", UriKind.Relative), new StringContent("{}"), Ct))
        {
            Assert.Equal(HttpStatusCode.BadGateway, post.StatusCode);
        }

        // Clients that go wrong: a malformed chunked body, and one that hangs up while the endpoint works.
        await SendRawAsync(port, "POST /echo/items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nnot a chunk\r\n");
        fallback.Delay = TimeSpan.FromSeconds(5);
        using (var impatient = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => http.GetAsync(new Uri("/echo/slow", UriKind.Relative), impatient.Token));
        }

        fallback.Delay = TimeSpan.Zero;
        await router.InterruptAsync(TimeSpan.FromSeconds(30), Ct);

        var lines = router.Output.Split('\n');
        Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        var failovers = lines.Count(l => l.Contains("Service orders: endpoint dead failed before responding (Request: Connection refused", StringComparison.Ordinal) && l.Contains("retrying once on default endpoint fallback", StringComparison.Ordinal));
        Assert.True(failovers == 4, router.Output);
        Assert.Single(lines, l => l.Contains("Service lonely: forwarding to endpoint dead failed (Request: Connection refused", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("Service orders: forwarding to endpoint dead failed", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("HttpForwarder", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("client ended", StringComparison.Ordinal)); // Debug: not at the default level
    }

    [Fact]
    public async Task Logs_NeverCarryCredentialsCookiesQueriesOrBodies()
    {
        await using var echo = await TestBackend.StartAsync("echo-1");
        using var deadSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        deadSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var dead = ((IPEndPoint)deadSocket.LocalEndPoint!).Port;
        var routes = Path.Combine(_directory, "routes.json");
        await File.WriteAllTextAsync(routes, $$"""
            { "services": {
              "echo": { "production": [ { "id": "echo-1", "address": "{{echo.Address.ToString().TrimEnd('/')}}", "maxConcurrency": 16 } ] },
              "down": { "production": [ { "id": "dead", "address": "http://127.0.0.1:{{dead}}", "maxConcurrency": 16 } ] } } }
            """, Ct);

        // The Shadowing components at their most verbose (what --verbose gives up), ASP.NET Core and YARP as shipped.
        await using var router = Start("--urls=http://127.0.0.1:0", $"--routes={routes}", "--Shadowing:Embedded:StatePath=:memory:", "--Logging:LogLevel:Shadowing=Trace", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information", "--Router:ActiveHealthChecks:Interval=00:01:00", "--Router:OutlierDetection:ConsecutiveFailures=100");
        var listening = await router.WaitForLineAsync(l => l.Contains("Now listening on: ", StringComparison.Ordinal), TimeSpan.FromMinutes(1), Ct);
        using var http = new HttpClient { BaseAddress = new Uri(listening[listening.IndexOf("http", StringComparison.Ordinal)..].Trim()) };
        await WaitUntilListeningAsync(http);

        string[] secrets = ["tok-S3CRET-1", "session-S3CRET-2", "body-S3CRET-3", "query-S3CRET-4", "basic-S3CRET-5"];
        foreach (var service in new[] { "echo", "down" })
        {
            foreach (var method in new[] { HttpMethod.Get, HttpMethod.Post, HttpMethod.Put })
            {
                using var request = new HttpRequestMessage(method, new Uri($"/{service}/items?api_key={secrets[3]}", UriKind.Relative));
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", secrets[0]);
                request.Headers.Add("Cookie", $"session={secrets[1]}");
                request.Headers.Add("Proxy-Authorization", $"Basic {secrets[4]}");
                request.Content = new StringContent($"{{\"card\":\"{secrets[2]}\"}}", Encoding.UTF8, "application/json");
                using var response = await http.SendAsync(request, Ct);
            }
        }

        await router.InterruptAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Contains("forwarding to endpoint dead failed", router.Output, StringComparison.Ordinal); // the failures were logged
        foreach (var secret in secrets)
        {
            Assert.DoesNotContain(secret, router.Output, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(null, "2")]
    [InlineData("4", "4")]
    public async Task GlibcArenas_CappedFromTheStart_UnlessTheOperatorSetTheVariable(string? set, string expected)
    {
        Assert.SkipUnless(File.Exists("/lib/x86_64-linux-gnu/libc.so.6") || File.Exists("/lib/aarch64-linux-gnu/libc.so.6"), "the cap is glibc's");
        var environment = set is null ? null : new Dictionary<string, string> { [Shadowing.Hosting.MallocArenas.EnvironmentVariable] = set };
        await using var router = ChildProcess.Start("dotnet", [RouterDll, "--urls=http://127.0.0.1:0", "--Shadowing:Embedded:StatePath=:memory:", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information"], Path.GetTempPath(), environment);
        var listening = await router.WaitForLineAsync(l => l.Contains("Now listening on: ", StringComparison.Ordinal), TimeSpan.FromMinutes(1), Ct);
        using var http = new HttpClient { BaseAddress = new Uri(listening[listening.IndexOf("http", StringComparison.Ordinal)..].Trim()) };
        await WaitUntilListeningAsync(http);

        // The same process (started again in place), now with the variable glibc read at its start, and as many arenas.
        var variables = (await File.ReadAllTextAsync($"/proc/{router.Id}/environ", Ct)).Split('\0');
        Assert.Contains($"{Shadowing.Hosting.MallocArenas.EnvironmentVariable}={expected}", variables);
        Assert.InRange(GlibcArenas(router.Id), 1, int.Parse(expected, System.Globalization.CultureInfo.InvariantCulture));

        // The runtime's diagnostics socket listens (dotnet-counters, -trace and -dump can attach), restarted or not.
        await Eventually.WaitUntilAsync(
            () => File.ReadLines("/proc/net/unix").Any(l => l.Contains($"/dotnet-diagnostic-{router.Id}-", StringComparison.Ordinal) && l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3] == "00010000"),
            "the diagnostics socket listening",
            cancellationToken: Ct);
    }

    /// <summary>
    /// glibc's arenas in a process: the main one, and each other one a heap of 64 MiB reserved at a 64 MiB-aligned
    /// address (the part in use read-write, the rest inaccessible), as <c>/proc/{pid}/maps</c> lists them.
    /// </summary>
    private static int GlibcArenas(int pid)
    {
        const long heap = 64L << 20;
        var rows = File.ReadAllLines($"/proc/{pid}/maps")
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields.Length == 5) // anonymous
            .Select(fields =>
            {
                var range = fields[0].Split('-');
                return (Low: Convert.ToInt64(range[0], 16), High: Convert.ToInt64(range[1], 16), Permissions: fields[1]);
            })
            .ToArray();
        var arenas = 1;
        for (var i = 0; i < rows.Length; i++)
        {
            var (low, high, permissions) = rows[i];
            if (low % heap != 0 || !permissions.StartsWith("rw", StringComparison.Ordinal))
            {
                continue;
            }

            var end = high < low + heap && i + 1 < rows.Length && rows[i + 1].Low == high && rows[i + 1].Permissions.StartsWith("---", StringComparison.Ordinal) ? rows[i + 1].High : high;
            arenas += end - low == heap ? 1 : 0;
        }

        return arenas;
    }

    private static ChildProcess Start(params string[] arguments) =>
        ChildProcess.Start("dotnet", [RouterDll, .. arguments], Path.GetTempPath());

    private static async Task WaitUntilListeningAsync(HttpClient http)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            try
            {
                using var response = await http.GetAsync(new Uri("/healthz", UriKind.Relative), Ct);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System, Ct);
        }

        Assert.Fail("the router did not answer /healthz");
    }

    private static async Task SendRawAsync(int port, string request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, Ct);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), Ct);
        var buffer = new byte[4096];
        using var read = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            _ = await stream.ReadAsync(buffer, read.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
