using MeaiMetadata.Tagging;

namespace MeaiMetadata.Tests.Tagging;

public class MetadataMergeTests
{
    private static MergeReport Apply(IDictionary<string, string> metadata, string? source = "dify") =>
        MetadataMerge.Apply(metadata, "app", source, MetadataRules.OpenAI);

    private static Dictionary<string, string> CallerKeys(int count)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            metadata[$"k{i:00}"] = $"v{i}";
        }

        return metadata;
    }

    [Fact]
    public void Apply_Empty_AddsBothKeys()
    {
        var metadata = new Dictionary<string, string>();

        MergeReport report = Apply(metadata);

        Assert.Equal(new Dictionary<string, string> { ["dify_app_id"] = "app", ["dify_source"] = "dify" }, metadata);
        Assert.Null(report.Dropped);
        Assert.Null(report.Adjusted);
        Assert.False(report.SourceOmitted);
    }

    [Fact]
    public void Apply_14CallerKeys_AllFit()
    {
        Dictionary<string, string> metadata = CallerKeys(14);

        Apply(metadata);

        Assert.Equal(16, metadata.Count);
        Assert.Equal("dify", metadata["dify_source"]);
    }

    [Fact]
    public void Apply_15CallerKeys_SourceYields()
    {
        Dictionary<string, string> metadata = CallerKeys(15);

        MergeReport report = Apply(metadata);

        Assert.Equal(16, metadata.Count);
        Assert.Equal("app", metadata["dify_app_id"]);
        Assert.False(metadata.ContainsKey("dify_source"));
        Assert.True(report.SourceOmitted);
        Assert.Null(report.Dropped);
    }

    [Theory]
    [InlineData(16, new[] { "k15" })]
    [InlineData(18, new[] { "k15", "k16", "k17" })]
    public void Apply_TooManyCallerKeys_NewestGiveWay(int callerCount, string[] expectedDropped)
    {
        Dictionary<string, string> metadata = CallerKeys(callerCount);

        MergeReport report = Apply(metadata);

        Assert.Equal(16, metadata.Count);
        Assert.Equal("app", metadata["dify_app_id"]);
        Assert.Equal(expectedDropped, report.Dropped);
        Assert.All(expectedDropped, key => Assert.False(metadata.ContainsKey(key)));
        Assert.True(metadata.ContainsKey("k00"));
    }

    [Fact]
    public void Apply_CallerReservedKeys_AreReplaced()
    {
        var metadata = new Dictionary<string, string> { ["dify_app_id"] = "spoof", ["dify_source"] = "spoof", ["team"] = "a" };

        MergeReport report = Apply(metadata);

        Assert.Equal("app", metadata["dify_app_id"]);
        Assert.Equal("dify", metadata["dify_source"]);
        Assert.Equal("a", metadata["team"]);
        Assert.Null(report.Dropped);
    }

    [Fact]
    public void Apply_CallerSourceKeyWithoutOurSource_IsRemoved()
    {
        var metadata = new Dictionary<string, string> { ["dify_source"] = "spoof" };

        Apply(metadata, source: null);

        Assert.Equal(new Dictionary<string, string> { ["dify_app_id"] = "app" }, metadata);
    }

    [Fact]
    public void Apply_InvalidCallerKeys_AreDropped()
    {
        var metadata = new Dictionary<string, string>
        {
            [""] = "empty key",
            [new string('k', 65)] = "long key",
            ["lone\uD800"] = "bad key",
            [new string('k', 64)] = "max key",
            ["nullvalue"] = null!,
        };

        MergeReport report = Apply(metadata);

        Assert.Equal(4, report.Dropped!.Count);
        Assert.True(metadata.ContainsKey(new string('k', 64)));
        Assert.Equal(3, metadata.Count);
    }

    [Fact]
    public void Apply_InvalidCallerValues_AreAdjusted()
    {
        var metadata = new Dictionary<string, string>
        {
            ["long"] = new string('v', 600),
            ["lone"] = "x\uDC00",
            ["fine"] = new string('v', 512),
        };

        MergeReport report = Apply(metadata);

        Assert.Equal(new string('v', 512), metadata["long"]);
        Assert.Equal("x\uFFFD", metadata["lone"]);
        Assert.Equal(["long", "lone"], report.Adjusted);
    }
}
