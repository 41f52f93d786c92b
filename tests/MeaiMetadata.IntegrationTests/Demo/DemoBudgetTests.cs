using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using MeaiMetadata.Demo;

namespace MeaiMetadata.IntegrationTests.Demo;

/// <summary>The demo's budget section (issue 21 item 7): two instances sharing one budget per app on an embedded Garnet
/// server, run the way CI runs the demo (no arguments).</summary>
public sealed partial class DemoBudgetTests
{
    public const string Heading = "Budgets shared by two instances";

    [Fact]
    public async Task NoArguments_BudgetSection_SpendClimbsToTheLimit_ThenRefusedAnd429_NeverMoreSentThanTheBudgetsWorth()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = await DemoProgram.RunAsync([], output, error);
        string all = output.ToString();

        Assert.Equal(0, exit);
        Assert.Equal("", error.ToString());
        int start = all.IndexOf(Heading, StringComparison.Ordinal);
        Assert.True(start > 0, "no budget section in the output");
        string section = all[start..];
        Assert.Contains("on embedded Garnet at 127.0.0.1:", section, StringComparison.Ordinal);
        Assert.DoesNotContain("Garnet 2.", all, StringComparison.Ordinal); // no server banner in the output

        // Rows: #, instance, app, outcome, app's spend, limit.
        string[][] rows = [.. section.Split('\n').Select(l => l.TrimEnd())
            .Where(l => l.StartsWith('│')).Select(l => l.Split('│')[1..^1].Select(c => c.Trim()).ToArray())
            .Where(r => r[0].Length > 0 && char.IsDigit(r[0][0]))];
        Assert.Equal(6, rows.Length);
        Assert.Equal(["A", "B", "A", "B", "A", "B"], rows.Select(r => r[1])); // two instances, alternating
        decimal limit = decimal.Parse(rows[0][5], CultureInfo.InvariantCulture);
        string[][] supportBot = [.. rows.Where(r => r[2] == "support-bot")];
        string[][] sent = [.. supportBot.Where(r => r[3] == "sent, HTTP 200")];
        Assert.Equal(DemoBudget.Worth, sent.Length);
        decimal[] spend = [.. sent.Select(r => decimal.Parse(r[4], CultureInfo.InvariantCulture))];
        Assert.Equal(spend.Order(), spend);                 // climbing
        Assert.Equal(limit, spend[^1]);                      // to the limit, never past it
        string[] refused = Assert.Single(supportBot, r => r[3].StartsWith("refused", StringComparison.Ordinal));
        Assert.Equal("refused: DifyBudgetExceededException, nothing sent", refused[3]);
        Assert.Equal("sent, HTTP 200", Assert.Single(rows, r => r[2] == "sales-assistant")[3]); // a budget per app

        // The refusal names the app, the limit and the reset time (next 00:00 UTC).
        string reset = DateTimeOffset.UtcNow.UtcDateTime.Date.AddDays(1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        Assert.Contains($"DifyBudgetExceededException AppId=support-bot, LimitUsd={rows[0][5]}, ResetsAt=", section, StringComparison.Ordinal);
        Assert.Contains($"ResetsAt={reset} 00:00:00 UTC", section, StringComparison.Ordinal);

        // The 429 an HTTP caller sees: Retry-After in seconds up to a day, and the ProblemDetails body.
        Assert.Contains("  HTTP 429 Too Many Requests", section, StringComparison.Ordinal);
        Assert.Contains("  Content-Type: application/problem+json", section, StringComparison.Ordinal);
        int retryAfter = int.Parse(RetryAfter().Match(section).Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 1, 86_400);
        string bodyLine = section.Split('\n').Single(l => l.StartsWith("  {", StringComparison.Ordinal));
        using JsonDocument body = JsonDocument.Parse(bodyLine.Trim());
        Assert.Equal(429, body.RootElement.GetProperty("status").GetInt32());
        Assert.Equal("support-bot", body.RootElement.GetProperty("appId").GetString());
        Assert.Equal(decimal.Parse(rows[0][5], CultureInfo.InvariantCulture), body.RootElement.GetProperty("limitUsd").GetDecimal());
        Assert.StartsWith(reset + "T00:00:00", body.RootElement.GetProperty("resetsAt").GetString(), StringComparison.Ordinal);

        // What reached the endpoint: never more than the budget's worth.
        Assert.Contains($"The endpoint received {DemoBudget.Worth} requests of support-bot (the budget's worth: {DemoBudget.Worth}); 2 refused requests sent nothing.",
            section, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"Retry-After: (\d+)")]
    private static partial Regex RetryAfter();
}
