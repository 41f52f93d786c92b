using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Globalization;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata.Budgets;

/// <summary>The budget half of one layer: finds the budget of a decided call, and makes the call's
/// <see cref="DifyBudgetCall"/> (reserve before sending, settle once after).</summary>
internal sealed class DifyBudgetEnforcer
{
    public const string BudgetExceeded = "budget_exceeded";
    public const string BudgetUnpriced = "budget_unpriced";
    public const string BudgetStoreFailed = "budget_store_failed";
    public const string AlertsCounter = "dify.app.budget.alerts";
    public const string StoreFailuresCounter = "dify.app.budget.store_failures";

    private static readonly ConditionalWeakTable<Meter, Instruments> s_byMeter = [];
    private static readonly ConditionalWeakTable<IDifyBudgetStore, System.Collections.Concurrent.ConcurrentDictionary<string, PendingCosts>> s_pending = [];
    private static readonly Instruments s_shared = new(new Meter(DifyMetadataTelemetry.MeterName));
    private static readonly ConditionalWeakTable<TimeProvider, InMemoryDifyBudgetStore> s_storeByClock = [];

    public DifyBudgetEnforcer(IDifyBudgetStore store, TimeProvider time, IMeterFactory? meterFactory)
    {
        Store = store;
        Time = time;
        Meters = meterFactory is null ? s_shared : s_byMeter.GetValue(meterFactory.Create(DifyMetadataTelemetry.MeterName), static m => new(m));
        Pending = s_pending.GetValue(store, static _ => new(StringComparer.Ordinal));
    }

    /// <summary>Gets the enforcer of layers built without services: the process's in-memory store and the system clock.</summary>
    public static DifyBudgetEnforcer Default { get; } = new(InMemoryDifyBudgetStore.Shared, TimeProvider.System, null);

    public IDifyBudgetStore Store { get; }

    public TimeProvider Time { get; }

    internal Instruments Meters { get; }

    /// <summary>Gets the cost that settlements could not add to the store, per app: one per store, shared by every layer on it
    /// (also layers built per scope); lost with the process.</summary>
    internal System.Collections.Concurrent.ConcurrentDictionary<string, PendingCosts> Pending { get; }

    /// <summary>Returns the enforcer of a pipeline's services: their store and clock, else the defaults (without a store, an
    /// in-memory one per clock, which expires its keys by that clock: the process's own for the system clock).</summary>
    public static DifyBudgetEnforcer From(IServiceProvider services, IMeterFactory? meterFactory)
    {
        IDifyBudgetStore? store = services.GetService<IDifyBudgetStore>();
        TimeProvider? time = services.GetService<TimeProvider>();
        return store is null && time is null && meterFactory is null ? Default
            : new(store ?? (time is null || time == TimeProvider.System ? InMemoryDifyBudgetStore.Shared : s_storeByClock.GetValue(time, static t => new(t))),
                time ?? TimeProvider.System, meterFactory);
    }

    /// <summary>Returns the budget call of a decided call whose app has a budget, or <see langword="null"/>. The request then
    /// sends a copy of <paramref name="messages"/> taken here (the list and each message's contents), so that it sends what
    /// was estimated; its output is bounded (<see cref="ChatOptions.MaxOutputTokens"/> set when missing) so that the
    /// reservation covers what it can cost. A background poll reserves nothing (with tools, as a request: a tool loop can go
    /// on after it) and is settled to what the requests made in it used, if any.</summary>
    /// <remarks>A <paramref name="covered"/> call is one an outer layer tags and records: the innermost layer a request reaches
    /// keeps its budget, and the outer call releases its reservation of the same key when it settles.</remarks>
    public DifyBudgetCall? Begin(
        DifyMetadataSettings settings, DifyRequestDecision? call, ref IEnumerable<ChatMessage> messages, ref ChatOptions? sent, IChatClient inner,
        DifyMetadataChatClient layer, bool covered)
    {
        if (call is null || settings.Budgets is not { } budgets || budgets.For(call.AppId) is not { } budget)
        {
            return null;
        }

        messages = [.. messages.Select(static m =>
        {
            ChatMessage copy = m.Clone();
            copy.Contents = [.. m.Contents];
            return copy;
        })];
        if (sent?.MaxOutputTokens is not int maxOutput)
        {
            maxOutput = budgets.DefaultMaxOutputTokens;
            if (covered || sent is null)
            {
                sent = sent?.Clone() ?? new ChatOptions(); // a covered call's options are the outer layer's
            }

            sent.MaxOutputTokens = maxOutput; // else the layer's own clone, made when it decided the call
        }

        // What the caller's own raw options add (tools, input items, a JSON patch, more output, n answers) is measured on what
        // its factory returns, and that is what the next request built sends.
        (long rawInput, int rawOutput, int answers) = (0, 0, 1);
        Exception? failed = null;
        if (call.CallerFactory is { } factory)
        {
            try
            {
                object? raw = factory(inner);
                call.KeepMeasured(raw);
                (rawInput, rawOutput, answers) = DifyBudgetEstimate.RawOptions(raw);
            }
            catch (Exception ex)
            {
                failed = ex; // thrown when the call is made, as without the layer
            }
        }

        maxOutput = Math.Max(maxOutput, rawOutput);
        call.BudgetMaxOutputTokens = maxOutput; // raw options may not ask for more than is reserved
        string model = sent.ModelId ?? layer.DefaultModelId() ?? string.Empty;
        long input = DifyBudgetEstimate.InputTokens(messages, sent, model, budgets.CountTokens) + rawInput;
        // A poll reserves nothing, unless tools let a tool loop go on after it with model requests of its own.
        decimal? cost = call.IsPoll && sent.Tools is not { Count: > 0 } ? 0m : settings.Prices.GetCost(model, input, 0, (long)Math.Max(maxOutput, 0) * answers);
        return new DifyBudgetCall(this, settings, budgets, call, budget, model, cost) { IsCovered = covered, Failed = failed };
    }

    /// <summary>An app's costs kept pending, per key they were spent under (a period and the app's other period beside it), in
    /// nano-dollars (positive only), and the operation adding them, which the app's reservations wait for: none is checked
    /// without them, and all share its outcome (a store down fails them together, not one timeout after the other).</summary>
    internal sealed class PendingCosts
    {
        public System.Collections.Concurrent.ConcurrentDictionary<DifyBudgetKey, long> Amounts { get; } = new();

        public Task? Flushing { get; set; }
    }

    /// <summary>The budget instruments on one meter.</summary>
    internal sealed class Instruments(Meter meter)
    {
        public Counter<long> Alerts { get; } = meter.CreateCounter<long>(AlertsCounter, "{alert}", "Budget alerts: an app's spend crossed a fraction of its limit (AlertAt), once per app, period and fraction.");

        public Counter<long> StoreFailures { get; } = meter.CreateCounter<long>(StoreFailuresCounter, "{failure}", "Budget store operations that failed (reserve or settle).");
    }
}

/// <summary>One budgeted call: reserves its maximum cost before it is sent and settles to its actual cost once after.</summary>
internal sealed class DifyBudgetCall
{
    private const decimal Nano = 1_000_000_000m;

    private readonly DifyBudgetEnforcer _enforcer;
    private readonly DifyMetadataSettings _settings;
    private readonly DifyBudgetSettings _budgets;
    private readonly DifyRequestDecision _call;
    private readonly string _model;
    private readonly decimal? _maxCost;
    private readonly long _limit;
    private DifyBudgetKey _key;
    private long _reserved;
    private State _state;

    public DifyBudgetCall(DifyBudgetEnforcer enforcer, DifyMetadataSettings settings, DifyBudgetSettings budgets, DifyRequestDecision call, DifyBudget budget, string model, decimal? maxCost)
    {
        _enforcer = enforcer;
        _settings = settings;
        _budgets = budgets;
        _call = call;
        _model = model;
        _maxCost = maxCost;
        LimitUsd = budget.LimitUsd!.Value;
        Period = budget.Period;
        _limit = ToNano(LimitUsd);
    }

    private enum State
    {
        None,
        Reserved,
        Unchecked,
        Settled,
    }

    public decimal LimitUsd { get; }

    public DifyBudgetPeriod Period { get; }

    /// <summary>Gets a value indicating whether this call is a request inside an outer layer's call (which records it).</summary>
    public bool IsCovered { get; init; }

    /// <summary>Gets what measuring the caller's raw options threw: the call throws it, sending nothing.</summary>
    public Exception? Failed { get; init; }

    /// <summary>Gets when the current period ends (set by <see cref="ReserveAsync"/>).</summary>
    public DateTimeOffset ResetsAt { get; private set; }

    /// <summary>Reserves the call's maximum cost, or throws: <see cref="DifyBudgetExceededException"/> when it does not fit
    /// (or the store fails under <see cref="DifyBudgetStoreFailure.Refuse"/>), <see cref="InvalidOperationException"/> for an
    /// unpriced model. Nothing is sent after a throw.</summary>
    public async ValueTask ReserveAsync(CancellationToken cancellationToken)
    {
        if (Failed is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(Failed);
        }

        DateTimeOffset now = _enforcer.Time.GetUtcNow().ToUniversalTime();
        (DateTimeOffset start, ResetsAt) = Bounds(now, Period);
        DifyBudgetPeriod other = Period == DifyBudgetPeriod.Day ? DifyBudgetPeriod.Month : DifyBudgetPeriod.Day;
        (DateTimeOffset otherStart, DateTimeOffset otherEnd) = Bounds(now, other);
        _key = new(KeyOf(_call.AppId, Period, start), ResetsAt.AddDays(1), KeyOf(_call.AppId, other, otherStart), otherEnd.AddDays(1));
        ILogger logger = _settings.Logger;
        if (_maxCost is not decimal maxCost)
        {
            _call.BudgetOutcome = DifyBudgetEnforcer.BudgetUnpriced;
            Log.BudgetModelUnpriced(logger, _call.AppId, _model);
            throw new InvalidOperationException(
                $"App '{_call.AppId}' has a budget, but the model '{_model}' has no price, so the request's cost cannot be kept within it; nothing was sent. " +
                $"Add the model to DifyMetadata:Prices (\"{_model}\": {{ \"InputPerMillion\": ..., \"OutputPerMillion\": ... }}), or map the name to a priced model in DifyMetadata:ModelAliases.");
        }

        long amount = maxCost >= (_limit / Nano) + 1 ? _limit + 1 : ToNano(maxCost);
        if (amount > _limit)
        {
            Refuse(amount, null); // cannot fit even an empty budget: no round trip
        }

        DifyBudgetReserveResult result;
        try
        {
            await FlushPendingAsync(cancellationToken).ConfigureAwait(false); // what failed settlements of the key left in process
            result = await _enforcer.Store.ReserveAsync(_key, amount, _limit, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _enforcer.Meters.StoreFailures.Add(1, new KeyValuePair<string, object?>("operation", "reserve"));
            if (_budgets.OnStoreFailure == DifyBudgetStoreFailure.Refuse)
            {
                _call.BudgetOutcome = DifyBudgetEnforcer.BudgetStoreFailed;
                Log.BudgetStoreFailed(logger, _call.AppId, nameof(DifyBudgetStoreFailure.Refuse), "the request is refused and nothing is sent", ex);
                throw new DifyBudgetExceededException(_call.AppId, LimitUsd, ResetsAt,
                    $"The budget of app '{_call.AppId}' ({LimitUsd.ToString(CultureInfo.InvariantCulture)} USD per {Period.ToString().ToLowerInvariant()}) cannot be checked: " +
                    $"the budget store could not be reached ({ex.GetType().Name}: {ex.Message}), and OnStoreFailure is Refuse. Nothing was sent.", ex);
            }

            Log.BudgetStoreFailed(logger, _call.AppId, nameof(DifyBudgetStoreFailure.Allow), "the request is sent unchecked", ex);
            _reserved = amount;
            _state = State.Unchecked;
            return;
        }

        if (!result.Reserved)
        {
            Refuse(amount, result.Spent);
        }

        if (IsCovered)
        {
            _call.KeptInside(_enforcer.Store, _key.Name); // the outer call releases its reservation of the same key
        }

        _reserved = amount;
        _state = State.Reserved;
    }

    /// <summary>Settles the reservation once, to the cost of <paramref name="usage"/> (priced by the response's model, else
    /// the request's); without usage, or with the usage of a call that did not complete (a stream abandoned part-way), it
    /// stays charged at least at the reservation. An outer call whose requests were kept by a layer inside releases its
    /// reservation. Never throws.</summary>
    public async ValueTask SettleAsync(UsageDetails? usage, string? responseModel, bool completed)
    {
        State state = _state;
        if (state is not (State.Reserved or State.Unchecked))
        {
            return;
        }

        _state = State.Settled;
        long actual = _reserved;
        if ((_call.IsPoll && !_call.Built) || (!IsCovered && _call.IsKeptInside(_enforcer.Store, _key.Name)))
        {
            actual = 0; // a poll that made no model request costs nothing; requests a layer inside kept were charged there
        }
        else if (usage is { InputTokenCount: not null } or { OutputTokenCount: not null } && usage is not null)
        {
            decimal? cost = _settings.Prices.GetCost(responseModel, usage) ?? _settings.Prices.GetCost(_model, usage);
            if (cost is decimal known)
            {
                actual = completed ? ToNano(known) : Math.Max(ToNano(known), _reserved);
            }
        }

        long delta = state == State.Unchecked ? actual : actual - _reserved; // unchecked: the store never saw a reservation
        DifyBudgetThreshold[] alertAt = AlertThresholds();
        if (delta == 0 && alertAt.Length == 0)
        {
            return;
        }

        try
        {
            // Pending costs are added only before a reservation, where the app's reservations wait for them.
            await SettleInStoreAsync(_key, delta, alertAt, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _enforcer.Meters.StoreFailures.Add(1, new KeyValuePair<string, object?>("operation", "settle"));

            // Kept: the cost the store may not hold. A reservation stays charged, so only cost above it (unchecked: all of it);
            // a refund is not kept, as the failed operation may have reached the store, and a refund made twice under-counts.
            long keep = Math.Max(delta, 0);
            if (keep > 0)
            {
                KeepPending(_key, keep);
                Log.BudgetSettlePending(_settings.Logger, _call.AppId, keep / Nano, ex);
            }
            else
            {
                Log.BudgetSettleFailed(_settings.Logger, _call.AppId, _reserved / Nano, ex);
            }
        }
    }

    /// <summary>The start and the end of the UTC period that holds <paramref name="now"/>.</summary>
    internal static (DateTimeOffset Start, DateTimeOffset End) Bounds(DateTimeOffset now, DifyBudgetPeriod period)
    {
        now = now.ToUniversalTime();
        if (period == DifyBudgetPeriod.Day)
        {
            var day = new DateTimeOffset(now.Year, now.Month, now.Day, 0, 0, 0, TimeSpan.Zero);
            return (day, day.AddDays(1));
        }

        var month = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        return (month, month.AddMonths(1));
    }

    /// <summary>The store key of an app's period; the braces keep an app's keys in one Redis Cluster hash slot.</summary>
    internal static string KeyOf(string appId, DifyBudgetPeriod period, DateTimeOffset start) =>
        "dify:budget:{" + HashTag(appId) + "}:" + (period == DifyBudgetPeriod.Day ? start.ToString("'d'yyyyMMdd", CultureInfo.InvariantCulture) : start.ToString("'m'yyyyMM", CultureInfo.InvariantCulture));

    /// <summary>The app id inside the key's braces: <c>%</c>, <c>{</c> and <c>}</c> percent-encoded, so that no id ends the hash
    /// tag early (an id starting with <c>}</c> would make an empty tag, and split an app's keys across cluster slots).</summary>
    private static string HashTag(string appId) =>
        appId.AsSpan().IndexOfAny("%{}") < 0 ? appId : appId.Replace("%", "%25", StringComparison.Ordinal).Replace("{", "%7B", StringComparison.Ordinal).Replace("}", "%7D", StringComparison.Ordinal);

    internal static long ToNano(decimal usd) => usd <= 0 ? 0 : (long)Math.Ceiling(usd * Nano);

    /// <summary>Adds what failed settlements of the app kept pending, before a reservation, each amount to the keys it was
    /// spent under (a day and its month, also when that day has ended), with the current period's alerts; when that fails,
    /// keeps it pending and throws. The app's reservations made meanwhile wait for the same operation.</summary>
    private async ValueTask FlushPendingAsync(CancellationToken cancellationToken)
    {
        if (!_enforcer.Pending.TryGetValue(_call.AppId, out DifyBudgetEnforcer.PendingCosts? pending))
        {
            return; // the app never had a pending cost in this process
        }

        while (true)
        {
            TaskCompletionSource? mine = null;
            Task flush;
            lock (pending)
            {
                if (pending.Flushing is { IsCompleted: false } running)
                {
                    flush = running;
                }
                else if (pending.Amounts.IsEmpty)
                {
                    return;
                }
                else
                {
                    mine = new(TaskCreationOptions.RunContinuationsAsynchronously);
                    flush = pending.Flushing = mine.Task;
                }
            }

            if (mine is not null)
            {
                var added = new List<(DateTimeOffset ResetsAt, DifyBudgetSettleResult Result)>();
                try
                {
                    await AddPendingAsync(pending, added, cancellationToken).ConfigureAwait(false);
                    mine.SetResult();
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    mine.SetCanceled(cancellationToken); // stopped with this caller: a waiter adds the rest
                }
                catch (Exception ex)
                {
                    mine.SetException(ex); // a store failure, the waiters' too
                }

                foreach ((DateTimeOffset resetsAt, DifyBudgetSettleResult result) in added)
                {
                    RaiseAlerts(result, resetsAt); // once the app's other requests go on: a callback may call the app
                }
            }

            try
            {
                await flush.WaitAsync(cancellationToken).ConfigureAwait(false); // then again: a cost kept meanwhile is added too
            }
            catch (OperationCanceledException) when (flush.IsCanceled && !cancellationToken.IsCancellationRequested)
            {
                // The flush stopped with its caller: what it had not added is pending again; add it here.
            }
        }
    }

    private async Task AddPendingAsync(DifyBudgetEnforcer.PendingCosts pending, List<(DateTimeOffset ResetsAt, DifyBudgetSettleResult Result)> added, CancellationToken cancellationToken)
    {
        foreach (DifyBudgetKey kept in pending.Amounts.Keys)
        {
            if (pending.Amounts.TryRemove(kept, out long amount))
            {
                // Read from the current period when it is one of the two (a reload switched the period). A period of the budget's
                // kind (this one, or one that ended since) gets the budget's alerts, the others none.
                DifyBudgetKey own = kept.Twin == _key.Name ? new(kept.Twin, kept.TwinExpiresAt, kept.Name, kept.ExpiresAt) : kept;
                DifyBudgetThreshold[] alertAt = KindOf(own.Name) == KindOf(_key.Name) ? AlertThresholds() : [];
                try
                {
                    added.Add((own.ExpiresAt.AddDays(-1), await _enforcer.Store.SettleAsync(own, amount, alertAt, cancellationToken).ConfigureAwait(false)));
                }
                catch
                {
                    KeepPending(kept, amount); // put back: also when the store applied it and its answer was lost (counted twice, never lost)
                    throw;
                }
            }
        }
    }

    private void KeepPending(DifyBudgetKey key, long amount) =>
        _enforcer.Pending.GetOrAdd(_call.AppId, static _ => new()).Amounts.AddOrUpdate(key, static (_, add) => add, static (_, kept, add) => kept + add, amount);

    /// <summary>The kind of period of a store key: <c>d</c> (a day) or <c>m</c> (a month), after the key's last colon.</summary>
    private static char KindOf(string key) => key[key.LastIndexOf(':') + 1];

    private DifyBudgetThreshold[] AlertThresholds() => Array.ConvertAll(_budgets.AlertAt, f => new DifyBudgetThreshold(f, (long)Math.Ceiling(f * _limit)));

    /// <summary>Adds <paramref name="delta"/> to <paramref name="key"/> in the store and raises the alerts it claimed.</summary>
    private async ValueTask SettleInStoreAsync(DifyBudgetKey key, long delta, DifyBudgetThreshold[] alertAt, CancellationToken cancellationToken) =>
        RaiseAlerts(await _enforcer.Store.SettleAsync(key, delta, alertAt, cancellationToken).ConfigureAwait(false), ResetsAt);

    private void RaiseAlerts(DifyBudgetSettleResult result, DateTimeOffset resetsAt)
    {
        foreach (double fraction in result.Claimed)
        {
            Alert(fraction, result.Spent, resetsAt);
        }
    }

    /// <summary>Refuses the request; <paramref name="spent"/> is <see langword="null"/> when the store was not asked (the
    /// request alone can cost more than the limit).</summary>
    private void Refuse(long amount, long? spent)
    {
        _call.BudgetOutcome = DifyBudgetEnforcer.BudgetExceeded;
        string max = (amount > _limit ? "more than the limit" : "at most " + (amount / Nano).ToString(CultureInfo.InvariantCulture) + " USD");
        Log.BudgetExceeded(_settings.Logger, _call.AppId, max, LimitUsd, spent is long known ? (known / Nano).ToString(CultureInfo.InvariantCulture) + " USD" : "not asked", ResetsAt);
        throw new DifyBudgetExceededException(_call.AppId, LimitUsd, ResetsAt,
            $"The budget of app '{_call.AppId}' ({LimitUsd.ToString(CultureInfo.InvariantCulture)} USD per {Period.ToString().ToLowerInvariant()}) has no room for this request " +
            (spent is long used
                ? $"(at most {(amount / Nano).ToString(CultureInfo.InvariantCulture)} USD; {(used / Nano).ToString(CultureInfo.InvariantCulture)} USD spent or reserved); "
                : "(it alone can cost more than the limit); ") +
            $"it resets at {ResetsAt.ToString("O", CultureInfo.InvariantCulture)}. Nothing was sent.");
    }

    private void Alert(double threshold, long spent, DateTimeOffset resetsAt)
    {
        decimal spentUsd = spent / Nano;
        _enforcer.Meters.Alerts.Add(1, new KeyValuePair<string, object?>("threshold", threshold));
        Log.BudgetAlert(_settings.Logger, _call.AppId, spentUsd, threshold, LimitUsd, resetsAt);
        try
        {
            _budgets.OnAlert?.Invoke(new DifyBudgetAlert(_call.AppId, threshold, spentUsd, LimitUsd, resetsAt));
        }
        catch (Exception ex)
        {
            Log.BudgetAlertCallbackFailed(_settings.Logger, ex);
        }
    }
}
