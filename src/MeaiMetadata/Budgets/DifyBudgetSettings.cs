using System.Collections.Frozen;
using System.Globalization;

namespace MeaiMetadata.Budgets;

/// <summary>A validated, immutable snapshot of <see cref="DifyBudgetOptions"/>; <see langword="null"/> in the layer's
/// settings when no budget is configured.</summary>
internal sealed class DifyBudgetSettings
{
    /// <summary>The highest limit accepted: its nano-dollars stay exact in a Lua number (2^53).</summary>
    internal const decimal MaxLimitUsd = 1_000_000m;

    private const string Key = "DifyMetadata:Budgets";

    private readonly DifyBudget? _default;
    private readonly FrozenDictionary<string, DifyBudget> _apps;

    private DifyBudgetSettings(DifyBudgetOptions options)
    {
        _default = options.Default?.Clone();
        // Keyed as the decision carries an app id: as OpenAI receives it (lone surrogates replaced, cut to 512 characters).
        _apps = options.Apps.ToFrozenDictionary(a => Tagging.WireMetadata.Normalize(a.Key, Tagging.WireMetadata.MaxValueLength), a => a.Value.Clone(), StringComparer.Ordinal);
        DefaultMaxOutputTokens = options.DefaultMaxOutputTokens;
        OnStoreFailure = options.OnStoreFailure;
        AlertAt = [.. options.AlertAt.Distinct().Order()];
        OnAlert = options.OnAlert;
        CountTokens = options.CountTokens;
    }

    public int DefaultMaxOutputTokens { get; }

    public DifyBudgetStoreFailure OnStoreFailure { get; }

    public double[] AlertAt { get; }

    public Action<DifyBudgetAlert>? OnAlert { get; }

    public Func<string, string, int?>? CountTokens { get; }

    /// <summary>Returns the snapshot of <paramref name="options"/>, or <see langword="null"/> when they hold no budget.</summary>
    public static DifyBudgetSettings? Create(DifyBudgetOptions? options) => options is { Any: true } ? new(options) : null;

    /// <summary>Returns the budget of <paramref name="appId"/> (its own, else the default), or <see langword="null"/>.</summary>
    public DifyBudget? For(string appId) => _apps.TryGetValue(appId, out DifyBudget? own) ? own : _default;

    /// <summary>Returns why <paramref name="options"/> cannot work, naming the configuration key, or <see langword="null"/>.</summary>
    public static string? Validate(DifyBudgetOptions? options)
    {
        if (options is null)
        {
            return $"{Key} must not be null.";
        }

        if (options.Default is { } budget && Check(budget, $"{Key}:Default", "every app without a budget of its own") is { } error)
        {
            return error;
        }

        var sent = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string app, DifyBudget? own) in options.Apps)
        {
            if (string.IsNullOrWhiteSpace(app))
            {
                return $"{Key}:Apps has a budget without an app id.";
            }

            if (!sent.Add(Tagging.WireMetadata.Normalize(app, Tagging.WireMetadata.MaxValueLength)))
            {
                return $"{Key}:Apps has two budgets for one app: '{app}' is the same app id as another once cut to 512 characters (as OpenAI receives it).";
            }

            string? appError = own is null ? $"{Key}:Apps:{app} is empty (app '{app}'); set LimitUsd." : Check(own, $"{Key}:Apps:{app}", $"app '{app}'");
            if (appError is not null)
            {
                return appError;
            }
        }

        if (options.DefaultMaxOutputTokens < 1)
        {
            return $"{Key}:DefaultMaxOutputTokens must be 1 or more; it is {options.DefaultMaxOutputTokens}.";
        }

        if (!Enum.IsDefined(options.OnStoreFailure))
        {
            return $"{Key}:OnStoreFailure has the undefined value {(int)options.OnStoreFailure}; use Allow or Refuse.";
        }

        foreach (double fraction in options.AlertAt)
        {
            if (!(fraction > 0 && fraction <= 1))
            {
                return $"{Key}:AlertAt holds {fraction.ToString(CultureInfo.InvariantCulture)}; each value must be a fraction of the limit above 0 and at most 1 (e.g. 0.8).";
            }
        }

        return null;

        static string? Check(DifyBudget budget, string key, string whose) =>
            budget.LimitUsd is not decimal limit ? $"{key}:LimitUsd is missing ({whose}): the limit in US dollars per period."
            : limit < 0 ? $"{key}:LimitUsd must be 0 or more ({whose}); it is {limit.ToString(CultureInfo.InvariantCulture)}."
            : limit > MaxLimitUsd ? $"{key}:LimitUsd must be at most {MaxLimitUsd.ToString(CultureInfo.InvariantCulture)} ({whose}); it is {limit.ToString(CultureInfo.InvariantCulture)}."
            : !Enum.IsDefined(budget.Period) ? $"{key}:Period has the undefined value {(int)budget.Period} ({whose}); use Day or Month."
            : null;
    }
}
