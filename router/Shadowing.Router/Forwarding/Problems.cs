namespace Shadowing.Router.Forwarding;

/// <summary>RFC 9457 problem responses (<c>application/problem+json</c>) the router writes itself.</summary>
internal static class Problems
{
    public static Task WriteAsync(HttpContext context, int status, string type, string title, string detail, string service, string reason)
    {
        var extensions = new Dictionary<string, object?> { ["service"] = service, ["reason"] = reason };
        return Results.Problem(detail: detail, statusCode: status, title: title, type: "urn:shadowing:problem:" + type, extensions: extensions).ExecuteAsync(context);
    }
}
