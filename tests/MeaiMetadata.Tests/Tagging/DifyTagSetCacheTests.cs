using MeaiMetadata.Tagging;
using Microsoft.Extensions.Time.Testing;

namespace MeaiMetadata.Tests.Tagging;

[Collection(SerialTests.Name)]
public class DifyTagSetCacheTests
{
    public DifyTagSetCacheTests() => DifyTagSetCache.Clear(); // other tests leave it full of their random ids

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
    public void Get_WhenFull_KeepsWhatItHas_AndNewIdsGoUncached()
    {
        DifyTagSet first = DifyTagSetCache.Get("full-0", "dify");
        for (int i = 1; i < DifyTagSetCache.Capacity; i++)
        {
            DifyTagSetCache.Get("full-" + i, "dify");
        }

        DifyTagSet extra = DifyTagSetCache.Get("one-too-many", "dify");

        Assert.Equal(DifyTagSetCache.Capacity, DifyTagSetCache.Count);
        Assert.Same(first, DifyTagSetCache.Get("full-0", "dify"));
        Assert.NotSame(extra, DifyTagSetCache.Get("one-too-many", "dify"));
        Assert.Equal("one-too-many", extra.AppId);
    }

    [Fact]
    public void Get_WhenFull_EmptiesOnAMissOnlyOnceTheRefreshIntervalHasPassed()
    {
        var time = new FakeTimeProvider();
        DifyTagSetCache.Clear(time);
        int next = 0;
        void Flood(int ids)
        {
            for (int end = next + ids; next < end; next++)
            {
                DifyTagSetCache.Get("flood-" + next, "dify");
            }
        }

        Flood(DifyTagSetCache.Capacity + 50_000);
        Assert.Equal(DifyTagSetCache.Capacity, DifyTagSetCache.Count); // full: new ids go uncached, nothing evicted

        time.Advance(DifyTagSetCache.RefreshInterval - TimeSpan.FromSeconds(1));
        Flood(1_000);
        Assert.Equal(DifyTagSetCache.Capacity, DifyTagSetCache.Count); // not yet

        time.Advance(TimeSpan.FromSeconds(1));
        Flood(64);
        Assert.InRange(DifyTagSetCache.Count, 0, 63); // one of these 64 misses (the clock is read on one in 64) emptied it

        Flood(DifyTagSetCache.Capacity + 10);
        Assert.Equal(DifyTagSetCache.Capacity, DifyTagSetCache.Count); // filled again by the apps seen now

        Flood(1_000);
        Assert.Equal(DifyTagSetCache.Capacity, DifyTagSetCache.Count); // and the clock restarted with the emptying
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
