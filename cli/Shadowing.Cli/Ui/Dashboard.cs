using System.Reflection;

namespace Shadowing.Cli.Ui;

/// <summary>
/// The dashboard at <c>/ui</c> on the embedded host's loopback admin port: static files embedded in this assembly
/// (no build step), which read the status API on the same port. Served with a content security policy that allows
/// only this origin's scripts, styles and requests.
/// </summary>
internal static class Dashboard
{
    private const string Policy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly Dictionary<string, (string ContentType, byte[] Bytes)> Files = Load();

    /// <summary>Maps <c>/ui</c> (the page; its files are named by absolute paths, so <c>/ui/</c> works too) and <c>/ui/{file}</c>; an unknown file is 404.</summary>
    public static void MapDashboard(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/ui/{file?}", (string? file, HttpResponse response) =>
        {
            if (!Files.TryGetValue(string.IsNullOrEmpty(file) ? "index.html" : file, out var found))
            {
                return Results.NotFound();
            }

            response.Headers.ContentSecurityPolicy = Policy;
            response.Headers.XContentTypeOptions = "nosniff";
            response.Headers.CacheControl = "no-cache";
            return Results.Bytes(found.Bytes, found.ContentType);
        });
    }

    private static Dictionary<string, (string, byte[])> Load()
    {
        var assembly = typeof(Dashboard).Assembly;
        var files = new Dictionary<string, (string, byte[])>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("ui/", StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var file = name["ui/".Length..];
            files[file] = (Path.GetExtension(file) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            }, copy.ToArray());
        }

        return files;
    }
}
