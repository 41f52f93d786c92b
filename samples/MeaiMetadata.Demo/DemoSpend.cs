using MeaiMetadata.SpendTool;

namespace MeaiMetadata.Demo;

/// <summary>The spend of one app, two ways.</summary>
/// <param name="App">The app id, or <see cref="DemoRunner.NoSession"/> (the report's completions without an app id).</param>
/// <param name="MeterAll">From <c>dify.app.cost</c>: every request of the app (both APIs, stored or not).</param>
/// <param name="MeterStoredChat">From <c>dify.app.cost</c>: only its requests the endpoint stored (Chat Completions, store=true).</param>
/// <param name="ReportRequests">Stored completions the report listed for the app; <see langword="null"/> when no report was read.</param>
/// <param name="Report">From the report over the stored completions; <see langword="null"/> when no report was read.</param>
public sealed record DemoSpendRow(string App, decimal MeterAll, decimal MeterStoredChat, long? ReportRequests, decimal? Report)
{
    /// <summary>Gets whether the comparable figures agree (<see cref="MeterStoredChat"/> and <see cref="Report"/>, to
    /// <see cref="DemoSpend.Tolerance"/>); <see langword="null"/> when no report was read.</summary>
    public bool? Agree => Report is { } report ? Math.Abs(MeterStoredChat - report) <= DemoSpend.Tolerance : null;
}

/// <summary>Spend per app from the meter and from the Stored Completions report, side by side.</summary>
public static class DemoSpend
{
    /// <summary>The meter adds each response's exact cost as a <see langword="double"/>; the report sums in
    /// <see langword="decimal"/>. They agree when they differ by at most a billionth of a dollar.</summary>
    public const decimal Tolerance = 0.000000001m;

    /// <summary>One row per app of <paramref name="apps"/>, then one per app only the report has.</summary>
    /// <param name="apps">The meter's figures per app.</param>
    /// <param name="stored">The report's rows, or <see langword="null"/> when it was not read (--live).</param>
    internal static IReadOnlyList<DemoSpendRow> Compare(IReadOnlyList<DemoAppSummary> apps, IReadOnlyList<DifySpendRow>? stored)
    {
        ArgumentNullException.ThrowIfNull(apps);
        var rows = new List<DemoSpendRow>();
        foreach (DemoAppSummary app in apps)
        {
            DifySpendRow[] listed = stored is null ? [] : [.. stored.Where(r => (r.AppId ?? DemoRunner.NoSession) == app.App)];
            rows.Add(new DemoSpendRow(app.App, (decimal)app.Cost, (decimal)app.StoredChatCost,
                stored is null ? null : listed.Sum(r => r.Requests), stored is null ? null : listed.Sum(r => r.Cost ?? 0m)));
        }

        foreach (IGrouping<string, DifySpendRow> only in (stored ?? []).GroupBy(r => r.AppId ?? DemoRunner.NoSession).Where(g => apps.All(a => a.App != g.Key)))
        {
            rows.Add(new DemoSpendRow(only.Key, 0m, 0m, only.Sum(r => r.Requests), only.Sum(r => r.Cost ?? 0m)));
        }

        return rows;
    }
}
