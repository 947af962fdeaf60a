using System.Text.Json;
using Microsoft.AspNetCore.Mvc;

namespace Shadowing.Router.Forwarding;

/// <summary>RFC 9457 problem responses (<c>application/problem+json</c>) the router writes itself.</summary>
internal static class Problems
{
    public static Task WriteAsync(HttpContext context, int status, string type, string title, string detail, string service, string reason)
    {
        var problem = new ProblemDetails { Type = "urn:shadowing:problem:" + type, Title = title, Status = status, Detail = detail };
        problem.Extensions["service"] = service;
        problem.Extensions["reason"] = reason;

        // One write with a Content-Length: head and body leave in one segment, so a client whose connection the router
        // closes with its request body unread (the socket then resets) still gets the whole answer.
        var body = JsonSerializer.SerializeToUtf8Bytes(problem, JsonSerializerOptions.Web);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }
}
