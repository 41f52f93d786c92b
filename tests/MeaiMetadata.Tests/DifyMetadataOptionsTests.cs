namespace MeaiMetadata.Tests;

public class DifyMetadataOptionsTests
{
    [Fact]
    public void Defaults_AreTheDocumentedOnes()
    {
        var options = new DifyMetadataOptions();

        Assert.True(options.Enabled);
        Assert.Null(options.AppIdResolver);
        Assert.Equal("dify", options.Source);
        Assert.Equal(DifyMetadataOptions.DefaultSource, options.Source);
        Assert.True(options.AdditionalPropertiesEnabled);
        Assert.Equal(DifyStorePolicy.EnableWhenUnset, options.StorePolicy);
    }

    [Fact]
    public void Validate_SourceOver512_NamesTheLimit()
    {
        string? error = DifyMetadataSettings.Validate(new DifyMetadataOptions { Source = new string('s', 513) });

        Assert.NotNull(error);
        Assert.Contains("Source", error);
        Assert.Contains("512", error);
    }

    [Fact]
    public void Validate_SourceWithLoneSurrogate_IsRejected()
    {
        string? error = DifyMetadataSettings.Validate(new DifyMetadataOptions { Source = "a\uD800b" });

        Assert.NotNull(error);
        Assert.Contains("lone surrogate", error);
    }

    [Fact]
    public void Validate_UndefinedStorePolicy_IsRejected()
    {
        string? error = DifyMetadataSettings.Validate(new DifyMetadataOptions { StorePolicy = (DifyStorePolicy)42 });

        Assert.NotNull(error);
        Assert.Contains("StorePolicy", error);
    }

    [Theory]
    [InlineData("dify")]
    [InlineData("")]
    [InlineData(null)]
    public void Validate_ValidOptions_ReturnsNull(string? source)
    {
        Assert.Null(DifyMetadataSettings.Validate(new DifyMetadataOptions { Source = source }));
    }

    [Fact]
    public void Validate_Source512Exactly_IsValid()
    {
        Assert.Null(DifyMetadataSettings.Validate(new DifyMetadataOptions { Source = new string('s', 512) }));
    }
}
