using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Shadowing.Core.Shadows;
using Shadowing.Core.State;

namespace Shadowing.Embedded.Provisioning;

/// <summary>How to run a copy of one service's endpoint as a local process (section <c>Shadowing:Provisioning:Local:Services:{service}</c>).</summary>
public sealed class LocalServiceTemplate
{
    /// <summary>The executable (<c>dotnet</c>, a path …).</summary>
    [Required]
    public string Command { get; set; } = string.Empty;

    /// <summary>
    /// Its arguments, with placeholders <c>{service}</c>, <c>{shadowId}</c>, <c>{port}</c>, <c>{size}</c>,
    /// <c>{latencyMs}</c> and <c>{errorRate}</c> (the resources and injected faults).
    /// </summary>
    public List<string> Arguments { get; set; } = [];

    /// <summary>Environment variables, with the same placeholders. <c>SHADOW_PORT</c>, <c>SHADOW_SIZE</c>, <c>SHADOW_ADDED_LATENCY_MS</c> and <c>SHADOW_ERROR_RATE</c> are always set.</summary>
    public Dictionary<string, string> Environment { get; set; } = [];

    /// <summary>Working directory; default the host's.</summary>
    public string? WorkingDirectory { get; set; }

    /// <summary>Path probed until it answers 2xx. Default <c>/healthz</c>.</summary>
    public string HealthPath { get; set; } = "/healthz";

    /// <summary>Time a new process has to answer its health check. Default 30 s.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>The local-process provisioner's settings (section <c>Shadowing:Provisioning:Local</c>).</summary>
public sealed class LocalProvisionerOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Shadowing:Provisioning:Local";

    /// <summary>One template per service.</summary>
    public Dictionary<string, LocalServiceTemplate> Services { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>
/// The provisioning port on this machine: a shadow is a copy of the service's configured command on a free loopback
/// port, with its size and injected faults in placeholders and environment variables, ready once its health path
/// answers. Each process is recorded at <c>provisioned/{service}/{shadow}</c> with its pid and start time, so a
/// restarted host finds the shadows that are still alive (and starts again the ones that are not); the processes this
/// host started stop with it (<see cref="StopAllAsync"/>).
/// </summary>
public sealed partial class LocalProcessProvisioner(IStateStore store, IOptions<LocalProvisionerOptions> options, TimeProvider time, ILogger<LocalProcessProvisioner> logger)
    : IShadowProvisioner, IAsyncDisposable
{
    /// <summary>The state collection of running shadows.</summary>
    public const string Prefix = "provisioned/";

    private readonly Dictionary<(string Service, string ShadowId), Process> _started = [];
    private readonly SemaphoreSlim _lock = new(1, 1);
    private int _disposed;
    private readonly HttpClient _health = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(2) };

    /// <inheritdoc />
    public async Task<ProvisionedShadow> ProvisionAsync(ProvisionSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var recorded = await store.GetJsonAsync<ProvisionedShadow>(Key(spec.Service, spec.ShadowId), cancellationToken).ConfigureAwait(false);
            if (await FindLockedAsync(spec.Service, spec.ShadowId, cancellationToken).ConfigureAwait(false) is { } running)
            {
                return running; // an activity that runs twice starts one process
            }

            // A shadow that died with its host comes back where the routing table points, if that port is still free.
            var port = (recorded is { } dead ? TryBind(new Uri(dead.Value.Address).Port) : null) ?? TryBind(0)!.Value;
            return await StartAsync(spec, port, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <inheritdoc />
    public async Task<ProvisionedShadow> ResizeAsync(ProvisionSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var recorded = await store.GetJsonAsync<ProvisionedShadow>(Key(spec.Service, spec.ShadowId), cancellationToken).ConfigureAwait(false);
            var running = await FindLockedAsync(spec.Service, spec.ShadowId, cancellationToken).ConfigureAwait(false);
            if (running is not null && running.Resources == spec.Resources)
            {
                return running;
            }

            // A restart with the new resources on the same port keeps the routing table's address valid; so does one of a
            // shadow that died, while its port is free.
            var port = running is not null ? new Uri(running.Address).Port
                : (recorded is { } dead ? TryBind(new Uri(dead.Value.Address).Port) : null) ?? TryBind(0)!.Value;
            await StopLockedAsync(spec.Service, spec.ShadowId, running, cancellationToken).ConfigureAwait(false);
            return await StartAsync(spec, port, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <inheritdoc />
    public async Task RetireAsync(string service, string shadowId, CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var running = await FindLockedAsync(service, shadowId, cancellationToken).ConfigureAwait(false);
            await StopLockedAsync(service, shadowId, running, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <inheritdoc />
    public async Task<ProvisionedShadow?> FindAsync(string service, string shadowId, CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await FindLockedAsync(service, shadowId, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<ProvisionedShadow>> ListAsync(CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var running = new List<ProvisionedShadow>();
            foreach (var key in await store.ListKeysAsync(Prefix, cancellationToken).ConfigureAwait(false))
            {
                if (key[Prefix.Length..].Split('/') is [var service, var shadowId]
                    && await FindLockedAsync(service, shadowId, cancellationToken).ConfigureAwait(false) is { } shadow)
                {
                    running.Add(shadow);
                }
            }

            return running;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Stops every process this provisioner started (the host is going away), leaving their records to be found dead.</summary>
    public async Task StopAllAsync(CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var ((service, shadowId), process) in _started.ToList())
            {
                await StopProcessAsync(process).ConfigureAwait(false);
                _started.Remove((service, shadowId));
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return; // registered as itself and as the port: the container disposes it twice
        }

        await StopAllAsync().ConfigureAwait(false);
        _health.Dispose();
        _lock.Dispose();
    }

    /// <summary>The value of every placeholder for a shadow on a port.</summary>
    public static string Expand(string template, ProvisionSpec spec, int port)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(spec);
        return template
            .Replace("{service}", spec.Service, StringComparison.Ordinal)
            .Replace("{shadowId}", spec.ShadowId, StringComparison.Ordinal)
            .Replace("{port}", port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{size}", spec.Resources.Size.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{latencyMs}", spec.Resources.AddedLatencyMs.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{errorRate}", spec.Resources.ErrorRate.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    /// <summary>
    /// Whether a variable of this host's environment is kept from a shadow: the sidecar's coordinates and tokens (a shadow
    /// built on a Dapr SDK would otherwise talk to this host's sidecar, where production's data components are in scope),
    /// cloud identities, this host's own settings (the router's webhook and admin token among them) and connection strings,
    /// production's database addresses (<c>DATABASE_URL</c>, a <c>…_DSN</c>: a shadow given them would write production's
    /// data), anything named like a credential, and any value that is a URL with a user and password in it. A template
    /// that needs one sets it in its <c>Environment</c>.
    /// </summary>
    public static bool IsWithheld(string name, string? value = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        string[] prefixes = ["DAPR_", "APP_API_TOKEN", "AZURE_", "IDENTITY_", "MSI_", "AzureWebJobs", "Shadowing__", "Router__", "Pae__", "ConnectionStrings__", "APPSETTING_"];
        string[] credentials = ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "APIKEY", "API_KEY", "CONNECTIONSTRING", "CONNECTION_STRING", "PRIVATE_KEY", "CREDENTIAL", "DATABASE", "_DSN"];
        return prefixes.Any(p => name.StartsWith(p, StringComparison.OrdinalIgnoreCase))
            || credentials.Any(c => name.Contains(c, StringComparison.OrdinalIgnoreCase))
            || name.Equals("DSN", StringComparison.OrdinalIgnoreCase)
            || (value is not null && value.Contains('@', StringComparison.Ordinal) && Uri.TryCreate(value, UriKind.Absolute, out var url) && url.UserInfo.Length > 0);
    }

    private async Task<ProvisionedShadow> StartAsync(ProvisionSpec spec, int port, CancellationToken cancellationToken)
    {
        if (!options.Value.Services.TryGetValue(spec.Service, out var template))
        {
            throw new ProvisioningException($"No local-process template for service '{spec.Service}' ({LocalProvisionerOptions.Section}:Services:{spec.Service}).");
        }

        var start = new ProcessStartInfo(template.Command)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = template.WorkingDirectory ?? string.Empty,
        };
        foreach (var argument in template.Arguments)
        {
            start.ArgumentList.Add(Expand(argument, spec, port));
        }

        foreach (var name in start.Environment.Where(e => IsWithheld(e.Key, e.Value)).Select(e => e.Key).ToArray())
        {
            start.Environment.Remove(name);
        }

        start.Environment["SHADOW_PORT"] = port.ToString(CultureInfo.InvariantCulture);
        start.Environment["SHADOW_SIZE"] = spec.Resources.Size.ToString(CultureInfo.InvariantCulture);
        start.Environment["SHADOW_ADDED_LATENCY_MS"] = spec.Resources.AddedLatencyMs.ToString(CultureInfo.InvariantCulture);
        start.Environment["SHADOW_ERROR_RATE"] = spec.Resources.ErrorRate.ToString(CultureInfo.InvariantCulture);
        foreach (var (name, value) in template.Environment)
        {
            start.Environment[name] = Expand(value, spec, port);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new ProvisioningException($"Shadow '{spec.ShadowId}' of '{spec.Service}': '{template.Command}' did not start.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new ProvisioningException($"Shadow '{spec.ShadowId}' of '{spec.Service}': cannot run '{template.Command}': {ex.Message}", ex);
        }

        var errors = new System.Text.StringBuilder();
        _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None); // keep the pipes drained
        _ = Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync(CancellationToken.None).ConfigureAwait(false) is { } line)
            {
                lock (errors)
                {
                    errors.AppendLine(line);
                }
            }
        }, CancellationToken.None);
        var address = new Uri($"http://127.0.0.1:{port}");
        var deadline = time.GetUtcNow() + template.StartTimeout;
        try
        {
            while (!await HealthyAsync(address, template.HealthPath, cancellationToken).ConfigureAwait(false))
            {
                if (process.HasExited || time.GetUtcNow() > deadline)
                {
                    var why = process.HasExited ? $"exited with code {process.ExitCode}" : $"did not answer {template.HealthPath} within {template.StartTimeout}";
                    string stderr;
                    lock (errors)
                    {
                        stderr = errors.ToString().Trim();
                    }

                    throw new ProvisioningException($"Shadow '{spec.ShadowId}' of '{spec.Service}' {why}{(stderr.Length > 0 ? ": " + stderr.Split('\n')[^1] : string.Empty)}");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(100), time, cancellationToken).ConfigureAwait(false);
            }

            var shadow = new ProvisionedShadow
            {
                Service = spec.Service,
                ShadowId = spec.ShadowId,
                Address = address.ToString().TrimEnd('/'),
                Resources = spec.Resources,
                Handle = HandleOf(process),
                StartedAt = time.GetUtcNow(),
            };
            await store.SaveJsonAsync(Key(spec.Service, spec.ShadowId), shadow, cancellationToken: cancellationToken).ConfigureAwait(false);
            _started[(spec.Service, spec.ShadowId)] = process;
            LogStarted(spec.ShadowId, spec.Service, shadow.Address, process.Id);
            return shadow;
        }
        catch
        {
            // Cancelled, unhealthy, or not recorded: a process nobody can find again must not outlive this call.
            await StopProcessAsync(process).ConfigureAwait(false);
            throw;
        }
    }

    private async Task<ProvisionedShadow?> FindLockedAsync(string service, string shadowId, CancellationToken cancellationToken)
    {
        if (await store.GetJsonAsync<ProvisionedShadow>(Key(service, shadowId), cancellationToken).ConfigureAwait(false) is not { } entry)
        {
            return null;
        }

        if (Alive(entry.Value.Handle) is not { } process)
        {
            // Gone (a crash, a reboot): forget it, so the next provisioning starts a new one.
            await store.DeleteAsync(Key(service, shadowId), etag: null, cancellationToken).ConfigureAwait(false);
            return null;
        }

        // One we started keeps its own handle; one another host started is adopted, so it stops with this host.
        if (!_started.TryAdd((service, shadowId), process))
        {
            process.Dispose();
        }

        return entry.Value;
    }

    private async Task StopLockedAsync(string service, string shadowId, ProvisionedShadow? running, CancellationToken cancellationToken)
    {
        var process = _started.Remove((service, shadowId), out var started) ? started : Alive(running?.Handle);
        if (process is not null)
        {
            await StopProcessAsync(process).ConfigureAwait(false);
            LogStopped(shadowId, service);
        }

        await store.DeleteAsync(Key(service, shadowId), etag: null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Closing its input lets a process that watches it stop cleanly; it is killed if it lingers.</summary>
    private static async Task StopProcessAsync(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                try
                {
                    process.StandardInput.Close();
                }
                catch (InvalidOperationException)
                {
                    // adopted: not our pipe
                }

                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try
                {
                    await process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        finally
        {
            process.Dispose();
        }
    }

    private async Task<bool> HealthyAsync(Uri address, string path, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _health.GetAsync(new Uri(address, path), cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary><c>{pid}@{start ticks}</c>: a pid alone could name another process after a reboot.</summary>
    private static string HandleOf(Process process) =>
        string.Create(CultureInfo.InvariantCulture, $"{process.Id}@{process.StartTime.ToUniversalTime().Ticks}");

    /// <summary>
    /// How far the start time another process reads for the same process may be from the handle's. On Linux .NET derives
    /// it from the boot time, which each process estimates for itself (the wall clock less the time since boot): two
    /// processes read one start time a millisecond or two apart, more after the clock was stepped. A pid reused by a
    /// process started within this of the first is not a concern: reuse takes the whole pid space to wrap around.
    /// </summary>
    private static readonly TimeSpan StartTimeTolerance = TimeSpan.FromSeconds(2);

    /// <summary>The process a handle names, if it still runs (read by this host or by another, before a restart).</summary>
    internal static Process? Alive(string? handle)
    {
        if (handle?.Split('@') is not [var pid, var ticks] || !int.TryParse(pid, CultureInfo.InvariantCulture, out var id) || !long.TryParse(ticks, CultureInfo.InvariantCulture, out var started))
        {
            return null;
        }

        try
        {
            var process = Process.GetProcessById(id);
            if (!process.HasExited && Math.Abs(process.StartTime.ToUniversalTime().Ticks - started) <= StartTimeTolerance.Ticks)
            {
                return process;
            }

            process.Dispose();
            return null;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            return null;
        }
    }

    private static string Key(string service, string shadowId) => $"{Prefix}{service}/{shadowId}";

    /// <summary>
    /// Binds <paramref name="port"/> on loopback (0: any free one) and releases it; the port, or null when it is taken.
    /// Another process could take it before the shadow does, in which case the shadow fails to start and says so.
    /// </summary>
    private static int? TryBind(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            // As Kestrel (and most servers) bind: a port whose last connections linger in TIME_WAIT after its process died
            // is free to them, so it is free here (not when something listens on it).
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return ((IPEndPoint)socket.LocalEndPoint!).Port;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    [LoggerMessage(EventId = 60, Level = LogLevel.Information, Message = "Shadow {ShadowId} of {Service} started at {Address} (pid {Pid})")]
    private partial void LogStarted(string shadowId, string service, string address, int pid);

    [LoggerMessage(EventId = 61, Level = LogLevel.Information, Message = "Shadow {ShadowId} of {Service} stopped")]
    private partial void LogStopped(string shadowId, string service);
}
