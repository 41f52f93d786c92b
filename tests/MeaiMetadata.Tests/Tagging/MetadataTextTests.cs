using MeaiMetadata.Tagging;

namespace MeaiMetadata.Tests.Tagging;

public class MetadataTextTests
{
    [Theory]
    [InlineData("")]
    [InlineData("plain")]
    [InlineData("日本語 😀 with pairs")]
    public void Normalize_ValidShortText_ReturnsSameInstance(string value)
    {
        Assert.Same(value, MetadataText.Normalize(value, 512));
    }

    [Fact]
    public void Normalize_LongAscii_CutsToLimit()
    {
        string value = new('a', 513);

        Assert.Equal(new string('a', 512), MetadataText.Normalize(value, 512));
    }

    [Fact]
    public void Normalize_PairAcrossLimit_IsDroppedWhole()
    {
        string value = new string('a', 511) + "😀";

        Assert.Equal(new string('a', 511), MetadataText.Normalize(value, 512));
    }

    [Fact]
    public void Normalize_PairEndingAtLimit_IsKept()
    {
        string value = new string('a', 510) + "😀" + "b";

        Assert.Equal(new string('a', 510) + "😀", MetadataText.Normalize(value, 512));
    }

    // Lone surrogates cannot live in attribute arguments (they are stored as UTF-8), hence MemberData; and xunit names a
    // case by its arguments written as UTF-8, where every lone surrogate reads the same, hence the case name first.
    public static TheoryData<string, string, string> LoneSurrogateCases => new()
    {
        { "lone high", "a\uD800b", "a\uFFFDb" },
        { "lone low", "a\uDC00b", "a\uFFFDb" },
        { "reversed pair", "\uDC00\uD800", "\uFFFD\uFFFD" },
        { "high at the end", "end\uD83D", "end\uFFFD" },
    };

    [Theory]
    [MemberData(nameof(LoneSurrogateCases))]
    public void Normalize_LoneSurrogates_BecomeReplacementChar(string name, string value, string expected)
    {
        _ = name; // names the case only
        Assert.Equal(expected, MetadataText.Normalize(value, 512));
    }

    [Fact]
    public void Normalize_LoneSurrogateAndLongText_ResultIsPrefixOfReplacedInput()
    {
        string value = "\uD800" + new string('x', 600);

        string normalized = MetadataText.Normalize(value, 512);

        Assert.Equal(512, normalized.Length);
        Assert.StartsWith(normalized, value.Replace('\uD800', '\uFFFD'), StringComparison.Ordinal);
    }

    [Fact]
    public void NeedsNormalizing_TellsWhetherTextChanges()
    {
        Assert.False(MetadataText.NeedsNormalizing("ok", 64));
        Assert.True(MetadataText.NeedsNormalizing(new string('k', 65), 64));
        Assert.True(MetadataText.NeedsNormalizing("\uD800", 64));
    }
}
