namespace MeaiMetadata.Budgets;

/// <summary>Spend limits per app in US dollars per UTC calendar period, bound from <c>DifyMetadata:Budgets</c>.</summary>
/// <remarks>A budget applies to a request of an app the layer decided (the same app it tags): the app's own entry in
/// <see cref="Apps"/>, else <see cref="Default"/> (a budget of its own for each app, not one pool shared by all apps), else
/// none. Before a request is sent its maximum cost is reserved; a request that does not fit is refused with a
/// <see cref="DifyBudgetExceededException"/> and sends nothing; after the call the reservation is settled to the cost of
/// its usage.</remarks>
public sealed class DifyBudgetOptions
{
    /// <summary>The output bound applied when a request sets no <c>MaxOutputTokens</c>.</summary>
    internal const int DefaultOutputBound = 16_384;

    /// <summary>Gets or sets the budget of each app that has no entry in <see cref="Apps"/>.</summary>
    /// <value>The default value is <see langword="null"/>: apps without an entry have no budget.</value>
    public DifyBudget? Default { get; set; }

    /// <summary>Gets the budgets per app id (compared as the app id is sent, case-sensitively).</summary>
    /// <value>The default value is empty.</value>
    public IDictionary<string, DifyBudget> Apps { get; private set; } = new Dictionary<string, DifyBudget>(StringComparer.Ordinal);

    /// <summary>Gets or sets the output tokens reserved, and set as the request's <c>MaxOutputTokens</c>, when a budgeted
    /// request sets none, so that the reservation bounds what the request can cost.</summary>
    /// <value>The default value is 16,384.</value>
    public int DefaultMaxOutputTokens { get; set; } = DefaultOutputBound;

    /// <summary>Gets or sets what a budgeted request does when the budget store cannot be reached.</summary>
    /// <value>The default value is <see cref="DifyBudgetStoreFailure.Allow"/> (with an Error in the log and a count on the meter).</value>
    public DifyBudgetStoreFailure OnStoreFailure { get; set; } = DifyBudgetStoreFailure.Allow;

    /// <summary>Gets the fractions of a limit (above 0, at most 1, e.g. 0.8) whose crossing logs one Warning per app, period
    /// and fraction across all instances sharing the store, counts on the meter and calls <see cref="OnAlert"/>.</summary>
    /// <value>The default value is empty.</value>
    public IList<double> AlertAt { get; private set; } = [];

    /// <summary>Gets or sets a callback for each alert (for those who page someone); not bound from configuration. Its
    /// exceptions are logged and never reach the request.</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public Action<DifyBudgetAlert>? OnAlert { get; set; }

    /// <summary>Gets or sets a function that counts the tokens of a text for a model (for example with
    /// Microsoft.ML.Tokenizers' <c>TiktokenTokenizer.CreateForModel(model).CountTokens(text)</c>), or returns
    /// <see langword="null"/> when it cannot; not bound from configuration. Without it the input is bounded by its UTF-8
    /// byte count (every OpenAI token covers at least one byte).</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public Func<string, string, int?>? CountTokens { get; set; }

    /// <summary>Gets a value indicating whether any budget is configured.</summary>
    internal bool Any => Default is not null || Apps.Count > 0;

    /// <summary>Returns a copy whose changes do not reach this instance.</summary>
    internal DifyBudgetOptions Clone()
    {
        var clone = (DifyBudgetOptions)MemberwiseClone();
        clone.Default = Default?.Clone();
        clone.Apps = Apps.ToDictionary(a => a.Key, a => a.Value?.Clone()!, StringComparer.Ordinal);
        clone.AlertAt = [.. AlertAt];
        return clone;
    }
}

/// <summary>One budget: a limit in US dollars per UTC calendar period.</summary>
public sealed class DifyBudget
{
    /// <summary>Gets or sets the limit in US dollars per period. Required; 0 refuses every request.</summary>
    public decimal? LimitUsd { get; set; }

    /// <summary>Gets or sets the period the limit applies to; it resets at the start of the next one (UTC).</summary>
    /// <value>The default value is <see cref="DifyBudgetPeriod.Month"/>.</value>
    public DifyBudgetPeriod Period { get; set; } = DifyBudgetPeriod.Month;

    internal DifyBudget Clone() => (DifyBudget)MemberwiseClone();
}

/// <summary>The period of a budget, a UTC calendar day or month.</summary>
public enum DifyBudgetPeriod
{
    /// <summary>A UTC calendar month: the budget resets at 00:00 UTC on the first day of the next month.</summary>
    Month,

    /// <summary>A UTC calendar day: the budget resets at 00:00 UTC.</summary>
    Day,
}

/// <summary>What a budgeted request does when the budget store cannot be reached.</summary>
public enum DifyBudgetStoreFailure
{
    /// <summary>The request is sent unchecked, with an Error in the log and a count on the meter.</summary>
    Allow,

    /// <summary>The request is refused with a <see cref="DifyBudgetExceededException"/> naming the cause; nothing is sent.</summary>
    Refuse,
}

/// <summary>A budget alert: an app's spend in a period crossed a fraction of its limit.</summary>
/// <param name="AppId">The app id.</param>
/// <param name="Threshold">The fraction of the limit crossed (one of <see cref="DifyBudgetOptions.AlertAt"/>).</param>
/// <param name="SpentUsd">The app's spend in the period when it was crossed, reservations in flight included.</param>
/// <param name="LimitUsd">The limit.</param>
/// <param name="ResetsAt">When the period ends and the budget resets.</param>
public sealed record DifyBudgetAlert(string AppId, double Threshold, decimal SpentUsd, decimal LimitUsd, DateTimeOffset ResetsAt);
