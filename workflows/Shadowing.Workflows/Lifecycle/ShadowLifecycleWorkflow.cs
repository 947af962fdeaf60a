using System.Text.Json;
using Dapr.Workflow;
using Microsoft.Extensions.Logging;
using Shadowing.Core.Shadows;
using Shadowing.Core.Validation;
using Shadowing.Workflows.Activities;

namespace Shadowing.Workflows.Lifecycle;

/// <summary>
/// SEP: one instance per shadow request (<see cref="ShadowLifecycleNames.InstanceId"/>). For each of the request's
/// shadows: provision → sync data → mirror on → warm up (until <see cref="ShadowLifecycleOptions.WarmupTime"/> or
/// <see cref="ShadowLifecycleOptions.WarmupSamples"/> mirrored answers; amplified replay when traffic is too thin to get
/// there) → validate → PreWarmed. A Fail is remediated
/// (one size more, warm up and validate again) up to <see cref="ShadowLifecycleOptions.MaxRemediations"/> times; an
/// Inconclusive warms up longer up to <see cref="ShadowLifecycleOptions.MaxWarmups"/> times; then the shadow is retired
/// with an alert. Ready shadows are held until the window ends or <c>release</c>; <c>extend</c> moves the end,
/// <c>resize</c> changes the count or resources, <c>verdict</c> (continuous validation) remediates a failing shadow.
/// Then drain → retire.
/// </summary>
/// <remarks>
/// Workflow code is replayed: time, timers and loggers come from the context only, and every effect is an activity,
/// including reading the settings (<see cref="ReadLifecycleOptionsActivity"/>), so they are fixed for the instance.
/// </remarks>
public sealed partial class ShadowLifecycleWorkflow : Workflow<ShadowRequest, ShadowOutcome>
{
    /// <summary>State-store and provisioning steps: transient faults (a restarted sidecar, an ETag race) are retried.</summary>
    internal static readonly WorkflowTaskOptions StoreRetry = new(new WorkflowRetryPolicy(maxNumberOfAttempts: 5, firstRetryInterval: TimeSpan.FromSeconds(1), backoffCoefficient: 2, maxRetryInterval: TimeSpan.FromSeconds(30)));

    /// <summary>Starting a process or container: fewer, slower attempts (each may wait for a health check).</summary>
    internal static readonly WorkflowTaskOptions ProvisionRetry = new(new WorkflowRetryPolicy(maxNumberOfAttempts: 3, firstRetryInterval: TimeSpan.FromSeconds(5), backoffCoefficient: 2, maxRetryInterval: TimeSpan.FromMinutes(1)));

    /// <inheritdoc />
    public override async Task<ShadowOutcome> RunAsync(WorkflowContext context, ShadowRequest input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        var options = await context.CallActivityAsync<ShadowLifecycleOptions>(nameof(ReadLifecycleOptionsActivity), input.Id, StoreRetry).ConfigureAwait(true);
        var run = new Run(context, input, options, context.CreateReplaySafeLogger<ShadowLifecycleWorkflow>());
        return await run.ExecuteAsync().ConfigureAwait(true);
    }

    /// <summary>One execution (or replay): the request's shadows and what happened to them.</summary>
    private sealed partial class Run(WorkflowContext context, ShadowRequest request, ShadowLifecycleOptions options, ILogger logger)
    {
        private readonly Dictionary<string, ShadowProgress> _shadows = new(StringComparer.Ordinal);

        /// <summary>Remediations the hold loop started and has not seen end, in the order they started.</summary>
        private readonly List<(string ShadowId, Task Work)> _reworks = [];

        /// <summary>Remediations beside the hold loop (version 2); a history recorded before replays them one at a time.</summary>
        private readonly bool _concurrentRemediation = options.LifecycleVersion >= 2;
        private DateTimeOffset _windowEnd = request.WindowEnd;
        private int _extensionsReceived;
        private ShadowResources _resources = new(Size: options.InitialSize);
        private int _nextIndex = 1;
        private string _phase = "Starting";

        /// <summary>
        /// The hold is over (or the workflow is giving up): remediations still running stop at their next step. An
        /// extension taken by one of them after the hold ended must not start its shadow's warm-up again.
        /// </summary>
        private bool _stopping;

        /// <summary>The one wait for <c>release</c>, armed first, so a release (the kill switch) also stops a preparation.</summary>
        private Task<string?> _release = null!;

        /// <summary>
        /// The one pending wait for <c>extend</c>, armed first too: a preparation stops when the window ends, so an extension
        /// that arrives while shadows are being prepared must move that end (the hold re-arms it after each one).
        /// </summary>
        private Task<ExtendEvent> _extend = null!;

        /// <summary>
        /// The one pending wait for <c>verdict</c>. From version 5 armed first too: a shadow made ready while another is still
        /// being prepared is judged meanwhile, and one that fails must be remediated then, not once every preparation has
        /// ended (out of routing, the judgement moved it to Validating, it would stand there unremediated). Before, armed by
        /// the hold.
        /// </summary>
        private Task<VerdictEvent>? _verdict;

        /// <summary>Verdicts taken while shadows are prepared (version 5).</summary>
        private readonly bool _verdictsWhilePreparing = options.LifecycleVersion >= 5;

        /// <summary>Ready shadows drained as a release or the window's end comes while others are prepared (version 7).</summary>
        private readonly bool _drainWhilePreparing = options.LifecycleVersion >= 7;

        /// <summary>Why the ready shadows were drained while others were prepared (version 7): the hold is over then.</summary>
        private string? _drainedWhilePreparing;

        public async Task<ShadowOutcome> ExecuteAsync()
        {
            _release = context.WaitForExternalEventAsync<string?>(ShadowLifecycleNames.Release, CancellationToken.None);
            _extend = context.WaitForExternalEventAsync<ExtendEvent>(ShadowLifecycleNames.Extend, CancellationToken.None);
            if (_verdictsWhilePreparing)
            {
                _verdict = context.WaitForExternalEventAsync<VerdictEvent>(ShadowLifecycleNames.Verdict, CancellationToken.None);
            }

            try
            {
                // Only an operator's own window waits: the PAE asks its lead time (and its next decision) ahead, and a
                // request it merged into carries its need.
                var prepareAt = request.WindowStart.UtcDateTime - options.PrepareAhead;
                var handMade = request.Kinds.All(k => k == ShadowRequestKind.Manual);
                while (options.LifecycleVersion >= 3 && handMade && context.CurrentUtcDateTime < prepareAt && !WindowEnded())
                {
                    Status("Scheduled");
                    var fired = await Task.WhenAny(context.CreateTimer(prepareAt, CancellationToken.None), _release, _extend).ConfigureAwait(true);
                    if (fired == _release)
                    {
                        return Outcome(served: false, Released(await _release.ConfigureAwait(true)));
                    }
                }

                _phase = "Preparing"; // what the status says until the hold, warm-ups and validations included
                var ready = await PrepareAsync(NewIds(request.Count)).ConfigureAwait(true);
                if (ready == 0)
                {
                    return Outcome(
                        served: false,
                        _release.IsCompleted ? Released(await _release.ConfigureAwait(true))
                        : _drainedWhilePreparing is not null || WindowEnded() ? "the window ended before a shadow was ready"
                        : _shadows.Values.Any(s => s.LastVerdict is not null) ? "no shadow passed validation"
                        : "no shadow could be started (provisioning, its data or mirroring failed: see each shadow's retirement)");
                }

                // Released while preparing: a remediation started then (version 5) retires its shadow before the rest drain.
                // (From version 7 the window's end during preparation drained the ready shadows there: not held past it.)
                var reason = _release.IsCompleted ? await EndHoldAsync(Released(await _release.ConfigureAwait(true))).ConfigureAwait(true)
                    : _drainedWhilePreparing is { } drained ? await EndHoldAsync(drained).ConfigureAwait(true)
                    : _drainWhilePreparing && WindowEnded() ? await EndHoldAsync("the window ended").ConfigureAwait(true)
                    : await HoldAsync().ConfigureAwait(true);
                await DrainAndRetireAsync(Ready().ToArray(), reason).ConfigureAwait(true);
                return Outcome(served: true, reason);
            }
            catch (WorkflowTaskFailedException ex)
            {
                // An activity failed past its retries: no shadow may stay routable, or running, with nobody holding it.
                LogGivingUp(ex.FailureDetails.ErrorMessage);
                if (_concurrentRemediation)
                {
                    // Remediations still running beside the hold stop at their next step (retiring their shadow) instead of
                    // making it ready; waited for, so no restart of theirs lands after the retirement below.
                    _stopping = true;
                    while (_reworks.Count > 0)
                    {
                        var (_, work) = _reworks[0];
                        _reworks.RemoveAt(0);
                        try
                        {
                            await work.ConfigureAwait(true);
                        }
                        catch (Exception)
                        {
                            // whatever stopped it, it retires what it could; the loop below and the maintenance sweep the rest
                        }
                    }
                }
                foreach (var id in _shadows.Values.Where(s => s.State != ShadowState.Retired).Select(s => s.ShadowId).ToArray())
                {
                    try
                    {
                        await RetireAsync(id, $"its workflow failed: {ex.FailureDetails.ErrorMessage}").ConfigureAwait(true);
                    }
                    catch (WorkflowTaskFailedException)
                    {
                        // the host's maintenance sweep retires what is left once this instance has ended
                    }
                }

                throw;
            }
        }

        /// <summary>Runs new shadows up to PreWarmed in parallel; returns how many got there.</summary>
        private async Task<int> PrepareAsync(IReadOnlyList<string> ids)
        {
            foreach (var id in ids)
            {
                _shadows[id] = new ShadowProgress { ShadowId = id, State = ShadowState.Provisioning, Resources = _resources };
            }

            Status("Preparing");
            var preparations = Task.WhenAll(ids.Select(PrepareOneAsync));
            Task? window = null; // the window's end, while nothing was drained yet (version 7)
            var timerEnd = _windowEnd;
            Task? drained = null;
            while ((_verdictsWhilePreparing || _drainWhilePreparing) && !preparations.IsCompleted)
            {
                // A verdict on a shadow already ready starts its remediation beside the preparations; one that ends is taken
                // off the list, so a later verdict on the same shadow is not mistaken for one on the process it replaced.
                List<Task> waits = [preparations];
                if (_verdictsWhilePreparing)
                {
                    waits.AddRange(_reworks.Where(r => !r.Work.IsCompleted).Select(r => r.Work));
                    waits.Add(_verdict!);
                }

                if (_drainWhilePreparing && drained is null)
                {
                    // A provisioning call can take many minutes: a release or the window's end must not leave the shadows
                    // already ready routable (and running) until it returns. The preparations stop at their next step.
                    if (window is null || timerEnd != _windowEnd)
                    {
                        window = context.CreateTimer(_windowEnd.UtcDateTime, CancellationToken.None);
                        timerEnd = _windowEnd;
                    }

                    waits.AddRange([_release, window, _extend]);
                }
                else if (drained is { IsCompleted: false })
                {
                    waits.Add(drained);
                }

                var fired = await Task.WhenAny(waits).ConfigureAwait(true);
                if (fired == _verdict)
                {
                    await TakeVerdictAsync().ConfigureAwait(true);
                }
                else if (fired == _release || fired == window || fired == _extend)
                {
                    if (drained is null && (_release.IsCompleted || WindowEnded()))
                    {
                        // The hold is over: the preparations stop at their next step (and take no extension that comes later,
                        // which nothing would hold for), and a shadow being remediated retires itself at its next check.
                        _stopping = true;
                        _drainedWhilePreparing = _release.IsCompleted ? Released(await _release.ConfigureAwait(true)) : "the window ended";
                        var ready = Ready().Where(id => !_reworks.Exists(r => r.ShadowId == id && !r.Work.IsCompleted)).ToArray();
                        drained = ready.Length > 0 ? DrainAndRetireAsync(ready, _drainedWhilePreparing) : Task.CompletedTask;
                    }
                }
                else if (fired != preparations && fired != drained)
                {
                    EndFinishedReworks();
                }
            }

            var results = await preparations.ConfigureAwait(true);
            if (drained is not null)
            {
                await drained.ConfigureAwait(true);
            }

            return results.Count(ok => ok);
        }

        private async Task<bool> PrepareOneAsync(string id)
        {
            try
            {
                return await PrepareOrThrowAsync(id).ConfigureAwait(true);
            }
            catch (ReleasedException)
            {
                await RetireAsync(id, failure: null).ConfigureAwait(true); // released before it was ready: nothing to drain
                return false;
            }
            catch (WorkflowTaskFailedException) when (options.LifecycleVersion >= 4)
            {
                // The workflow gives up once every preparation has ended: the others stop at their next step rather than
                // be warmed, judged and made ready only to be retired.
                _stopping = true;
                throw;
            }
        }

        private async Task<bool> PrepareOrThrowAsync(string id)
        {
            var step = Step(id);
            try
            {
                ThrowIfReleased(); // released while pending: start nothing
                var provisioned = await context.CallActivityAsync<ProvisionedShadow>(nameof(ProvisionShadowActivity), step, ProvisionRetry).ConfigureAwait(true);
                Update(id, p => p with { Address = provisioned.Address, Notes = provisioned.Notes.Count > 0 ? provisioned.Notes : null });
                ThrowIfReleased();
                await context.CallActivityAsync(nameof(SyncShadowDataActivity), step, StoreRetry).ConfigureAwait(true);
                Update(id, p => p with { State = ShadowState.Syncing });
                ThrowIfReleased(); // before mirroring is turned on for it
                await context.CallActivityAsync(nameof(EnableMirroringActivity), new MirrorStep(request.Service, id, options.MirrorPercent), StoreRetry).ConfigureAwait(true);
            }
            catch (WorkflowTaskFailedException ex)
            {
                await RetireAsync(id, $"could not be started: {ex.FailureDetails.ErrorMessage}").ConfigureAwait(true);
                return false;
            }

            ThrowIfReleased();
            return await WarmUntilValidAsync(id).ConfigureAwait(true);
        }

        /// <summary>A held shadow warmed and judged again (after a resize or a failing verdict); retired if released meanwhile.</summary>
        private async Task WarmOrRetireAsync(string id)
        {
            try
            {
                await WarmUntilValidAsync(id).ConfigureAwait(true);
            }
            catch (ReleasedException)
            {
                await RetireAsync(id, failure: null).ConfigureAwait(true); // the hold loop sees the release next
            }
        }

        /// <summary>Warm-up and validation, with more warm-up on Inconclusive and remediation on Fail; retires the shadow when both run out.</summary>
        private async Task<bool> WarmUntilValidAsync(string id)
        {
            var warmups = 0;
            DateTime? evidenceSince = null; // kept across Inconclusive warm-ups: each adds to what the last one saw
            while (true)
            {
                ThrowIfReleased();
                ShadowCheck check;
                var since = evidenceSince ?? context.CurrentUtcDateTime;
                try
                {
                    // Each warm-up since the evidence began adds its own WarmupSamples (or its WarmupTime): counted from the
                    // first, a second warm-up would find the first's samples and end at once.
                    check = await WarmAndValidateAsync(id, since, options.WarmupSamples * (evidenceSince is null ? 1 : warmups + 1)).ConfigureAwait(true);
                }
                catch (WorkflowTaskFailedException ex)
                {
                    await RetireAsync(id, $"could not be validated: {ex.FailureDetails.ErrorMessage}").ConfigureAwait(true);
                    return false;
                }

                Update(id, p => p with { LastVerdict = check });
                if (check.Verdict == Verdict.Pass)
                {
                    if (_concurrentRemediation)
                    {
                        ThrowIfReleased(); // judged as the release came, the window ended or the workflow gave up: retired, never made ready
                    }
                    // When the table made it PreWarmed: continuous validation judges it from then on. Histories from before
                    // the activity returned it hold `true`, and fall back to this turn's time.
#pragma warning disable DAPR1304 // read as JSON on purpose: a replayed history may hold the old `true` where a time is now returned
                    var marked = await context.CallActivityAsync<JsonElement>(nameof(MarkPreWarmedActivity), Step(id), StoreRetry).ConfigureAwait(true);
#pragma warning restore DAPR1304
                    DateTimeOffset readyAt = marked.ValueKind == JsonValueKind.String && marked.TryGetDateTimeOffset(out var at) ? at : context.CurrentUtcDateTime;
                    Update(id, p => p with { State = ShadowState.PreWarmed, ReadyAt = readyAt });
                    Status(_phase);
                    return true;
                }

                if (check.Verdict == Verdict.Inconclusive && ++warmups < options.MaxWarmups)
                {
                    // Too little traffic to judge yet: warm up longer and judge everything since the first warm-up began.
                    // Starting afresh, a service too quiet to fill one warm-up would never be judged however long it ran.
                    LogMoreWarmup(id, warmups, options.MaxWarmups);
                    evidenceSince = since;
                    continue;
                }

                var attempt = _shadows[id].Attempt;
                if (check.Verdict == Verdict.Fail && attempt <= options.MaxRemediations)
                {
                    if (options.LifecycleVersion >= 4)
                    {
                        ThrowIfReleased(); // judged as the release came or the window ended: retired, not restarted first
                    }

                    if (!await RemediateAsync(id).ConfigureAwait(true))
                    {
                        return false;
                    }

                    warmups = 0;
                    evidenceSince = null; // a new process: what the old one answered says nothing about it
                    continue;
                }

                var why = check.Verdict == Verdict.Fail
                    ? $"failed validation after {attempt - 1} remediation(s): {string.Join("; ", check.Reasons.Take(2))}"
                    : $"still inconclusive after {warmups} warm-up(s): {string.Join("; ", check.Reasons.Take(2))}";
                await RetireAsync(id, why).ConfigureAwait(true);
                return false;
            }
        }

        /// <summary>
        /// Warms up until <paramref name="target"/> samples since <paramref name="since"/> or for <see cref="ShadowLifecycleOptions.WarmupTime"/>,
        /// whichever comes first, then judges the copies sent since <paramref name="since"/>.
        /// </summary>
        private async Task<ShadowCheck> WarmAndValidateAsync(string id, DateTime since, int target)
        {
            Update(id, p => p with { State = ShadowState.WarmingUp });
            Status(_phase);
            var deadline = context.CurrentUtcDateTime + options.WarmupTime;
            var amplified = !options.AmplifyThinTraffic;
            while (true)
            {
                var stats = await context.CallActivityAsync<WarmupStats>(nameof(CollectWarmupStatsActivity), new WarmupStep(request.Service, id, since), StoreRetry).ConfigureAwait(true);
                var now = context.CurrentUtcDateTime;
                if (stats.Samples >= target)
                {
                    break;
                }

                // Outcomes are counted and judged up to the policy timeout + 3 s ago (their copies may still be answered):
                // a WarmupTime no longer than that would be judged on an empty window, Inconclusive, one warm-up spent. The
                // warm-up goes on until its count covers one check interval (or the WarmupTime, if shorter; version 6).
                if (now >= deadline)
                {
                    var shortest = options.WarmupTime < options.WarmupCheckInterval ? options.WarmupTime : options.WarmupCheckInterval;
                    if (options.LifecycleVersion < 6 || stats.CountedSince is not { } countedSince || now >= countedSince.UtcDateTime + shortest)
                    {
                        break;
                    }

                    deadline = countedSince.UtcDateTime + shortest;
                }

                // At this pace the target is out of reach: replay copies amplified for the rest of the warm-up. The pace is
                // judged after one check interval of counting at the earliest: the first count comes moments after mirroring
                // is turned on (or the shadow's process restarted, which starts the count again), before a copy could
                // arrive, and amplifying then paces a busy service's copies down to a trickle.
                var counted = stats.CountedSince > since ? stats.CountedSince.Value : since;
                var elapsed = (now - counted).TotalSeconds;
                if (!amplified && elapsed >= options.WarmupCheckInterval.TotalSeconds && stats.Samples / elapsed * (deadline - counted).TotalSeconds < target)
                {
                    amplified = true;
                    // No faster than the router keeps outcomes: copies beyond that only load the shadow, they are never counted.
                    var rate = Math.Min(
                        (target - stats.Samples) / Math.Max(1, (deadline - now).TotalSeconds),
                        OutcomeSlot.Cap / OutcomeSlot.Length.TotalSeconds);
                    LogAmplifying(id, stats.Samples, rate);
                    await context.CallActivityAsync(nameof(AmplifyMirroringActivity), new AmplifyStep(request.Service, id, rate), StoreRetry).ConfigureAwait(true);
                }

                var wait = deadline - now < options.WarmupCheckInterval ? deadline - now : options.WarmupCheckInterval;
                await Task.WhenAny(context.CreateTimer(wait, CancellationToken.None), _release).ConfigureAwait(true);
                ThrowIfReleased();
            }

            if (_concurrentRemediation)
            {
                ThrowIfReleased(); // the count was met as the release or the window's end came: not judged for nothing
            }

            Update(id, p => p with { State = ShadowState.Validating });
            return await context.CallActivityAsync<ShadowCheck>(nameof(ValidateShadowActivity), new WarmupStep(request.Service, id, since), StoreRetry).ConfigureAwait(true);
        }

        /// <summary>One size more and back to warm-up; false (and retired) when the restart fails.</summary>
        private async Task<bool> RemediateAsync(string id)
        {
            var current = _shadows[id];
            var resources = (current.Resources ?? _resources) with { Size = (current.Resources ?? _resources).Size + 1 };
            Update(id, p => p with { Attempt = p.Attempt + 1, Resources = resources });
            LogRemediating(id, current.Attempt + 1, resources.Size);
            try
            {
                var provisioned = await context.CallActivityAsync<ProvisionedShadow>(nameof(RemediateShadowActivity), new ShadowStep(request.Service, id, context.InstanceId, resources), ProvisionRetry).ConfigureAwait(true);
                Update(id, p => p with { Address = provisioned.Address, State = ShadowState.WarmingUp });
                return true;
            }
            catch (WorkflowTaskFailedException ex)
            {
                await RetireAsync(id, $"remediation failed: {ex.FailureDetails.ErrorMessage}").ConfigureAwait(true);
                return false;
            }
        }

        /// <summary>Holds the ready shadows until the window ends or <c>release</c>; returns why it ended.</summary>
        /// <remarks>
        /// A failing verdict's remediation (a restart, a warm-up, a judgement: up to about an hour and a half with the
        /// defaults) runs beside the loop, so a second shadow that fails meanwhile is remediated at once rather than after
        /// it, and the window's end and <c>release</c> are seen as they come. A resize waits for those to finish: it counts
        /// and restarts the shadows held, and a shadow half way through a restart is neither.
        /// </remarks>
        private async Task<string> HoldAsync()
        {
            // One pending wait per event name, re-armed only after it fires: a wait left pending would take the next event of its name.
            var resize = context.WaitForExternalEventAsync<ResizeEvent>(ShadowLifecycleNames.Resize, CancellationToken.None);
            if (_verdictsWhilePreparing && !Ready().Any() && _reworks.Count == 0 && !resize.IsCompleted)
            {
                // Each one made ready was retired by a remediation that ended during preparation, and no request to grow came.
                return "no shadow is left ready";
            }

            _phase = "Holding";
            Status(_phase);
            var window = context.CreateTimer(_windowEnd.UtcDateTime, CancellationToken.None);
            var timerEnd = _windowEnd;
            var release = _release;
            _verdict ??= context.WaitForExternalEventAsync<VerdictEvent>(ShadowLifecycleNames.Verdict, CancellationToken.None);
            while (true)
            {
                var fired = await Task.WhenAny([window, release, _extend, resize, _verdict, .. _reworks.Select(r => r.Work)]).ConfigureAwait(true);
                if (fired == release)
                {
                    return await EndHoldAsync(Released(await release.ConfigureAwait(true))).ConfigureAwait(true);
                }

                if (fired == window)
                {
                    if (context.CurrentUtcDateTime >= _windowEnd)
                    {
                        return await EndHoldAsync("the window ended").ConfigureAwait(true);
                    }

                    window = context.CreateTimer(_windowEnd.UtcDateTime, CancellationToken.None); // an earlier end was extended
                    timerEnd = _windowEnd;
                }
                else if (fired == _extend)
                {
                    Extend(await _extend.ConfigureAwait(true));
                }
                else if (fired == resize)
                {
                    if (_reworks.Count > 0)
                    {
                        await EndReworksAsync().ConfigureAwait(true);
                        if (release.IsCompleted || WindowEnded())
                        {
                            // Came while the resize waited: the shadows drain now rather than restart for a window that is over.
                            return release.IsCompleted ? Released(await release.ConfigureAwait(true)) : "the window ended";
                        }
                    }

                    await ResizeAsync(await resize.ConfigureAwait(true)).ConfigureAwait(true);
                    if (_drainedWhilePreparing is { } drained)
                    {
                        return await EndHoldAsync(drained).ConfigureAwait(true); // the release or the window's end came while it prepared
                    }

                    resize = context.WaitForExternalEventAsync<ResizeEvent>(ShadowLifecycleNames.Resize, CancellationToken.None);
                }
                else if (fired == _verdict && !_concurrentRemediation)
                {
                    await OnVerdictAsync(await _verdict.ConfigureAwait(true)).ConfigureAwait(true);
                    _verdict = context.WaitForExternalEventAsync<VerdictEvent>(ShadowLifecycleNames.Verdict, CancellationToken.None);
                }
                else if (fired == _verdict)
                {
                    if (!await TakeVerdictAsync().ConfigureAwait(true))
                    {
                        continue;
                    }
                }
                else if (_reworks.FindIndex(r => r.Work == fired) is var index and >= 0)
                {
                    var (_, work) = _reworks[index];
                    _reworks.RemoveAt(index);
                    await work.ConfigureAwait(true); // an activity that failed past its retries fails the workflow here
                }

                if (release.IsCompleted)
                {
                    return await EndHoldAsync(Released(await release.ConfigureAwait(true))).ConfigureAwait(true); // arrived while a shadow was warmed again
                }

                if (!Ready().Any() && _reworks.Count == 0)
                {
                    return "no shadow is left ready";
                }

                // An extension (this event, or one taken while a shadow was prepared or warmed again) may have moved the end
                // either way: an earlier end must not wait for the timer of the later one.
                if (WindowEnded())
                {
                    return await EndHoldAsync("the window ended").ConfigureAwait(true);
                }

                if (_windowEnd != timerEnd)
                {
                    window = context.CreateTimer(_windowEnd.UtcDateTime, CancellationToken.None);
                    timerEnd = _windowEnd;
                }

                Status(_phase);
            }
        }

        /// <summary>
        /// Takes the verdict that arrived and re-arms the wait; a Fail on a held shadow starts its remediation beside the
        /// caller (in <see cref="_reworks"/>). False when the shadow is already being remediated: a verdict on the process
        /// it is replacing says nothing new.
        /// </summary>
        private async Task<bool> TakeVerdictAsync()
        {
            var judged = await _verdict!.ConfigureAwait(true);
            _verdict = context.WaitForExternalEventAsync<VerdictEvent>(ShadowLifecycleNames.Verdict, CancellationToken.None);
            if (_verdictsWhilePreparing)
            {
                EndFinishedReworks(); // a remediation that ended is no reason to drop a new verdict
            }

            if (_reworks.Exists(r => r.ShadowId == judged.ShadowId))
            {
                return false;
            }

            var work = OnVerdictAsync(judged);
            if (work.IsCompleted)
            {
                await work.ConfigureAwait(true); // nothing to do, or it failed at once
            }
            else
            {
                _reworks.Add((judged.ShadowId, work));
            }

            return true;
        }

        /// <summary>
        /// Lets the remediations still running end (released or past the window, each retires its shadow at its next check,
        /// or holds it if it was made ready first) before the held shadows are drained.
        /// </summary>
        private async Task<string> EndHoldAsync(string reason)
        {
            _stopping = _concurrentRemediation;
            await EndReworksAsync().ConfigureAwait(true);
            return reason;
        }

        /// <summary>
        /// Takes the remediations that have ended well off <see cref="_reworks"/>. One that failed past its retries stays,
        /// for the hold (or the workflow's end) to throw; the workflow is giving up, so preparations stop at their next step.
        /// </summary>
        private void EndFinishedReworks()
        {
            _reworks.RemoveAll(r => r.Work.IsCompletedSuccessfully);
            _stopping |= _reworks.Exists(r => r.Work.IsFaulted || r.Work.IsCanceled);
        }

        private async Task EndReworksAsync()
        {
            while (_reworks.Count > 0)
            {
                var (_, work) = _reworks[0];
                _reworks.RemoveAt(0);
                await work.ConfigureAwait(true);
            }
        }

        private async Task ResizeAsync(ResizeEvent resize)
        {
            if (resize.Resources is { } resources && resources != _resources)
            {
                var previous = _resources;
                _resources = resources;
                foreach (var id in Ready().ToArray())
                {
                    if (options.LifecycleVersion >= 4 && (_release.IsCompleted || WindowEnded()))
                    {
                        return; // came while an earlier one restarted: the ones still ready drain rather than restart for nothing
                    }

                    var own = _shadows[id].Resources ?? previous; // a remediated shadow runs larger than the request's size
                    if (own == resources)
                    {
                        continue; // already has them: the same resize sent again after a partial refusal
                    }

                    if (await RestartAsync(id, resources).ConfigureAwait(true) is { } refused)
                    {
                        // Resources the platform refuses (a quota, a size it does not offer) must not cost the window its
                        // shadows: this one goes back to what it had, the others keep theirs, and so do new shadows.
                        LogResizeRefused(id, refused);
                        _resources = previous;
                        if (await RestartAsync(id, own).ConfigureAwait(true) is { } failed)
                        {
                            await RetireAsync(id, $"resize failed: {refused}; the restart with its previous resources failed too: {failed}").ConfigureAwait(true);
                            break;
                        }

                        await WarmOrRetireAsync(id).ConfigureAwait(true);
                        break;
                    }

                    await WarmOrRetireAsync(id).ConfigureAwait(true);
                }
            }

            var ready = Ready().ToArray();
            if (options.LifecycleVersion >= 4 && (_release.IsCompleted || WindowEnded()))
            {
                return;
            }

            if (resize.Count is { } count && count > ready.Length)
            {
                await PrepareAsync(NewIds(count - ready.Length)).ConfigureAwait(true);
            }
            else if (resize.Count is { } fewer && fewer >= 0 && fewer < ready.Length)
            {
                await DrainAndRetireAsync(ready[fewer..], "resized to fewer shadows").ConfigureAwait(true);
                _phase = "Holding"; // the rest are still held
            }
        }

        /// <summary>Restarts a held shadow with <paramref name="resources"/>; null, or why the restart failed past its retries.</summary>
        private async Task<string?> RestartAsync(string id, ShadowResources resources)
        {
            Update(id, p => p with { Resources = resources });
            try
            {
                var provisioned = await context.CallActivityAsync<ProvisionedShadow>(nameof(RemediateShadowActivity), Step(id), ProvisionRetry).ConfigureAwait(true);
                Update(id, p => p with { Address = provisioned.Address, Notes = provisioned.Notes.Count > 0 ? provisioned.Notes : null });
                return null;
            }
            catch (WorkflowTaskFailedException ex)
            {
                return ex.FailureDetails.ErrorMessage;
            }
        }

        private async Task OnVerdictAsync(VerdictEvent verdict)
        {
            if (!_shadows.TryGetValue(verdict.ShadowId, out var shadow) || shadow.State != ShadowState.PreWarmed)
            {
                return; // not ours, or no longer held
            }

            if (shadow.ReadyAt is { } ready && verdict.Check.JudgedAt < ready)
            {
                return; // judged before its last warm-up ended: says nothing about the process now held
            }

            Update(verdict.ShadowId, p => p with { LastVerdict = verdict.Check });
            if (verdict.Check.Verdict != Verdict.Fail)
            {
                return;
            }

            if (_verdictsWhilePreparing && (_release.IsCompleted || _stopping || WindowEnded()))
            {
                return; // released, past the window or giving up (taken while others were prepared): drained, not restarted
            }

            if (shadow.Attempt > options.MaxRemediations)
            {
                await RetireAsync(verdict.ShadowId, $"failed revalidation after {shadow.Attempt - 1} remediation(s): {string.Join("; ", verdict.Check.Reasons.Take(2))}").ConfigureAwait(true);
                return;
            }

            if (await RemediateAsync(verdict.ShadowId).ConfigureAwait(true))
            {
                await WarmOrRetireAsync(verdict.ShadowId).ConfigureAwait(true);
            }
        }

        private async Task DrainAndRetireAsync(IReadOnlyList<string> ids, string reason)
        {
            if (ids.Count == 0 && _drainWhilePreparing)
            {
                return; // all drained while others were prepared (version 7): no drain time to wait out for nothing
            }

            _phase = "Draining";
            LogDraining(ids.Count, reason);
            await Task.WhenAll(ids.Select(id => context.CallActivityAsync(nameof(DrainShadowActivity), Step(id), StoreRetry))).ConfigureAwait(true);
            foreach (var id in ids)
            {
                Update(id, p => p with { State = ShadowState.Draining });
            }

            Status(_phase);
            if (options.DrainTime > TimeSpan.Zero)
            {
                await context.CreateTimer(options.DrainTime, CancellationToken.None).ConfigureAwait(true);
            }

            await Task.WhenAll(ids.Select(id => RetireAsync(id, failure: null))).ConfigureAwait(true);
        }

        private async Task RetireAsync(string id, string? failure)
        {
            if (failure is not null)
            {
                LogFailed(id, failure);
            }

            await context.CallActivityAsync(nameof(RetireShadowActivity), new RetireStep(request.Service, id, failure), StoreRetry).ConfigureAwait(true);
            Update(id, p => p with { State = ShadowState.Retired });
            Status(_phase);
        }

        private static string Released(string? by) => string.IsNullOrWhiteSpace(by) ? "released" : $"released: {by}";

        /// <summary>
        /// Stops a preparation (or a warm-up again while held) when <c>release</c> arrived, the window has ended or the
        /// workflow is giving up: shadows never run past the endpoint-hours admitted for them because warm-up took longer
        /// than the window.
        /// </summary>
        private void ThrowIfReleased()
        {
            if (_release.IsCompleted || _stopping || WindowEnded())
            {
                throw new ReleasedException();
            }
        }

        /// <summary>Whether the window has ended, with any extension that arrived applied first.</summary>
        private bool WindowEnded()
        {
            while (_extend.IsCompleted)
            {
                Extend(_extend.GetAwaiter().GetResult());
            }

            return context.CurrentUtcDateTime >= _windowEnd;
        }

        /// <summary>Moves the window's end and waits for the next extension.</summary>
        private void Extend(ExtendEvent extend)
        {
            LogExtended(extend.WindowEnd);
            _windowEnd = extend.WindowEnd;
            _extensionsReceived = Math.Max(_extensionsReceived, extend.Number ?? 0);
            _extend = context.WaitForExternalEventAsync<ExtendEvent>(ShadowLifecycleNames.Extend, CancellationToken.None);
        }

        private IEnumerable<string> Ready() => _shadows.Values.Where(s => s.State == ShadowState.PreWarmed).Select(s => s.ShadowId);

        private string[] NewIds(int count) => Enumerable.Range(0, count).Select(_ => ShadowLifecycleNames.ShadowId(request, _nextIndex++, ShadowLifecycleNames.RevisionOf(context.InstanceId))).ToArray();

        private ShadowStep Step(string id) => new(request.Service, id, context.InstanceId, _shadows[id].Resources ?? _resources);

        private void Update(string id, Func<ShadowProgress, ShadowProgress> change) => _shadows[id] = change(_shadows[id]);

        private void Status(string phase) =>
            context.SetCustomStatus(new ShadowLifecycleStatus { Phase = phase, WindowEnd = _windowEnd, Shadows = _shadows.Values.ToArray() });

        private ShadowOutcome Outcome(bool served, string reason)
        {
            // Unserved for want of a ready shadow is a failure; released, or a window that ended first, is not.
            _phase = served || _release.IsCompleted || context.CurrentUtcDateTime >= _windowEnd ? "Retired" : "Failed";
            Status(_phase);

            // The end held for: extensions are taken only while preparing or holding (an ended hold sets _stopping first, so
            // a remediation's check takes none either), never while draining; one that came since waits in _extend, untaken.
            // Nothing after the hold may call WindowEnded(), or this would claim an end never held for.
            return new ShadowOutcome
            {
                RequestId = request.Id,
                Service = request.Service,
                Served = served,
                Reason = reason,
                Shadows = _shadows.Values.ToArray(),
                WindowEnd = _windowEnd,
                UnheldExtension = _extend.IsCompleted ? _extend.GetAwaiter().GetResult().WindowEnd : null,
                ExtensionsReceived = Math.Max(_extensionsReceived, _extend.IsCompleted ? _extend.GetAwaiter().GetResult().Number ?? 0 : 0),
            };
        }

        [LoggerMessage(EventId = 94, Level = LogLevel.Warning, Message = "Shadow {ShadowId}: the resize was refused ({Error}); it goes back to its previous resources, and the rest keep theirs")]
        private partial void LogResizeRefused(string shadowId, string error);

        [LoggerMessage(EventId = 76, Level = LogLevel.Error, Message = "An activity failed past its retries ({Error}); retiring every shadow of the request")]
        private partial void LogGivingUp(string error);

        [LoggerMessage(EventId = 70, Level = LogLevel.Information, Message = "Shadow {ShadowId}: inconclusive, warm-up {Warmup} of {MaxWarmups} more")]
        private partial void LogMoreWarmup(string shadowId, int warmup, int maxWarmups);

        [LoggerMessage(EventId = 71, Level = LogLevel.Warning, Message = "Shadow {ShadowId}: remediation attempt {Attempt}, size {Size}")]
        private partial void LogRemediating(string shadowId, int attempt, int size);

        [LoggerMessage(EventId = 75, Level = LogLevel.Information, Message = "Shadow {ShadowId}: {Samples} mirrored answer(s) so far is too thin; replaying copies paced to {Rate:0.##}/s")]
        private partial void LogAmplifying(string shadowId, int samples, double rate);

        [LoggerMessage(EventId = 72, Level = LogLevel.Information, Message = "Window extended to {WindowEnd:u}")]
        private partial void LogExtended(DateTimeOffset windowEnd);

        [LoggerMessage(EventId = 73, Level = LogLevel.Information, Message = "Draining {Count} shadow(s): {Reason}")]
        private partial void LogDraining(int count, string reason);

        [LoggerMessage(EventId = 74, Level = LogLevel.Warning, Message = "Shadow {ShadowId} retired: {Failure}")]
        private partial void LogFailed(string shadowId, string failure);
    }

    /// <summary>Thrown inside a preparation when <c>release</c> arrived or the window ended: the shadow is retired instead of made ready.</summary>
    private sealed class ReleasedException : Exception
    {
    }
}
