using System.Collections.Concurrent;
using System.Text.Json;
using Dapr.Workflow;
using Microsoft.Extensions.Logging.Abstractions;
using Shadowing.Core.Shadows;
using Shadowing.Core.Validation;
using Shadowing.Workflows.Activities;
using Shadowing.Workflows.Lifecycle;

namespace Shadowing.Workflows.Tests.Lifecycle;

/// <summary>
/// Runs <see cref="ShadowLifecycleWorkflow"/> on a substituted <see cref="WorkflowContext"/>: activities answer from
/// handlers keyed by activity name (at once, or later when a handler returns a <c>Task&lt;object?&gt;</c>), relative timers advance a fake clock at once, the window timer and external events
/// are completed by the test.
/// </summary>
internal sealed class WorkflowHarness
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<object?>> _events = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public WorkflowHarness(ShadowRequest request, ShadowLifecycleOptions? options = null)
    {
        Request = request;
        Options = options ?? new ShadowLifecycleOptions { WarmupTime = TimeSpan.FromMinutes(10), WarmupSamples = 100, WarmupCheckInterval = TimeSpan.FromMinutes(1), MaxWarmups = 3, MaxRemediations = 2, DrainTime = TimeSpan.FromSeconds(30) };
        Now = request.WindowStart.AddMinutes(-30);
        Context = Substitute.For<WorkflowContext>();
        Context.InstanceId.Returns(ShadowLifecycleNames.InstanceId(request));
        Context.CurrentUtcDateTime.Returns(_ => Now.UtcDateTime);
        Context.CreateReplaySafeLogger<ShadowLifecycleWorkflow>().Returns(NullLogger<ShadowLifecycleWorkflow>.Instance);
        Context.When(c => c.SetCustomStatus(Arg.Any<object?>())).Do(c =>
        {
            var status = (ShadowLifecycleStatus)c.Arg<object?>()!;
            Statuses.Add(status);
            if (status.Phase == "Holding")
            {
                _holding.TrySetResult();
            }
        });
        Context.CreateTimer(Arg.Any<TimeSpan>(), Arg.Any<CancellationToken>()).Returns(c =>
        {
            Now += c.Arg<TimeSpan>();
            Timers.Add(c.Arg<TimeSpan>());
            return Task.CompletedTask;
        });
        Context.CreateTimer(Arg.Any<DateTime>(), Arg.Any<CancellationToken>()).Returns(c =>
        {
            var timer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            WindowTimers.Add((new DateTimeOffset(c.Arg<DateTime>(), TimeSpan.Zero), timer));
            return timer.Task;
        });
        Context.WaitForExternalEventAsync<string?>(Arg.Any<string>(), Arg.Any<CancellationToken>()).Returns(c => Event<string?>(c.Arg<string>()));
        Context.WaitForExternalEventAsync<ExtendEvent>(Arg.Any<string>(), Arg.Any<CancellationToken>()).Returns(c => Event<ExtendEvent>(c.Arg<string>()));
        Context.WaitForExternalEventAsync<ResizeEvent>(Arg.Any<string>(), Arg.Any<CancellationToken>()).Returns(c => Event<ResizeEvent>(c.Arg<string>()));
        Context.WaitForExternalEventAsync<VerdictEvent>(Arg.Any<string>(), Arg.Any<CancellationToken>()).Returns(c => Event<VerdictEvent>(c.Arg<string>()));
        Context.CallActivityAsync(Arg.Any<string>(), Arg.Any<object?>(), Arg.Any<WorkflowTaskOptions?>()).Returns(c => Call<object?>(c.ArgAt<string>(0), c.ArgAt<object?>(1)));
        Context.CallActivityAsync<ShadowLifecycleOptions>(Arg.Any<string>(), Arg.Any<object?>(), Arg.Any<WorkflowTaskOptions?>()).Returns(c => Call<ShadowLifecycleOptions>(c.ArgAt<string>(0), c.ArgAt<object?>(1)));
        Context.CallActivityAsync<ProvisionedShadow>(Arg.Any<string>(), Arg.Any<object?>(), Arg.Any<WorkflowTaskOptions?>()).Returns(c => Call<ProvisionedShadow>(c.ArgAt<string>(0), c.ArgAt<object?>(1)));
        Context.CallActivityAsync<WarmupStats>(Arg.Any<string>(), Arg.Any<object?>(), Arg.Any<WorkflowTaskOptions?>()).Returns(c => Call<WarmupStats>(c.ArgAt<string>(0), c.ArgAt<object?>(1)));
        Context.CallActivityAsync<ShadowCheck>(Arg.Any<string>(), Arg.Any<object?>(), Arg.Any<WorkflowTaskOptions?>()).Returns(c => Call<ShadowCheck>(c.ArgAt<string>(0), c.ArgAt<object?>(1)));
        Context.CallActivityAsync<JsonElement>(Arg.Any<string>(), Arg.Any<object?>(), Arg.Any<WorkflowTaskOptions?>()).Returns(c => Call<JsonElement>(c.ArgAt<string>(0), c.ArgAt<object?>(1)));

        // Defaults: everything works, warm-up reaches its samples at once, the shadow passes.
        On(nameof(ReadLifecycleOptionsActivity), _ =>
        {
            Options.LifecycleVersion = LifecycleVersion; // as the activity stamps it
            return Options;
        });
        On(nameof(ProvisionShadowActivity), i => Provisioned((ShadowStep)i!));
        On(nameof(RemediateShadowActivity), i => Provisioned((ShadowStep)i!));
        On(nameof(CollectWarmupStatsActivity), _ => new WarmupStats(Options.WarmupSamples, 0));
        On(nameof(ValidateShadowActivity), _ => Check(Verdict.Pass));
        On(nameof(MarkPreWarmedActivity), _ => JsonSerializer.SerializeToElement(Now));
    }

    public ShadowRequest Request { get; }

    public ShadowLifecycleOptions Options { get; }

    /// <summary>The behaviour the instance's history records (an earlier one: an instance started before an upgrade).</summary>
    public int LifecycleVersion { get; set; } = ShadowLifecycleOptions.CurrentLifecycleVersion;

    public WorkflowContext Context { get; }

    public DateTimeOffset Now { get; set; }

    /// <summary>Activity calls in order: name and input.</summary>
    public ConcurrentQueue<(string Name, object? Input)> Calls { get; } = new();

    public ConcurrentBag<TimeSpan> Timers { get; } = [];

    public List<(DateTimeOffset FireAt, TaskCompletionSource Timer)> WindowTimers { get; } = [];

    public List<ShadowLifecycleStatus> Statuses { get; } = [];

    public Dictionary<string, Func<object?, object?>> Handlers { get; } = new(StringComparer.Ordinal);

    /// <summary>Completes when the workflow first reports the Holding phase (it holds its ready shadows).</summary>
    public Task Holding => _holding.Task;

    public static ShadowCheck Check(Verdict verdict) => new(verdict, [$"{verdict} (test)"], DateTimeOffset.UnixEpoch);

    public static ShadowRequest NewRequest(int count = 1)
    {
        var start = new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
        return new ShadowRequest
        {
            Id = ShadowRequest.IdOf("orders", start),
            Service = "orders",
            Count = count,
            WindowStart = start,
            WindowEnd = start.AddHours(2),
            Kinds = [ShadowRequestKind.Demand],
            Reason = "test",
            CreatedAt = start.AddMinutes(-30),
            UpdatedAt = start.AddMinutes(-30),
        };
    }

    public void On(string activity, Func<object?, object?> handler) => Handlers[activity] = handler;

    /// <summary>
    /// Makes <paramref name="activity"/> fail past its retries with <paramref name="error"/> for the inputs <paramref name="when"/>
    /// picks; the others are answered as before.
    /// </summary>
    public void FailWhen(string activity, Func<object?, bool> when, string error)
    {
        var before = Handlers.TryGetValue(activity, out var handler) ? handler : _ => null;
        On(activity, input => when(input) ? throw Failed(error) : before(input));
    }

    /// <summary>An activity's failure past its retries, as the workflow sees it.</summary>
    public static WorkflowTaskFailedException Failed(string error) => new("failed", new WorkflowTaskFailureDetails("ActivityException", error));

    /// <summary>
    /// Holds every call of <paramref name="activity"/> for <paramref name="shadowId"/> from now on until the returned gate
    /// opens; the workflow goes on with everything else meanwhile. The others are answered as before.
    /// </summary>
    public Gate Hold(string activity, string shadowId)
    {
        var gate = new Gate();
        var before = Handlers.TryGetValue(activity, out var handler) ? handler : _ => null;
        On(activity, input =>
        {
            if (ShadowIdOf(input) != shadowId)
            {
                return before(input);
            }

            gate.Reached = true;
            return gate.Answer(() => before(input));
        });
        return gate;
    }

    /// <summary>Answers <paramref name="activity"/> with the next of <paramref name="results"/>, repeating the last.</summary>
    public void OnSequence(string activity, params object?[] results)
    {
        var next = 0;
        On(activity, _ => results[Math.Min(next++, results.Length - 1)]);
    }

    public Task<ShadowOutcome> StartAsync() => new ShadowLifecycleWorkflow().RunAsync(Context, Request);

    /// <summary>Raises an external event on the wait the workflow has (or will have) for it.</summary>
    public void Raise(string name, object? payload) => Slot(name).TrySetResult(payload);

    /// <summary>Fires the newest window timer, moving the clock to its time.</summary>
    public void EndWindow()
    {
        var (fireAt, timer) = WindowTimers[^1];
        Now = fireAt;
        timer.TrySetResult();
    }

    public IReadOnlyList<string> Names() => Calls.Select(c => c.Name).ToArray();

    public IReadOnlyList<T> Inputs<T>(string activity) => Calls.Where(c => c.Name == activity).Select(c => (T)c.Input!).ToArray();

    private static string? ShadowIdOf(object? input) => input switch
    {
        ShadowStep step => step.ShadowId,
        WarmupStep step => step.ShadowId,
        RetireStep step => step.ShadowId,
        _ => null,
    };

    private static ProvisionedShadow Provisioned(ShadowStep step) => new()
    {
        Service = step.Service,
        ShadowId = step.ShadowId,
        Address = $"http://127.0.0.1:{5100 + step.Resources.Size}",
        Resources = step.Resources,
        Handle = "1@1",
        StartedAt = DateTimeOffset.UnixEpoch,
    };

    private Task<T> Call<T>(string name, object? input)
    {
        Calls.Enqueue((name, input));
        try
        {
            var result = Handlers.TryGetValue(name, out var handler) ? handler(input) : default;
            return result is Task<object?> later ? AnswerLater<T>(later) : Task.FromResult((T)result!);
        }
        catch (WorkflowTaskFailedException ex)
        {
            return Task.FromException<T>(ex);
        }
    }

    /// <summary>An activity whose handler returned a task answers when the test completes it (the workflow goes on meanwhile).</summary>
    private static async Task<T> AnswerLater<T>(Task<object?> later) => (T)(await later.ConfigureAwait(false))!;

    /// <summary>Completes in the same step as the raise (as a replayed history would), then frees the name for the next wait.</summary>
    private Task<T> Event<T>(string name) =>
        Slot(name).Task.ContinueWith(
            t =>
            {
                _events.TryRemove(name, out _);
                return (T)t.Result!;
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

    private TaskCompletionSource<object?> Slot(string name) =>
        _events.GetOrAdd(name, _ => new TaskCompletionSource<object?>());

    /// <summary>Held activity calls: each answers when <see cref="Open"/> is called, on the caller's thread.</summary>
    public sealed class Gate
    {
        // Continuations run on Open's thread (for the one call held, as the tests hold), so the workflow never runs on two
        // threads at once; with two calls held, .NET would run the second's on the thread pool.
        private readonly TaskCompletionSource _open = new();

        /// <summary>Whether a held call has been made.</summary>
        public bool Reached { get; set; }

        public void Open() => _open.TrySetResult();

        internal async Task<object?> Answer(Func<object?> answer)
        {
            await _open.Task.ConfigureAwait(false);
            return answer();
        }
    }
}
