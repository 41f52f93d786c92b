using MeaiMetadata.Tagging;

namespace MeaiMetadata.Tests.Tagging;

[Collection(SerialTests.Name)]
public class DifyTagSetCacheTests
{
    private static DifyTagSet SessionTags(string appId)
    {
        using (DifySession.Begin(appId))
        {
            return DifySession.Current!.GetTags("dify")!;
        }
    }

    [Fact]
    public void Get_SameIdAndSource_SameTagSet()
    {
        string id = "cache-" + Guid.NewGuid();

        DifyTagSet first = DifyTagSetCache.Get(id, "dify");

        Assert.Same(first, DifyTagSetCache.Get(id, "dify"));
        Assert.Equal(id, first.AppId);
    }

    [Fact]
    public void Get_OtherSource_NewTagSetThatReplacesTheOld()
    {
        string id = "cache-" + Guid.NewGuid();
        DifyTagSet dify = DifyTagSetCache.Get(id, "dify");

        DifyTagSet other = DifyTagSetCache.Get(id, "other");

        Assert.NotSame(dify, other);
        Assert.Equal("other", other.Source);
        Assert.Same(other, DifyTagSetCache.Get(id, "other"));
        Assert.Null(DifyTagSetCache.Get(id, source: null).Source);
    }

    [Fact]
    public void Get_IdLongerThanAnOpenAIValue_NeverKept()
    {
        string longest = new('k', DifyTagSetCache.MaxCachedIdLength);
        string tooLong = longest + "k";

        Assert.Same(DifyTagSetCache.Get(longest, "dify"), DifyTagSetCache.Get(longest, "dify"));
        Assert.NotSame(DifyTagSetCache.Get(tooLong, "dify"), DifyTagSetCache.Get(tooLong, "dify"));
        Assert.Equal(DifyTagSetCache.MaxCachedIdLength, DifyTagSetCache.Get(tooLong, "dify").AppId.Length);
    }

    [Fact]
    public void Get_FloodOfDistinctIds_StaysWithinCapacity_AndKeepsTheLatest()
    {
        int most = 0;
        for (int i = 0; i < 3 * DifyTagSetCache.Capacity + 7; i++)
        {
            string id = "flood-" + i;
            DifyTagSet tags = DifyTagSetCache.Get(id, "dify");
            most = Math.Max(most, DifyTagSetCache.Count);
            Assert.Same(tags, DifyTagSetCache.Get(id, "dify"));
        }

        Assert.InRange(most, DifyTagSetCache.Capacity / 2, DifyTagSetCache.Capacity);
    }

    [Fact]
    public void Sessions_OfTheSameApp_ShareOneTagSet_OtherApps_DoNot()
    {
        string a = "tenant-a-" + Guid.NewGuid();
        string b = "tenant-b-" + Guid.NewGuid();

        DifyTagSet first = SessionTags(a);
        DifyTagSet second = SessionTags(a);
        DifyTagSet other = SessionTags(b);

        Assert.Same(first, second);
        Assert.NotSame(first, other);
        Assert.Equal(a, first.AppId);
        Assert.Equal(b, other.AppId);
    }
}
