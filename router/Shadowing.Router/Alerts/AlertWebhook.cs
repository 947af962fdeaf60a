using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Shadowing.Core.Messaging;
using Shadowing.Core.Serialization;
using Shadowing.Core.Validation;

namespace Shadowing.Router.Alerts;

/// <summary>Where alerts are POSTed (section <c>Router:Alerts</c>); no webhook when <see cref="WebhookUrl"/> is empty.</summary>
public sealed class AlertOptions
{
    /// <summary>The receiver, <c>https://…</c> (or <c>http://</c>). Default none.</summary>
    public Uri? WebhookUrl { get; set; }

    /// <summary>HMAC-SHA256 key of the <c>x-shadowing-signature</c> header. Default none (no signature).</summary>
    public string? WebhookSecret { get; set; }

    /// <summary>Tries per alert before it goes back to the bus's retries and dead letters. Default 3.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 20)]
    public int Attempts { get; set; } = 3;

    /// <summary>Time allowed per try, within <see cref="DeliveryTimeout"/>. Default 10 s.</summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Time all the tries of one delivery may take: no try starts, or runs, past it. Default 9 s: on Dapr it must be under
    /// the resiliency policy's <c>delivery</c> timeout (10 s in components/resiliency.yaml), which cancels the delivery,
    /// tries left or not; a slow receiver still gets the whole of it for one try.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan DeliveryTimeout { get; set; } = TimeSpan.FromSeconds(9);
}

/// <summary>
/// Forwards every alert on topic <c>alerts</c> to the configured webhook (or, with none, logs it): a JSON POST signed with
/// <c>x-shadowing-signature: t=UNIX-SECONDS,sha256=HEX</c> (HMAC-SHA256 with the secret of <c>{t}.{Idempotency-Key}.{body}</c>:
/// a receiver refuses an old <c>t</c>, so a captured delivery cannot be replayed later, nor under another key), tried
/// <see cref="AlertOptions.Attempts"/> times with doubling pauses; then the bus retries and dead-letters it, so an
/// alert is not lost to a receiver that is down for a while. Every delivery of an alert carries the same
/// <c>Idempotency-Key</c>, so a receiver acts on it once. Alerts carry names, verdicts and reasons, never request
/// bodies or headers.
/// </summary>
internal sealed partial class AlertWebhook(IEventBus bus, IOptions<RouterOptions> options, TimeProvider time, ILogger<AlertWebhook> logger) : IHostedService, IDisposable
{
    /// <summary>The signature header.</summary>
    public const string SignatureHeader = "x-shadowing-signature";

    /// <summary>
    /// The same for every delivery of one alert (a hash of its body), so a receiver can ignore an alert the bus delivered
    /// again, which it does when an answer is lost or comes too late.
    /// </summary>
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    private readonly AlertOptions _options = options.Value.Alerts;
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false }) { Timeout = Timeout.InfiniteTimeSpan };
    private IDisposable? _subscription;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Without a webhook each alert is logged: the router subscribes to the topic either way (on Dapr the subscription
        // is declared whatever the settings), and an alert nobody took would be refused, dead-lettered and lost from sight.
        _subscription = _options.WebhookUrl is not null
            ? bus.Subscribe<Alert>(Topics.Alerts, "router-webhook", SendAsync)
            : bus.Subscribe<Alert>(Topics.Alerts, "router-webhook", LogAsync);
        if (_options.WebhookUrl is not null && _options.WebhookSecret is not { Length: > 0 })
        {
            LogUnsigned(Shown(_options.WebhookUrl)); // the receiver cannot tell the router's alerts from anyone's
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _subscription?.Dispose();
        _http.Dispose();
    }

    /// <summary>
    /// The signature header's value for <paramref name="body"/> sent at <paramref name="unixSeconds"/> under
    /// <paramref name="idempotencyKey"/>: <c>t={unixSeconds},sha256={HMAC-SHA256 of "{t}.{key}." and the body}</c>.
    /// </summary>
    public static string Sign(long unixSeconds, string idempotencyKey, byte[] body, string secret)
    {
        ArgumentNullException.ThrowIfNull(body);
        var t = unixSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        byte[] signed = [.. Encoding.UTF8.GetBytes($"{t}.{idempotencyKey}."), .. body];
        return $"t={t},sha256={Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed))}";
    }

    private async Task SendAsync(Alert alert, CancellationToken cancellationToken)
    {
        var body = ShadowingJson.Serialize(alert);
        var key = Convert.ToHexStringLower(SHA256.HashData(body));
        var pause = TimeSpan.FromMilliseconds(200);
        var deadline = time.GetTimestamp() + (long)(_options.DeliveryTimeout.TotalSeconds * time.TimestampFrequency);
        for (var attempt = 1; ; attempt++)
        {
            string failure;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var left = time.GetElapsedTime(time.GetTimestamp(), deadline);
                timeout.CancelAfter(left <= TimeSpan.Zero ? TimeSpan.Zero : left < _options.Timeout ? left : _options.Timeout);
                using var request = new HttpRequestMessage(HttpMethod.Post, _options.WebhookUrl) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                request.Headers.TryAddWithoutValidation(IdempotencyKeyHeader, key);
                if (_options.WebhookSecret is { Length: > 0 } secret)
                {
                    // Each try its own time, the wall clock's: the receiver compares it with its own, and `shadowing demo` runs
                    // the injected clock fast, from its trace's start.
                    request.Headers.TryAddWithoutValidation(SignatureHeader, Sign(TimeProvider.System.GetUtcNow().ToUnixTimeSeconds(), key, body, secret));
                }

                using var response = await _http.SendAsync(request, timeout.Token).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }

                failure = $"{(int)response.StatusCode} {response.ReasonPhrase}";
            }
            catch (Exception ex) when (ex is HttpRequestException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                failure = ex.Message;
            }

            if (attempt >= _options.Attempts || time.GetElapsedTime(time.GetTimestamp(), deadline) < pause + TimeSpan.FromSeconds(1)) // no try of a few milliseconds
            {
                LogGaveUp(alert.Kind.ToString(), alert.Service, attempt, failure);
                // Logged by the bus and kept in its dead letters: the URL's path and query are often the webhook's credential.
                throw new HttpRequestException($"Alert webhook {Shown(_options.WebhookUrl!)} failed {attempt} times: {failure}");
            }

            await Task.Delay(pause, time, cancellationToken).ConfigureAwait(false);
            pause *= 2;
        }
    }

    private Task LogAsync(Alert alert, CancellationToken cancellationToken)
    {
        LogAlert(alert.Kind.ToString(), alert.Service, alert.Endpoint ?? "-", alert.Verdict?.ToString() ?? "-", string.Join("; ", alert.Reasons), alert.Status ?? "-");
        return Task.CompletedTask;
    }

    [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Alerts go to {Url} unsigned: set Router:Alerts:WebhookSecret so the receiver can tell the router's alerts from anyone's")]
    private partial void LogUnsigned(string url);

    /// <summary>
    /// The webhook as logs may show it: its origin only. Slack, Teams and Discord put the credential in the path, Logic
    /// Apps and Functions in the query (<c>sig=</c>, <c>code=</c>).
    /// </summary>
    internal static string Shown(Uri url) =>
        $"{url.Scheme}://{url.Authority}{(url.PathAndQuery is "/" or "" ? string.Empty : "/…")}"; // Authority: host and port, no user info

    [LoggerMessage(EventId = 100, Level = LogLevel.Warning, Message = "Alert {Kind} of {Service}: endpoint {Endpoint}, verdict {Verdict}, {Reasons} (see {Status}); no Router:Alerts:WebhookUrl is set")]
    private partial void LogAlert(string kind, string service, string endpoint, string verdict, string reasons, string status);

    [LoggerMessage(EventId = 91, Level = LogLevel.Warning, Message = "Alert webhook: {Kind} alert of {Service} not delivered after {Attempts} tries ({Failure}); the bus will retry it")]
    private partial void LogGaveUp(string kind, string service, int attempts, string failure);
}
