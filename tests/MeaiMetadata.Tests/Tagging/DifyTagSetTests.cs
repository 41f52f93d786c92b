using MeaiMetadata.Tagging;

namespace MeaiMetadata.Tests.Tagging;

public class DifyTagSetTests
{
    [Fact]
    public void Constructor_NormalizesAppIdOnce()
    {
        var tags = new DifyTagSet(new string('a', 600) + "\uD800", "dify");

        Assert.Equal(512, tags.AppId.Length);
        Assert.Equal(new string('a', 600) + "\uD800", tags.InputAppId);
    }

    [Fact]
    public void Pairs_AreReadOnly()
    {
        var tags = new DifyTagSet("app", "dify");

        Assert.Equal(new Dictionary<string, string> { ["dify_app_id"] = "app", ["dify_source"] = "dify" }, tags.Pairs);
        var asDictionary = Assert.IsAssignableFrom<IDictionary<string, string>>(tags.Pairs);
        Assert.True(asDictionary.IsReadOnly);
        Assert.Throws<NotSupportedException>(() => asDictionary["x"] = "y");
    }

    [Fact]
    public void Pairs_NoSource_HoldOnlyAppId()
    {
        var tags = new DifyTagSet("app", source: null);

        Assert.Equal(["dify_app_id"], tags.Pairs.Keys);
    }

    [Fact]
    public void GetRawRepresentationFactory_SameInputs_SameDelegate_OtherCallerFactory_NewDelegate()
    {
        var tags = new DifyTagSet("app", "dify");
        DifyMetadataSettings settings = DifyMetadataSettings.Create(new DifyMetadataOptions(), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Func<Microsoft.Extensions.AI.IChatClient, object?> callerFactory = _ => null;

        var first = tags.GetRawRepresentationFactory(settings, null, null, false);
        var second = tags.GetRawRepresentationFactory(settings, null, null, false);
        var withCaller = tags.GetRawRepresentationFactory(settings, callerFactory, null, false);
        var withStore = tags.GetRawRepresentationFactory(settings, callerFactory, true, false);
        var streaming = tags.GetRawRepresentationFactory(settings, callerFactory, true, true);

        Assert.Same(first, second);
        Assert.NotSame(first, withCaller);
        Assert.NotSame(withCaller, withStore);
        Assert.NotSame(withStore, streaming);
    }
}
