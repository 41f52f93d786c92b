using MeaiMetadata.Spend;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Tests.Spend;

/// <summary>The cost arithmetic against figures computed by hand from the built-in prices (US dollars per million tokens).</summary>
public sealed class DifyPriceTableTests
{
    [Fact]
    public void CachedInput_AtTheCachedPrice_TheRestAtTheInputPrice()
    {
        // gpt-4o-mini: 0.15 input, 0.075 cached, 0.60 output.
        // 600,000 x 0.15 / 1e6 = 0.09; 400,000 x 0.075 / 1e6 = 0.03; 200,000 x 0.60 / 1e6 = 0.12; total 0.24.
        var usage = new UsageDetails { InputTokenCount = 1_000_000, CachedInputTokenCount = 400_000, OutputTokenCount = 200_000 };

        Assert.Equal(0.24m, DifyPriceTable.BuiltIn.GetCost("gpt-4o-mini", usage));
    }

    [Fact]
    public void Reasoning_IsPartOfTheOutput_PricedOnce()
    {
        // gpt-5-mini: 0.25 input, 2.00 output. 2,000 x 0.25 / 1e6 = 0.0005; 5,000 output (4,000 of them reasoning) x 2 / 1e6 = 0.01.
        var usage = new UsageDetails { InputTokenCount = 2_000, OutputTokenCount = 5_000, ReasoningTokenCount = 4_000 };

        Assert.Equal(0.0105m, DifyPriceTable.BuiltIn.GetCost("gpt-5-mini", usage));
    }

    [Fact]
    public void UnknownModel_HasNoCost()
    {
        Assert.Null(DifyPriceTable.BuiltIn.GetCost("my-finetune", 10, 0, 10));
        Assert.Null(DifyPriceTable.BuiltIn.GetCost(null, 10, 0, 10));
        Assert.False(DifyPriceTable.BuiltIn.TryGetPrice("my-finetune", out _));
    }

    [Theory]
    [InlineData("gpt-4o-mini-2024-07-18", 0.00075)] // the family's price: 1,000 x 0.15 / 1e6 + 1,000 x 0.60 / 1e6
    [InlineData("GPT-4o-mini", 0.00075)]            // ids compare case-insensitively
    [InlineData("gpt-4o-2024-05-13", 0.02)]         // priced itself: 1,000 x 5 / 1e6 + 1,000 x 15 / 1e6 (gpt-4o is 2.5 / 10)
    [InlineData("gpt-4-0613", 0.09)]                // -MMDD snapshot of gpt-4: 1,000 x 30 / 1e6 + 1,000 x 60 / 1e6
    public void DatedSnapshot_TakesItsFamilysPrice_UnlessPricedItself(string model, double expected)
    {
        Assert.Equal((decimal)expected, DifyPriceTable.BuiltIn.GetCost(model, 1_000, 0, 1_000));
    }

    [Theory]
    [InlineData("o1", 0.07125)]                 // 15 input, 7.5 cached, 60 output: 500 x 15 + 500 x 7.5 + 1,000 x 60, / 1e6
    [InlineData("o1-2024-12-17", 0.07125)]      // the snapshot takes its family's price
    [InlineData("o3", 0.00925)]                 // 2 / 0.5 / 8: 500 x 2 + 500 x 0.5 + 1,000 x 8, / 1e6
    [InlineData("o3-mini", 0.005225)]           // 1.1 / 0.55 / 4.4: 500 x 1.1 + 500 x 0.55 + 1,000 x 4.4, / 1e6
    [InlineData("o3-mini-2025-01-31", 0.005225)]
    [InlineData("o4-mini", 0.0050875)]          // 1.1 / 0.275 / 4.4: 500 x 1.1 + 500 x 0.275 + 1,000 x 4.4, / 1e6
    public void OSeries_ArePriced_ReasoningInTheOutput(string model, double expected)
    {
        var usage = new UsageDetails { InputTokenCount = 1_000, CachedInputTokenCount = 500, OutputTokenCount = 1_000, ReasoningTokenCount = 800 };

        Assert.Equal((decimal)expected, DifyPriceTable.BuiltIn.GetCost(model, usage));
    }

    [Fact]
    public void NoCachedPrice_CachedInputAtTheInputPrice()
    {
        // gpt-4: 30 input, no cached price. 1,000 input (500 cached) x 30 / 1e6 = 0.03.
        Assert.Equal(0.03m, DifyPriceTable.BuiltIn.GetCost("gpt-4", 1_000, 500, 0));
    }

    [Fact]
    public void Override_ReplacesTheBuiltInPrice_AndExtends()
    {
        DifyPriceTable table = DifyPriceTable.Create(new Dictionary<string, ModelPrice>
        {
            ["gpt-4o-mini"] = new() { InputPerMillion = 1m, CachedInputPerMillion = 0.5m, OutputPerMillion = 2m },
            ["my-finetune"] = new() { InputPerMillion = 3m, OutputPerMillion = 12m },
        });

        // 1,000 x 1 / 1e6 + 1,000 x 0.5 / 1e6 + 1,000 x 2 / 1e6 = 0.0035
        Assert.Equal(0.0035m, table.GetCost("gpt-4o-mini", 2_000, 1_000, 1_000));
        Assert.Equal(0.0035m, table.GetCost("gpt-4o-mini-2024-07-18", 2_000, 1_000, 1_000)); // the snapshot follows its family's override
        Assert.Equal(0.015m, table.GetCost("my-finetune", 1_000, 0, 1_000));
        Assert.Equal(0.0125m, table.GetCost("gpt-4o", 1_000, 0, 1_000)); // the rest stays built in
        Assert.Equal(0.00075m, DifyPriceTable.BuiltIn.GetCost("gpt-4o-mini", 1_000, 0, 1_000)); // built in unchanged
    }

    [Fact]
    public void Alias_PricesADeploymentNameAsItsModel()
    {
        DifyPriceTable table = DifyPriceTable.Create(null, new Dictionary<string, string> { ["support-prod"] = "gpt-4o-mini" });

        Assert.Equal(0.00075m, table.GetCost("support-prod", 1_000, 0, 1_000));
        Assert.Null(DifyPriceTable.BuiltIn.GetCost("support-prod", 1_000, 0, 1_000));
    }

    [Fact]
    public void CachedBeyondInput_IsCappedAtTheInput()
    {
        // 100 input, "300 cached": 100 at 0.075 / 1e6.
        Assert.Equal(0.0000075m, DifyPriceTable.BuiltIn.GetCost("gpt-4o-mini", 100, 300, 0));
    }

    [Theory]
    [InlineData(null, 1.0, "Prices[\"m\"].InputPerMillion is missing")]
    [InlineData(1.0, null, "Prices[\"m\"].OutputPerMillion is missing")]
    [InlineData(-1.0, 1.0, "Prices[\"m\"].InputPerMillion must be 0 or more; it is -1")]
    [InlineData(1.0, 2000000.0, "Prices[\"m\"].OutputPerMillion must be at most 1000000")] // beyond any model's, and no overflow
    public void Validate_NamesTheModelAndTheField(double? input, double? output, string expected)
    {
        var prices = new Dictionary<string, ModelPrice> { ["m"] = new() { InputPerMillion = (decimal?)input, OutputPerMillion = (decimal?)output } };

        Assert.Contains(expected, DifyPriceTable.Validate(prices), StringComparison.Ordinal);
        ArgumentException error = Assert.Throws<ArgumentException>(() => DifyPriceTable.Create(prices));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NegativeCachedPrice_NamesIt()
    {
        var prices = new Dictionary<string, ModelPrice> { ["m"] = new() { InputPerMillion = 1, CachedInputPerMillion = -0.5m, OutputPerMillion = 1 } };

        Assert.Contains("Prices[\"m\"].CachedInputPerMillion must be 0 or more; it is -0.5", DifyPriceTable.Validate(prices), StringComparison.Ordinal);
    }

    [Fact]
    public void BuiltIn_NamesItsSource_AndPricesTheCurrentChatModels()
    {
        Assert.Contains("BerriAI/litellm", DifyPriceTable.BuiltInSource, StringComparison.Ordinal);
        Assert.Contains("00035b69f416be24e2e323c13198d9b7d2d1bdf9", DifyPriceTable.BuiltInSource, StringComparison.Ordinal);
        Assert.Subset(new HashSet<string>(DifyPriceTable.BuiltIn.Models, StringComparer.Ordinal), new HashSet<string>(["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-5", "gpt-5-mini"], StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("gpt-4o-mini-2024-07-18", "gpt-4o-mini")]
    [InlineData("gpt-4-0613", "gpt-4")]
    [InlineData("gpt-4o-mini", null)]
    [InlineData("gpt-5.4-mini-2026-03-17", "gpt-5.4-mini")]
    [InlineData("gpt-4o", null)]
    [InlineData("gpt-4o-1234", null)]             // a deployment name ending in four digits is no snapshot (month 12, day 34)
    [InlineData("gpt-4o-2024-13-01", null)]       // no month 13
    [InlineData("gpt-3.5-turbo-0613", "gpt-3.5-turbo")]
    public void Family_OfADatedSnapshot(string model, string? family) => Assert.Equal(family, DifyPriceTable.Family(model));

    [Fact]
    public void Validate_AliasesThatDifferOnlyByCase_AreRefusedNamingThem_AsCreateWouldThrow()
    {
        KeyValuePair<string, string>[] aliases = [new("support-prod", "gpt-4o-mini"), new("Support-Prod", "gpt-4o")];

        string? error = DifyPriceTable.Validate(prices: null, aliases);

        Assert.NotNull(error);
        Assert.Contains("Support-Prod", error, StringComparison.Ordinal);
        Assert.Contains("ModelAliases", error, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => DifyPriceTable.Create(prices: null, aliases)); // the same refusal, not another exception
    }
}
