namespace MeaiMetadata;

/// <summary>What a budget keeps on a call's decision while the call runs.</summary>
public sealed partial class DifyRequestDecision
{
    /// <summary>Gets or sets the output tokens a budget reserved for this call: raw options asking for more are capped to it.</summary>
    internal int? BudgetMaxOutputTokens
    {
        get => RarePart?.BudgetMaxOutputTokens;
        set => Rarely().BudgetMaxOutputTokens = value;
    }

    /// <summary>Gets or sets the outcome of a call its budget refused (nothing was sent), or <see langword="null"/>.</summary>
    internal string? BudgetOutcome
    {
        get => RarePart?.BudgetOutcome;
        set => Rarely().BudgetOutcome = value;
    }

    /// <summary>Returns the output a budgeted call's raw options may ask for: no more than the budget reserved.</summary>
    internal int? CapOutput(int? requested) =>
        BudgetMaxOutputTokens is int cap && (requested is null || requested > cap) ? cap : requested;

    /// <summary>Keeps what the caller's factory returned when a budget measured it: the next request built sends it, so the
    /// request sends what was reserved for.</summary>
    internal void KeepMeasured(object? raw) => Rarely().Measured = raw;

    /// <summary>Notes that a layer inside this call kept the budget of one of its requests on <paramref name="key"/> of
    /// <paramref name="store"/>: the call's own reservation of that key is then released.</summary>
    internal void KeptInside(object store, string key) => Rarely().Inside = Tuple.Create(store, key);

    internal bool IsKeptInside(object store, string key) => RarePart?.Inside is { } inside && ReferenceEquals(inside.Item1, store) && inside.Item2 == key;

    private object? TakeMeasured() => RarePart is { } rare ? Interlocked.Exchange(ref rare.Measured, null) : null;

    /// <summary>Returns the rare part, made on first use (a budget sets it while the call runs).</summary>
    private Rare Rarely()
    {
        object context = Volatile.Read(ref _context);
        if (context is DifyMetadataSettings settings)
        {
            var rare = new Rare(settings);
            context = Interlocked.CompareExchange(ref _context, rare, settings) is Rare raced ? raced : rare;
        }

        return (Rare)context;
    }

    private sealed partial class Rare
    {
        public object? Measured;

        public Tuple<object, string>? Inside { get; set; }

        public int? BudgetMaxOutputTokens { get; set; }

        public string? BudgetOutcome { get; set; }
    }
}
