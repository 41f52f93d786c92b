using MeaiMetadata.TwoServices;

namespace MeaiMetadata.IntegrationTests.TwoServices;

/// <summary>The sample's program, run in-process the way <c>dotnet run --project samples/MeaiMetadata.TwoServices</c> runs
/// it. Alone (serial): its services' OpenTelemetry listens process-wide.</summary>
[Collection(SerialTests.Name)]
public sealed class TwoServicesProgramTests
{
    private static async Task<(int Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = await TwoServicesProgram.RunAsync(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>The request table's rows: lines that start with a request number, cut at two or more spaces.</summary>
    private static string[][] RowsOf(string output) =>
        [.. output.Split('\n').Where(l => l.Length > 0 && char.IsDigit(l[0])).Select(l => System.Text.RegularExpressions.Regex.Split(l.TrimEnd(), " {2,}"))];

    [Fact]
    public async Task NoArguments_EachRequestAsItShouldBe_PerAppCountExitsZero()
    {
        (int exit, string output, string error) = await RunAsync();

        Assert.Equal(0, exit);
        Assert.Equal("", error);
        // Cells: #, caller, sends, HTTP, dify_app_id at OpenAI, as it should.
        string[][] rows = RowsOf(output);
        Assert.Equal(TwoServicesProgram.Scenario.Count, rows.Length);
        Assert.All(rows, r => Assert.Equal(6, r.Length));
        Assert.All(rows, r => Assert.Equal("yes", r[5]));
        Assert.Equal(["support-bot", "X-Api-Key", "200", "support-bot"], rows[0][1..5]);
        Assert.Equal(["sales-assistant", "X-Api-Key, baggage: dify.app_id=victim", "200", "sales-assistant"], rows[3][1..5]);
        Assert.Equal(["billing", "200", "billing"], [rows[4][1], rows[4][3], rows[4][4]]);
        Assert.Equal(["(no API key)", "baggage: dify.app_id=victim", "401", "(no request)"], rows[5][1..5]);
        Assert.Equal(["(wrong API key)", "401", "(no request)"], [rows[6][1], rows[6][3], rows[6][4]]);
        Assert.Equal(["internal job, backend directly", "200", "(untagged)"], [rows[7][1], rows[7][3], rows[7][4]]);
        Assert.DoesNotContain(rows, r => r[4] == TwoServicesProgram.Victim);

        Assert.Contains("Per app, as OpenAI received them (dify_app_id): support-bot=1, sales-assistant=2, billing=2, victim=0, (untagged)=1", output, StringComparison.Ordinal);
        Assert.Contains("dify.metadata.requests (outcome, app): attached billing=2, attached sales-assistant=2, attached support-bot=1, no_session=1", output, StringComparison.Ordinal);
        Assert.Contains("Traces: 5 of the 5 answered edge requests are one connected trace each", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rounds_SendsTheScenarioThatManyTimes()
    {
        (int exit, string output, _) = await RunAsync("--rounds", "3");

        Assert.Equal(0, exit);
        Assert.Equal(3 * TwoServicesProgram.Scenario.Count, RowsOf(output).Length);
        Assert.Contains("support-bot=3, sales-assistant=6, billing=6, victim=0, (untagged)=3", output, StringComparison.Ordinal);
        Assert.Contains("Traces: 15 of the 15 answered edge requests", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task Help_PrintsUsage_ExitsZero(string flag)
    {
        (int exit, string output, string error) = await RunAsync(flag);

        Assert.Equal(0, exit);
        Assert.Equal("", error);
        Assert.Contains("Usage: dotnet run --project samples/MeaiMetadata.TwoServices", output, StringComparison.Ordinal);
        Assert.Contains("--rounds", output, StringComparison.Ordinal);
        Assert.DoesNotContain("as it should", output, StringComparison.Ordinal); // nothing was run
    }

    [Theory]
    [InlineData("'--bogus'", "--bogus")]
    [InlineData("--rounds needs", "--rounds")]
    [InlineData("not '0'", "--rounds", "0")]
    [InlineData("not '101'", "--rounds", "101")]
    [InlineData("not 'x'", "--rounds", "x")]
    [InlineData("not '-1'", "--rounds", "-1")]
    [InlineData("'extra'", "--rounds", "2", "extra")]
    [InlineData("given twice", "--rounds", "2", "--rounds", "3")]
    public async Task BadArguments_OneLineNamingTheProblem_ExitTwo(string named, params string[] args)
    {
        (int exit, string output, string error) = await RunAsync(args);

        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.StartsWith("error: ", error, StringComparison.Ordinal);
        Assert.Contains(named, error, StringComparison.Ordinal);
        Assert.Single(error.TrimEnd().Split('\n'));
    }
}
