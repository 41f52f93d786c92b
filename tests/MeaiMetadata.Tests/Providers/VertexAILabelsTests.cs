using MeaiMetadata.Providers;
using MeaiMetadata.Tests.TestDoubles;

namespace MeaiMetadata.Tests.Providers;

public class VertexAILabelsTests
{
    [Theory]
    [InlineData("6f1c2b1e-8a3d-4c5e-9f00-123456789abc", "6f1c2b1e-8a3d-4c5e-9f00-123456789abc")] // UUID passes through
    [InlineData("MyApp", "myapp")] // lower-cased
    [InlineData("app.name/v2 (beta)", "app_name_v2__beta_")] // punctuation and spaces replaced
    [InlineData("应用", "__")] // non-ASCII replaced, one _ per character
    [InlineData("a😀b", "a_b")] // a surrogate pair is one scalar: one _
    [InlineData("ÀÉÎ", "___")] // accented letters are outside [a-z]
    [InlineData("", "")] // empty stays empty
    [InlineData("under_score-dash", "under_score-dash")]
    public void NormalizeValue_FollowsTheReference(string value, string expected)
    {
        Assert.Equal(expected, VertexAILabels.NormalizeValue(value));
    }

    [Fact]
    public void NormalizeValue_TruncatesTo63()
    {
        Assert.Equal(new string('a', 63), VertexAILabels.NormalizeValue(new string('A', 100)));
        Assert.Equal(63, VertexAILabels.NormalizeValue(string.Concat(Enumerable.Repeat("😀", 100))).Length);
    }

    [Fact]
    public void NormalizeValue_ValidValue_SameInstance()
    {
        string value = "already-valid_1";

        Assert.Same(value, VertexAILabels.NormalizeValue(value));
    }

    [Theory]
    [InlineData("dify_app_id", true)]
    [InlineData("team", true)]
    [InlineData("a", true)]
    [InlineData("", false)]
    [InlineData("Team", false)] // uppercase
    [InlineData("1team", false)] // must start with a letter
    [InlineData("_team", false)]
    [InlineData("te am", false)]
    public void IsValidKey_FollowsGoogle(string key, bool valid)
    {
        Assert.Equal(valid, VertexAILabels.IsValidKey(key));
    }

    [Fact]
    public void IsValidKey_Over63_Invalid()
    {
        Assert.True(VertexAILabels.IsValidKey(new string('k', 63)));
        Assert.False(VertexAILabels.IsValidKey(new string('k', 64)));
    }

    [Fact]
    public void Merge_CapsAt64_KeepsAppId_DropsInvalidKeys()
    {
        var labels = new Dictionary<string, string> { ["Invalid Key"] = "x", ["ok"] = "Needs Fixing" };
        for (int i = 0; i < 70; i++)
        {
            labels[$"k{i:00}"] = "v";
        }

        VertexAILabels.Merge(labels, Context("Support-Bot"));

        Assert.Equal(64, labels.Count);
        Assert.Equal("support-bot", labels["dify_app_id"]);
        Assert.False(labels.ContainsKey("Invalid Key"));
        Assert.Equal("needs_fixing", labels["ok"]);
        Assert.All(labels, l => Assert.True(VertexAILabels.IsValidKey(l.Key) && VertexAILabels.NormalizeValue(l.Value) == l.Value));
    }

    internal static DifyRequestDecision Context(string appId, string? source = "dify") => Decisions.Of(appId, source);
}
