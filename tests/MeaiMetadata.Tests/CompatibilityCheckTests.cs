namespace MeaiMetadata.Tests;

public class CompatibilityCheckTests
{
    [Theory]
    [InlineData("10.11.0", "2.15.0")]
    [InlineData("10.11.1", "2.15.0")]
    [InlineData("10.11.0+8f3c2a1", "2.15.1-beta.1")]
    [InlineData("10.11.0", "2.16.0")]
    [InlineData("10.11.0", "3.0.0")]
    [InlineData("10.11.0.0", "2.15.0.0")]
    [InlineData("10.10.1", "2.15.0")]
    [InlineData("10.10.2", "2.15.0")]
    [InlineData("10.12.0", "2.15.0")]
    [InlineData("11.0.0", "2.15.0")]
    [InlineData("11.0.0+a1b2c3d", "2.15.0")]
    [InlineData("11.0.0.0", "2.15.0.0")]
    [InlineData("11.0.1", "2.16.0")]
    [InlineData("11.11.0", "2.15.0")]
    public void IsKnownBroken_MeaiOpenAI10101To11xWithOpenAI215OrLater_True(string meaiOpenAI, string openAI)
    {
        Assert.True(CompatibilityCheck.IsKnownBroken(meaiOpenAI, openAI));
    }

    [Theory]
    [InlineData("10.11.0", "2.14.0")]
    [InlineData("10.11.0", "2.14.9")]
    [InlineData("10.10.0", "2.15.0")]
    [InlineData("10.10.1", "2.14.0")]
    [InlineData("11.0.0", "2.14.0")]
    [InlineData("11.0.0", "2.14.9")]
    [InlineData("12.0.0", "2.15.0")]
    [InlineData("10.11.0", "1.15.0")]
    [InlineData(null, "2.15.0")]
    [InlineData("10.11.0", null)]
    [InlineData("", "")]
    [InlineData("not a version", "2.15.0")]
    [InlineData("10.11.0", "unknown")]
    public void IsKnownBroken_OtherCombinationsOrUnreadableVersions_False(string? meaiOpenAI, string? openAI)
    {
        Assert.False(CompatibilityCheck.IsKnownBroken(meaiOpenAI, openAI));
    }
}
