using System.ComponentModel;
using System.Net;
using System.Text.Json;
using Shadowing.Cli.Up;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Shadowing.Cli.Control;

/// <summary>Commands that read the control API: up's admin address or the Functions app.</summary>
internal class ControlApiSettings : CommonSettings
{
    [CommandOption("--url <URL>")]
    [Description("The control API: up's admin address (default " + UpAdmin.DefaultUrls + ") or the Functions app (https://<its ingress host name>).")]
    public string Url { get; init; } = UpAdmin.DefaultUrls;

    [CommandOption("--key <KEY>")]
    [Description("A function key for the Functions app (sent as x-functions-key); default: the SHADOWING_FUNCTIONS_KEY environment variable. Sent only over https or to this machine.")]
    public string? Key { get; init; }

    [CommandOption("--json")]
    [Description("Print JSON instead of tables: status prints the API's answer as it is; forecast-report, per service, the forecast's selection and accountability from it.")]
    public bool Json { get; init; }

    public override ValidationResult Validate()
    {
        if (!Uri.TryCreate(Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            return ValidationResult.Error($"--url: '{Url}' is not an http(s) URL such as {UpAdmin.DefaultUrls}.");
        }

        // A function key in clear text is anyone's on the path; an http-to-https redirect comes after it was sent.
        return FunctionKey is not null && uri.Scheme == "http" && !uri.IsLoopback
            ? ValidationResult.Error($"--url: '{Url}' is plain http and not this machine: a function key (--key or SHADOWING_FUNCTIONS_KEY) is sent only over https or to a loopback address.")
            : ValidationResult.Success();
    }

    private string? FunctionKey => (Key ?? Environment.GetEnvironmentVariable("SHADOWING_FUNCTIONS_KEY")) is { Length: > 0 } key ? key : null;

    /// <summary>A client for <see cref="Url"/>, sending the function key when there is one.</summary>
    public HttpClient CreateClient()
    {
        // Redirects are not followed: HttpClient drops Authorization on one, not x-functions-key, which would go to
        // wherever an Easy Auth login page or a proxy pointed.
        var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(Url.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(30) };
        if (FunctionKey is { } key)
        {
            http.DefaultRequestHeaders.Add("x-functions-key", key);
        }

        return http;
    }

    /// <summary>GET <paramref name="path"/>: 200, 400 and 404 come back with their JSON; anything else is an error naming the API.</summary>
    public static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(HttpClient http, string path, string url, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await http.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            throw new StartFailedException($"The control API at {url} does not answer ({ex.Message}). Is shadowing up running (its admin API listens on {UpAdmin.DefaultUrls}), or is --url right?", ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new StartFailedException($"The control API at {url} did not answer GET /{path} within {http.Timeout.TotalSeconds:0} s.", ex);
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                throw new UsageException($"The control API at {url} refused the call ({(int)response.StatusCode}): give a function key with --key or SHADOWING_FUNCTIONS_KEY.");
            }

            if ((int)response.StatusCode is >= 300 and < 400)
            {
                throw new StartFailedException($"The control API at {url} redirected GET /{path} to {response.Headers.Location}; not followed (a function key would go with it): give --url the address it redirects to, if that is the API.");
            }

            if (response.StatusCode is not (HttpStatusCode.OK or HttpStatusCode.NotFound or HttpStatusCode.BadRequest))
            {
                throw new StartFailedException($"The control API at {url} answered {(int)response.StatusCode} to GET /{path}: {text}");
            }

            try
            {
                using var document = JsonDocument.Parse(text.Length == 0 ? "null" : text);
                return (response.StatusCode, document.RootElement.Clone());
            }
            catch (JsonException ex)
            {
                throw new StartFailedException($"The control API at {url} answered GET /{path} with something that is not JSON: {ex.Message}", ex);
            }
        }
    }

    /// <summary>GET <paramref name="path"/> where only a 200 is an answer: a 400 or 404 is an error carrying the API's own words.</summary>
    public static async Task<JsonElement> GetOkAsync(HttpClient http, string path, string url, CancellationToken cancellationToken)
    {
        var (status, body) = await GetAsync(http, path, url, cancellationToken);
        return status == HttpStatusCode.OK ? body : throw Refused(status, body, path, url);
    }

    /// <summary>The error for a 400 or 404 answer, with the problem's <c>detail</c>.</summary>
    public static UsageException Refused(HttpStatusCode status, JsonElement body, string path, string url)
    {
        var detail = body.ValueKind == JsonValueKind.Object && body.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : body.GetRawText();
        return new UsageException($"The control API at {url} answered {(int)status} to GET /{path}: {detail}{(status == HttpStatusCode.NotFound ? " Is --url the control API (up's admin address or the Functions app)?" : string.Empty)}");
    }
}
