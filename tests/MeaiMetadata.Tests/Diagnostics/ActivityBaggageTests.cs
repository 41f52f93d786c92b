using System.Diagnostics;
using CsCheck;
using MeaiMetadata.Diagnostics;

namespace MeaiMetadata.Tests.Diagnostics;

/// <summary>The allocation-free baggage read answers exactly as <see cref="Activity.GetBaggageItem"/>, and allocates nothing.</summary>
public sealed class ActivityBaggageTests
{
    private const string AppIdKey = "dify.app_id";

    private static readonly string[] Keys = [AppIdKey, "DIFY.APP_ID", "tenant", "region", "dify.app_id "];

    private static readonly Gen<string?> Value = Gen.OneOf<string?>(null, string.Empty, "app-1", "app-2", "eu");

    // One operation on one activity's baggage: Add (a duplicate key is kept, newest first) or Set (replaces, null removes).
    private static readonly Gen<(bool Set, string Key, string? Value)> Operation =
        Gen.Select(Gen.Bool, Gen.OneOf(Keys), Value);

    // A chain of one to three activities, each with its own operations, parent first.
    private static readonly Gen<(bool Set, string Key, string? Value)[][]> Chain = Operation.Array[0, 6].Array[1, 3];

    [Fact]
    public void Reader_IsBuiltOnThisRuntime()
    {
        // The whole point: on .NET 10 the compiled reader is used. Were it refused (a layout change), reads would still be
        // right through GetBaggageItem, but this test says the allocation-free promise no longer holds.
        Assert.True(ActivityBaggage.IsAllocationFree);
        Assert.NotNull(ActivityBaggage.Reader.TryCreate());
    }

    [Fact]
    public void Find_AnyChainOfActivities_AnswersAsGetBaggageItem()
    {
        Chain.Sample(
            chain =>
            {
                Activity? saved = Activity.Current;
                Activity.Current = null;
                var started = new List<Activity>();
                try
                {
                    foreach ((bool Set, string Key, string? Value)[] operations in chain)
                    {
                        Activity activity = new Activity("level-" + started.Count).Start(); // parented to the one before
                        foreach ((bool set, string key, string? value) in operations)
                        {
                            _ = set ? activity.SetBaggage(key, value) : activity.AddBaggage(key, value);
                        }

                        started.Add(activity);
                    }

                    foreach (Activity activity in started)
                    {
                        foreach (string key in Keys.Append("missing"))
                        {
                            Assert.Equal(activity.GetBaggageItem(key), ActivityBaggage.Find(activity, key));
                        }
                    }
                }
                finally
                {
                    for (int i = started.Count - 1; i >= 0; i--)
                    {
                        started[i].Stop();
                    }

                    Activity.Current = saved;
                }
            },
            iter: 2_000,
            threads: 1);
    }

    [Fact]
    public void Find_ChildOfAParentWithTheItem_FindsTheParentsValue()
    {
        using Activity parent = new Activity("incoming").AddBaggage(AppIdKey, "upstream-app").Start();
        using Activity child = new Activity("outgoing").AddBaggage("tenant", "t1").Start();

        Assert.Same(parent, child.Parent);
        Assert.Equal("upstream-app", ActivityBaggage.Find(child, AppIdKey));
    }

    [Fact]
    public void Find_NullValueInTheChild_HidesTheParentsValue()
    {
        // GetBaggageItem stops at the first item of the name, even when its value is null.
        using Activity parent = new Activity("incoming").AddBaggage(AppIdKey, "upstream-app").Start();
        using Activity child = new Activity("outgoing").AddBaggage(AppIdKey, null).Start();

        Assert.Null(child.GetBaggageItem(AppIdKey));
        Assert.Null(ActivityBaggage.Find(child, AppIdKey));
    }

    [Fact]
    public void Find_NoActivity_IsNull()
    {
        Assert.Null(ActivityBaggage.Find(null, AppIdKey));
    }

    [Fact]
    public void Find_UnrelatedBaggageOnAChain_AllocatesNothing()
    {
        using Activity parent = new Activity("incoming").AddBaggage("tenant", "t1").AddBaggage("region", "eu").Start();
        using Activity child = new Activity("outgoing").AddBaggage("span.kind", "client").Start();
        for (int i = 0; i < 100; i++)
        {
            _ = ActivityBaggage.Find(child, AppIdKey); // warm up
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000; i++)
        {
            _ = ActivityBaggage.Find(child, AppIdKey);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);

        // The public API's cost, for contrast: its iterator on every read.
        before = GC.GetAllocatedBytesForCurrentThread();
        _ = child.GetBaggageItem(AppIdKey);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before > 0);
    }

    [Fact]
    public void Probe_ReaderThatMisreadsTheList_IsRefused()
    {
        // The safety net of a layout change: a reader that reads the nodes wrongly (here: the oldest item first, as a
        // runtime that appended instead of prepending would need) fails the probe, so TryCreate would fall back.
        ActivityBaggage.Reader real = ActivityBaggage.Reader.TryCreate()!;
        var oldestFirst = new ActivityBaggage.Reader(
            activity => activity.Baggage.Reverse().Select(pair => (object)pair).FirstOrDefault(),
            _ => null,
            node => (KeyValuePair<string, string?>)node);

        Assert.True(real.AgreesWithGetBaggageItem());
        Assert.False(oldestFirst.AgreesWithGetBaggageItem());
    }
}
