using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Azure.Core;
using Azure.Core.Pipeline;

namespace Shadowing.ContainerApps.Tests;

/// <summary>
/// A stubbed Azure Resource Manager behind the Azure.Core pipeline: answers are queued per method and path (the query
/// string aside), every request is recorded with its body, and a request nobody scripted fails the test.
/// </summary>
internal sealed class ArmStub : HttpMessageHandler
{
    private readonly ConcurrentDictionary<string, Queue<Func<HttpResponseMessage>>> _answers = new(StringComparer.Ordinal);

    public const string Subscription = "34adfa4f-cedf-4dc0-ba29-b6d1a69ab345";

    public const string AppsPath = $"/subscriptions/{Subscription}/resourceGroups/rg/providers/Microsoft.App/containerApps";

    public List<(string Method, string PathAndQuery, string? Body, string? Authorization)> Requests { get; } = [];

    public ContainerAppsClientOptions ClientOptions()
    {
        var options = new ContainerAppsClientOptions { Transport = new HttpClientTransport(new HttpClient(this)) };
        options.Retry.MaxRetries = 0;
        return options;
    }

    /// <summary>Queues an answer for <paramref name="method"/> <paramref name="path"/>; the last one queued repeats.</summary>
    public ArmStub On(string method, string path, HttpStatusCode status, JsonNode? body = null, IReadOnlyDictionary<string, string>? headers = null)
    {
        _answers.GetOrAdd($"{method} {path}", _ => new Queue<Func<HttpResponseMessage>>()).Enqueue(() =>
        {
            var response = new HttpResponseMessage(status) { Content = new StringContent(body?.ToJsonString() ?? string.Empty, Encoding.UTF8, "application/json") };
            foreach (var (name, value) in headers ?? new Dictionary<string, string>())
            {
                response.Headers.TryAddWithoutValidation(name, value);
            }

            return response;
        });
        return this;
    }

    public IReadOnlyList<string> Sequence => [.. Requests.Select(r => $"{r.Method} {r.PathAndQuery.Split('?')[0]}")];

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
        Requests.Add((request.Method.Method, request.RequestUri!.PathAndQuery, body, request.Headers.Authorization?.ToString()));
        var key = $"{request.Method.Method} {request.RequestUri.AbsolutePath}";
        if (!_answers.TryGetValue(key, out var queue) || queue.Count == 0)
        {
            throw new InvalidOperationException($"Unscripted ARM request: {key}");
        }

        return queue.Count > 1 ? queue.Dequeue()() : queue.Peek()();
    }
}

/// <summary>A credential that hands out a fixed token and records the scope asked for.</summary>
internal sealed class StubCredential : TokenCredential
{
    public List<string> Scopes { get; } = [];

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        Scopes.AddRange(requestContext.Scopes);
        return new AccessToken("stub-token", DateTimeOffset.MaxValue);
    }

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        ValueTask.FromResult(GetToken(requestContext, cancellationToken));
}
