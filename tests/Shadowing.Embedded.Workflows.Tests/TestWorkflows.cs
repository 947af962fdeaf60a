using System.Collections.Concurrent;
using Dapr.Workflow;

namespace Shadowing.Embedded.Workflows.Tests;

/// <summary>What the test activities did, and gates that hold them, keyed by the test's own keys.</summary>
public sealed class Probe
{
    private int _running;
    private int _maxRunning;

    public ConcurrentDictionary<string, int> Calls { get; } = new(StringComparer.Ordinal);

    /// <summary>Activity runs that returned a result (the effect an activity has when it completes).</summary>
    public ConcurrentDictionary<string, int> Completions { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, TaskCompletionSource> Gates { get; } = new(StringComparer.Ordinal);

    public int MaxRunning => Volatile.Read(ref _maxRunning);

    public TaskCompletionSource Gate(string key) => Gates.GetOrAdd(key, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    public int Call(string key) => Calls.AddOrUpdate(key, 1, (_, n) => n + 1);

    public void Complete(string key) => Completions.AddOrUpdate(key, 1, (_, n) => n + 1);

    public void Enter()
    {
        var running = Interlocked.Increment(ref _running);
        int max;
        while (running > (max = Volatile.Read(ref _maxRunning)) && Interlocked.CompareExchange(ref _maxRunning, running, max) != max)
        {
        }
    }

    public void Exit() => Interlocked.Decrement(ref _running);
}

/// <summary>Returns its input's length: a history as large as its input.</summary>
public sealed class LengthWorkflow : Workflow<string, int>
{
    public override Task<int> RunAsync(WorkflowContext context, string input) => Task.FromResult(input.Length);
}

public sealed class AddActivity(Probe probe) : WorkflowActivity<int[], int>
{
    public override Task<int> RunAsync(WorkflowActivityContext context, int[] input)
    {
        probe.Call("add");
        return Task.FromResult(input[0] + input[1]);
    }
}

/// <summary>Waits at its key's gate, counting how many run at once; completes the key when it returns.</summary>
public sealed class GatedActivity(Probe probe) : WorkflowActivity<string, string>
{
    public override async Task<string> RunAsync(WorkflowActivityContext context, string input)
    {
        probe.Call(input);
        probe.Enter();
        try
        {
            await probe.Gate(input).Task;
        }
        finally
        {
            probe.Exit();
        }

        probe.Complete(input);
        return "done:" + input;
    }
}

/// <summary>Fails the first two calls for a key.</summary>
public sealed class FlakyActivity(Probe probe) : WorkflowActivity<string, string>
{
    public override Task<string> RunAsync(WorkflowActivityContext context, string input) =>
        probe.Call(input) <= 2 ? throw new InvalidOperationException($"flaky {input}") : Task.FromResult("ok:" + input);
}

public sealed class BoomActivity : WorkflowActivity<string, string>
{
    public override Task<string> RunAsync(WorkflowActivityContext context, string input) => throw new InvalidOperationException("boom: " + input);
}

/// <summary>Three activities in sequence, with a custom status after each.</summary>
public sealed class SequenceWorkflow : Workflow<int, int>
{
    public override async Task<int> RunAsync(WorkflowContext context, int input)
    {
        var value = input;
        for (var step = 1; step <= 3; step++)
        {
            value = await context.CallActivityAsync<int>(nameof(AddActivity), new[] { value, step });
            context.SetCustomStatus(new { step, value, day = DayOfWeek.Monday });
        }

        return value;
    }
}

/// <summary>Fan out <c>input</c> activities, fan in their sum.</summary>
public sealed class FanOutWorkflow : Workflow<int, int>
{
    public override async Task<int> RunAsync(WorkflowContext context, int input)
    {
        var results = await Task.WhenAll(Enumerable.Range(1, input).Select(i => context.CallActivityAsync<int>(nameof(AddActivity), new[] { i, i })));
        return results.Sum();
    }
}

public sealed class TimerWorkflow : Workflow<int, string>
{
    public override async Task<string> RunAsync(WorkflowContext context, int minutes)
    {
        var before = context.CurrentUtcDateTime;
        await context.CreateTimer(TimeSpan.FromMinutes(minutes));
        return $"{(context.CurrentUtcDateTime - before).TotalMinutes:0}";
    }
}

/// <summary>Waits for "approve", with a timeout in seconds, or forever when the input is 0.</summary>
public sealed class EventWorkflow : Workflow<int, string>
{
    public override async Task<string> RunAsync(WorkflowContext context, int timeoutSeconds)
    {
        try
        {
            var value = timeoutSeconds == 0
                ? await context.WaitForExternalEventAsync<string>("approve")
                : await context.WaitForExternalEventAsync<string>("approve", TimeSpan.FromSeconds(timeoutSeconds));
            return "approved:" + value;
        }
        catch (TaskCanceledException)
        {
            return "timed out";
        }
    }
}

public sealed class RetryWorkflow : Workflow<string, string>
{
    private static readonly WorkflowTaskOptions Retry = new(new WorkflowRetryPolicy(maxNumberOfAttempts: 3, firstRetryInterval: TimeSpan.FromMilliseconds(50)));

    public override Task<string> RunAsync(WorkflowContext context, string input) => context.CallActivityAsync<string>(nameof(FlakyActivity), input, Retry);
}

public sealed class FailingWorkflow : Workflow<string, string>
{
    public override Task<string> RunAsync(WorkflowContext context, string input) => context.CallActivityAsync<string>(nameof(BoomActivity), input);
}

/// <summary>Adds one per execution through ContinueAsNew until it reaches 3.</summary>
public sealed class CountUpWorkflow : Workflow<int, int>
{
    public override async Task<int> RunAsync(WorkflowContext context, int input)
    {
        if (input >= 3)
        {
            return input;
        }

        var next = await context.CallActivityAsync<int>(nameof(AddActivity), new[] { input, 1 });
        context.ContinueAsNew(next);
        return input;
    }
}

public sealed class GatedWorkflow : Workflow<string, string>
{
    public override Task<string> RunAsync(WorkflowContext context, string input) => context.CallActivityAsync<string>(nameof(GatedActivity), input);
}

/// <summary>Runs a child <see cref="SequenceWorkflow"/> and adds 100.</summary>
public sealed class ParentWorkflow : Workflow<int, int>
{
    public override async Task<int> RunAsync(WorkflowContext context, int input) =>
        100 + await context.CallChildWorkflowAsync<int>(nameof(SequenceWorkflow), input);
}

internal static class TestWorkflows
{
    public static void Register(WorkflowRuntimeOptions options)
    {
        options.RegisterWorkflow<SequenceWorkflow>();
        options.RegisterWorkflow<LengthWorkflow>();
        options.RegisterWorkflow<FanOutWorkflow>();
        options.RegisterWorkflow<TimerWorkflow>();
        options.RegisterWorkflow<EventWorkflow>();
        options.RegisterWorkflow<RetryWorkflow>();
        options.RegisterWorkflow<FailingWorkflow>();
        options.RegisterWorkflow<CountUpWorkflow>();
        options.RegisterWorkflow<GatedWorkflow>();
        options.RegisterWorkflow<ParentWorkflow>();
        options.RegisterActivity<AddActivity>();
        options.RegisterActivity<GatedActivity>();
        options.RegisterActivity<FlakyActivity>();
        options.RegisterActivity<BoomActivity>();
    }
}
