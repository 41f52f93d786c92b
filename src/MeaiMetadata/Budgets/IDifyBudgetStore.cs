namespace MeaiMetadata.Budgets;

/// <summary>Where the spend of each app and period is kept, in nano-dollars (10^-9 US dollars, rounded up). Every
/// operation is atomic; an implementation is one round trip per operation.</summary>
internal interface IDifyBudgetStore
{
    /// <summary>Adds <paramref name="amount"/> to the spend under <paramref name="key"/> (and its twin) if the sum stays within
    /// <paramref name="limit"/>.</summary>
    ValueTask<DifyBudgetReserveResult> ReserveAsync(DifyBudgetKey key, long amount, long limit, CancellationToken cancellationToken);

    /// <summary>Adds <paramref name="delta"/> (the actual cost less the reservation, negative returns what was not spent; or
    /// what a settlement that failed kept pending in process) to the spend under <paramref name="key"/>, then claims each alert
    /// whose spend is reached and whose fraction no instance claimed before in this period; returns the spend and the
    /// fractions this call claimed.</summary>
    ValueTask<DifyBudgetSettleResult> SettleAsync(DifyBudgetKey key, long delta, DifyBudgetThreshold[] alertAt, CancellationToken cancellationToken);
}

/// <summary>The store key of an app's period and when it expires, with its twin: the same app's spend in the other kind of
/// period (its month for a day, its day for a month), kept by the same operations, so that a budget whose <c>Period</c>
/// changes finds the spend already made.</summary>
internal readonly record struct DifyBudgetKey(string Name, DateTimeOffset ExpiresAt, string? Twin = null, DateTimeOffset TwinExpiresAt = default);

/// <summary>What a reservation found: whether it fitted, and the spend after it (or as it was when it did not fit).</summary>
internal readonly record struct DifyBudgetReserveResult(bool Reserved, long Spent);

/// <summary>An alert of a budget: its fraction of the limit (claimed once per app, period and fraction, whatever the limit of
/// the instance that reaches it) and the spend that reaches it, in nano-dollars.</summary>
internal readonly record struct DifyBudgetThreshold(double Fraction, long Spend)
{
    /// <summary>Gets the name of the marker that claims this alert in the period of <paramref name="key"/>: the fraction to 15
    /// significant digits, so that the same fraction computed two ways (0.3, 0.1 + 0.2) is one alert.</summary>
    public string MarkerOf(string key) => key + ":alert:" + Fraction.ToString("G15", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>The spend after a settlement, and the alert fractions it claimed.</summary>
internal readonly record struct DifyBudgetSettleResult(long Spent, double[] Claimed);

/// <summary>The in-process store: one per service provider (<c>AddDifyMetadata</c>), or one per process without one.</summary>
internal sealed class InMemoryDifyBudgetStore(TimeProvider? timeProvider = null) : IDifyBudgetStore
{
    private readonly Dictionary<string, (long Spent, DateTimeOffset ExpiresAt)> _spend = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _alerts = new(StringComparer.Ordinal);
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    public static InMemoryDifyBudgetStore Shared { get; } = new();

    public ValueTask<DifyBudgetReserveResult> ReserveAsync(DifyBudgetKey key, long amount, long limit, CancellationToken cancellationToken)
    {
        lock (_spend)
        {
            long spent = Current(key.Name);
            if (spent + amount > limit)
            {
                return new(new DifyBudgetReserveResult(false, spent));
            }

            Add(key, amount);
            return new(new DifyBudgetReserveResult(true, spent + amount));
        }
    }

    public ValueTask<DifyBudgetSettleResult> SettleAsync(DifyBudgetKey key, long delta, DifyBudgetThreshold[] alertAt, CancellationToken cancellationToken)
    {
        lock (_spend)
        {
            long spent = Add(key, delta);
            List<double>? claimed = null;
            foreach (DifyBudgetThreshold threshold in alertAt)
            {
                if (spent >= threshold.Spend && _alerts.TryAdd(threshold.MarkerOf(key.Name), key.ExpiresAt))
                {
                    (claimed ??= []).Add(threshold.Fraction);
                }
            }

            if (_spend.Count > 10_000)
            {
                Sweep();
            }

            return new(new DifyBudgetSettleResult(spent, claimed?.ToArray() ?? []));
        }
    }

    /// <summary>Returns the spend under <paramref name="key"/> (tests, the demo).</summary>
    internal long SpentOf(string key)
    {
        lock (_spend)
        {
            return Current(key);
        }
    }

    private long Add(DifyBudgetKey key, long amount)
    {
        if (key.Twin is { } twin)
        {
            _spend[twin] = (Current(twin) + amount, key.TwinExpiresAt);
        }

        long spent = Current(key.Name) + amount;
        _spend[key.Name] = (spent, key.ExpiresAt);
        return spent;
    }

    private long Current(string key) => _spend.TryGetValue(key, out var entry) && entry.ExpiresAt > _time.GetUtcNow() ? entry.Spent : 0;

    private void Sweep()
    {
        DateTimeOffset now = _time.GetUtcNow();
        foreach (string key in _spend.Where(e => e.Value.ExpiresAt <= now).Select(e => e.Key).ToList())
        {
            _ = _spend.Remove(key);
        }

        foreach (string key in _alerts.Where(e => e.Value <= now).Select(e => e.Key).ToList())
        {
            _ = _alerts.Remove(key);
        }
    }
}
