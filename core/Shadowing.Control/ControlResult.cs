using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Shadowing.Core.Serialization;

namespace Shadowing.Control;

/// <summary>
/// What a control handler answers: a status, a JSON body and optionally an ETag. It executes itself as a minimal-API
/// result (the workflows and embedded hosts) and as an MVC action result (the Functions app's HTTP triggers), so both
/// answer byte for byte alike.
/// </summary>
public sealed record ControlResult(int Status, object? Body, string? ETag = null) : IResult, IActionResult
{
    /// <summary>Content type of error bodies (RFC 9457).</summary>
    public const string ProblemContentType = "application/problem+json";

    /// <summary>200 with <paramref name="body"/>.</summary>
    public static ControlResult Ok(object body, string? etag = null) => new(StatusCodes.Status200OK, body, etag);

    /// <summary>202 with <paramref name="body"/>: the work was handed over and goes on without the caller.</summary>
    public static ControlResult Accepted(object body) => new(StatusCodes.Status202Accepted, body);

    /// <summary>400 naming the bad <paramref name="field"/>.</summary>
    public static ControlResult BadRequest(string field, string detail) =>
        new(StatusCodes.Status400BadRequest, new ControlProblem("Invalid request", StatusCodes.Status400BadRequest, detail, new Dictionary<string, string[]> { [field] = [detail] }));

    /// <summary>400 naming every bad field, the first in <c>detail</c> with how many more there are.</summary>
    public static ControlResult BadRequest(IReadOnlyList<(string Field, string Detail)> errors)
    {
        ArgumentOutOfRangeException.ThrowIfZero(errors.Count);
        var detail = errors.Count == 1 ? errors[0].Detail : $"{errors[0].Field}: {errors[0].Detail} (and {errors.Count - 1} more: see errors)";
        return new(StatusCodes.Status400BadRequest, new ControlProblem("Invalid request", StatusCodes.Status400BadRequest, detail, errors.ToDictionary(e => e.Field, e => new[] { e.Detail })));
    }

    /// <summary>404: what <paramref name="field"/> names does not exist.</summary>
    public static ControlResult NotFound(string field, string detail) =>
        new(StatusCodes.Status404NotFound, new ControlProblem("Not found", StatusCodes.Status404NotFound, detail, new Dictionary<string, string[]> { [field] = [detail] }));

    /// <summary>409: the request is well formed but the target's state does not allow it.</summary>
    public static ControlResult Conflict(string detail) =>
        new(StatusCodes.Status409Conflict, new ControlProblem("Conflict", StatusCodes.Status409Conflict, detail));

    /// <summary>412: an <c>If-Match</c> ETag that is no longer the stored one (someone else wrote since it was read).</summary>
    public static ControlResult PreconditionFailed(string detail) =>
        new(StatusCodes.Status412PreconditionFailed, new ControlProblem("Precondition failed", StatusCodes.Status412PreconditionFailed, detail));

    /// <inheritdoc />
    public Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        return WriteAsync(httpContext.Response);
    }

    /// <inheritdoc />
    public Task ExecuteResultAsync(ActionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return WriteAsync(context.HttpContext.Response);
    }

    private async Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = Status;
        if (ETag is not null)
        {
            response.Headers.ETag = $"\"{ETag}\"";
        }

        if (Body is null)
        {
            return;
        }

        response.ContentType = Body is ControlProblem ? ProblemContentType : "application/json; charset=utf-8";
        await JsonSerializer.SerializeAsync(response.Body, Body, Body.GetType(), ShadowingJson.Options, response.HttpContext.RequestAborted).ConfigureAwait(false);
    }
}

/// <summary>An error body in RFC 9457's shape, with the bad fields under <c>errors</c> as ASP.NET Core's validation problems have them.</summary>
public sealed record ControlProblem(string Title, int Status, string Detail, IReadOnlyDictionary<string, string[]>? Errors = null);
