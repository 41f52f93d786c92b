using MeaiMetadata.Demo;
using MeaiMetadata.SpendTool;

namespace MeaiMetadata.IntegrationTests.Demo;

/// <summary>The demo's side-by-side comparison of the meter's and the report's spend.</summary>
public sealed class DemoSpendTests
{
    private static DemoAppSummary App(string app, double cost, double storedChatCost) => new(app, 1, 1, 0, 0, cost, storedChatCost);

    private static DifySpendRow Stored(string? app, long requests, decimal? cost) => new(app, "gpt-4o-mini", requests, 0, 0, 0, cost);

    [Fact]
    public void ComparesTheStoredPartOfTheMeter_WithTheReport_AcrossModels()
    {
        IReadOnlyList<DemoSpendRow> rows = DemoSpend.Compare(
            [App("a", 0.0009, 0.0003), App("b", 0.0005, 0)],
            [Stored("a", 2, 0.0001m), Stored("a", 1, 0.0002m)]); // two models of one app: summed

        Assert.Equal(new DemoSpendRow("a", 0.0009m, 0.0003m, 3, 0.0003m), rows[0]);
        Assert.True(rows[0].Agree);
        Assert.Equal(new DemoSpendRow("b", 0.0005m, 0m, 0, 0m), rows[1]); // all of b's spend is out of the report's sight
        Assert.True(rows[1].Agree);
    }

    [Fact]
    public void ADifferenceAboveTheTolerance_Disagrees_BelowItAgrees()
    {
        IReadOnlyList<DemoSpendRow> rows = DemoSpend.Compare(
            [App("off", 0.001, 0.001), App("rounding", 0.001, 0.001 + 1e-12)],
            [Stored("off", 1, 0.00099m), Stored("rounding", 1, 0.001m)]);

        Assert.False(rows[0].Agree);
        Assert.True(rows[1].Agree);
    }

    [Fact]
    public void AppsOnlyInTheReport_GetARow_AndUntaggedCompletionsGoToNoSession()
    {
        IReadOnlyList<DemoSpendRow> rows = DemoSpend.Compare([App("a", 0, 0)], [Stored("elsewhere", 4, 0.002m), Stored(null, 1, 0.0001m)]);

        Assert.Equal(["a", "elsewhere", DemoRunner.NoSession], rows.Select(r => r.App));
        Assert.False(rows[1].Agree); // the meter did not see it
        Assert.False(rows[2].Agree);
    }

    [Fact]
    public void NoReport_NothingCompared()
    {
        DemoSpendRow row = Assert.Single(DemoSpend.Compare([App("a", 0.001, 0.001)], null));

        Assert.Null(row.Report);
        Assert.Null(row.ReportRequests);
        Assert.Null(row.Agree);
    }
}
