using MeaiMetadata.Providers;

namespace MeaiMetadata.Tests.Providers;

public class BedrockRequestMetadataTests
{
    [Theory]
    [InlineData("6f1c2b1e-8a3d-4c5e-9f00-123456789abc", "6f1c2b1e-8a3d-4c5e-9f00-123456789abc")] // UUID passes through
    [InlineData("MixedCase", "MixedCase")] // case kept
    [InlineData("a:b_c@d$e#f=g/h+i,j-k.l", "a:b_c@d$e#f=g/h+i,j-k.l")] // every allowed punctuation kept
    [InlineData("user@example.com", "user@example.com")] // e-mails pass
    [InlineData("tab\tnew\nline space", "tab\tnew\nline space")] // ASCII whitespace kept
    [InlineData("nbsp\u00A0ideographic\u3000", "nbsp_ideographic_")] // non-ASCII whitespace replaced
    [InlineData("app!%&*()[]{}<>?'\"", "app" + "_______________")] // other punctuation replaced
    [InlineData("Équipe 应用", "_quipe __")] // non-ASCII replaced
    [InlineData("a😀b", "a_b")] // one _ per scalar
    [InlineData("", "")] // empty stays empty
    public void NormalizeValue_FollowsTheReference(string value, string expected)
    {
        Assert.Equal(expected, BedrockRequestMetadata.NormalizeValue(value));
    }

    [Fact]
    public void NormalizeValue_TruncatesTo256()
    {
        Assert.Equal(new string('a', 256), BedrockRequestMetadata.NormalizeValue(new string('a', 300)));
        Assert.Equal(256, BedrockRequestMetadata.NormalizeValue(string.Concat(Enumerable.Repeat("😀", 300))).Length);
    }

    [Theory]
    [InlineData("dify_app_id", true)]
    [InlineData("Key With Spaces", true)]
    [InlineData("", false)]
    [InlineData("clé", false)]
    public void IsValidKey_FollowsBedrock(string key, bool valid)
    {
        Assert.Equal(valid, BedrockRequestMetadata.IsValidKey(key));
    }

    [Fact]
    public void IsValidKey_Over256_Invalid()
    {
        Assert.True(BedrockRequestMetadata.IsValidKey(new string('k', 256)));
        Assert.False(BedrockRequestMetadata.IsValidKey(new string('k', 257)));
    }

    [Fact]
    public void Merge_CapsAt16_AppIdAlways_SourceYields()
    {
        var metadata = new Dictionary<string, string>();
        for (int i = 0; i < 15; i++)
        {
            metadata[$"k{i:00}"] = "v";
        }

        BedrockRequestMetadata.Merge(metadata, VertexAILabelsTests.Context("Équipe"));

        Assert.Equal(16, metadata.Count);
        Assert.Equal("_quipe", metadata["dify_app_id"]);
        Assert.False(metadata.ContainsKey("dify_source"));
    }

    [Fact]
    public void Merge_CallerValuesNormalized_InvalidKeysDropped()
    {
        var metadata = new Dictionary<string, string> { ["ok"] = "naïve", ["clé"] = "x" };

        BedrockRequestMetadata.Merge(metadata, VertexAILabelsTests.Context("app"));

        Assert.Equal("na_ve", metadata["ok"]);
        Assert.False(metadata.ContainsKey("clé"));
        Assert.Equal("dify", metadata["dify_source"]);
    }
}
