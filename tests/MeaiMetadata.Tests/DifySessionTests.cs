using System.Diagnostics;

namespace MeaiMetadata.Tests;

public class DifySessionTests
{
    [Fact]
    public void Current_NoSession_IsNull()
    {
        Assert.Null(DifySession.Current);
    }

    [Fact]
    public void Begin_SetsCurrent_DisposeRestoresNone()
    {
        using (DifySession.Begin("app-1"))
        {
            Assert.Equal("app-1", DifySession.Current?.AppId);
        }

        Assert.Null(DifySession.Current);
    }

    [Fact]
    public void Begin_Nested_InnerWinsAndDisposeRestoresOuter()
    {
        using (DifySession.Begin("outer"))
        {
            DifySession? outer = DifySession.Current;
            using (DifySession.Begin("inner"))
            {
                Assert.Equal("inner", DifySession.Current?.AppId);
            }

            Assert.Same(outer, DifySession.Current);
        }

        Assert.Null(DifySession.Current);
    }

    [Fact]
    public async Task Begin_FlowsAcrossAwaitAndTaskRun()
    {
        using (DifySession.Begin("flowing"))
        {
            await Task.Yield();
            Assert.Equal("flowing", DifySession.Current?.AppId);

            string? seenInTaskRun = await Task.Run(async () =>
            {
                await Task.Delay(1);
                return DifySession.Current?.AppId;
            });
            Assert.Equal("flowing", seenInTaskRun);
        }
    }

    [Fact]
    public void Begin_ExceptionInsideUsing_LeavesNothingBehind()
    {
        static void Fail()
        {
            using (DifySession.Begin("throws"))
            {
                throw new InvalidOperationException("boom");
            }
        }

        Assert.Throws<InvalidOperationException>(Fail);

        Assert.Null(DifySession.Current);
    }

    [Fact]
    public async Task Begin_ConcurrentFlows_NeverSeeEachOther()
    {
        // An awaited gate, not a Barrier: eight blocked pool threads would starve a 2-core machine's pool for seconds.
        var allOpen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var open = 0;
        var mismatches = 0;
        Task[] flows = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            using (DifySession.Begin($"app-{i}"))
            {
                if (Interlocked.Increment(ref open) == 8)
                {
                    allOpen.SetResult();
                }

                await allOpen.Task;
                for (int round = 0; round < 200; round++)
                {
                    await Task.Yield();
                    if (DifySession.Current?.AppId != $"app-{i}")
                    {
                        Interlocked.Increment(ref mismatches);
                    }
                }
            }
        })).ToArray();

        await Task.WhenAll(flows);
        Assert.Equal(0, mismatches);
    }

    [Fact]
    public async Task Begin_InsideChildTask_DoesNotLeakToParent()
    {
        await Task.Run(() =>
        {
            DifySession.Begin("child-only"); // not disposed on purpose: the change stays in the child's flow
            Assert.Equal("child-only", DifySession.Current?.AppId);
        });

        Assert.Null(DifySession.Current);
    }

    [Fact]
    public void Dispose_Twice_IsHarmless()
    {
        using (DifySession.Begin("outer"))
        {
            IDisposable inner = DifySession.Begin("inner");
            inner.Dispose();
            inner.Dispose();
            Assert.Equal("outer", DifySession.Current?.AppId);
        }
    }

    [Fact]
    public void Dispose_OutOfOrder_NeverLeavesAnEndedSessionCurrent()
    {
        IDisposable outer = DifySession.Begin("outer");
        IDisposable inner = DifySession.Begin("inner");

        outer.Dispose(); // out of order: the inner session stays current
        Assert.Equal("inner", DifySession.Current?.AppId);

        inner.Dispose(); // the outer one has ended: nothing is current
        Assert.Null(DifySession.Current);
    }

    [Fact]
    public async Task Dispose_InAnotherFlow_EndsTheSessionEverywhere()
    {
        IDisposable scope = DifySession.Begin("shared");
        await Task.Run(scope.Dispose);

        Assert.Null(DifySession.Current);
    }

    [Fact]
    public void Begin_NullAppId_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => DifySession.Begin((string)null!));
    }

    [Fact]
    public void Begin_Long_FormatsInvariant()
    {
        using (DifySession.Begin(0L))
        {
            Assert.Equal("0", DifySession.Current?.AppId);
        }

        using (DifySession.Begin(-1234567L))
        {
            Assert.Equal("-1234567", DifySession.Current?.AppId);
        }
    }

    [Fact]
    public void Begin_Guid_FormatsWithHyphens()
    {
        var id = Guid.Parse("5f0f4d8e-2c3b-4f5a-9d7e-1a2b3c4d5e6f");
        using (DifySession.Begin(id))
        {
            Assert.Equal("5f0f4d8e-2c3b-4f5a-9d7e-1a2b3c4d5e6f", DifySession.Current?.AppId);
        }
    }

    [Fact]
    public void Begin_AppId_KeptExactly()
    {
        using (DifySession.Begin("  Mixed Case, \"quoted\"\n日本語  "))
        {
            Assert.Equal("  Mixed Case, \"quoted\"\n日本語  ", DifySession.Current?.AppId);
        }
    }

    [Fact]
    public async Task UnsafeQueueUserWorkItem_SeesNoSession()
    {
        using (DifySession.Begin("not-flowing"))
        {
            var seen = new TaskCompletionSource<string?>();
            ThreadPool.UnsafeQueueUserWorkItem(_ => seen.SetResult(DifySession.Current?.AppId), null);
            Assert.Null(await seen.Task);
        }
    }

    [Fact]
    public async Task SuppressFlow_SeesNoSession()
    {
        using (DifySession.Begin("not-flowing"))
        {
            Task<string?> seen;
            using (ExecutionContext.SuppressFlow())
            {
                seen = Task.Run(() => DifySession.Current?.AppId);
            }

            Assert.Null(await seen);
        }
    }

    [Fact]
    public void Begin_WithoutPropagation_TouchesNoActivity()
    {
        Activity? before = Activity.Current;
        using (DifySession.Begin("quiet"))
        {
            Assert.Same(before, Activity.Current);
        }
    }

    [Fact]
    public void Begin_WithPropagation_TouchesNoActivity_MarksTheSession()
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = _ => true,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener); // even with every source listened to, no activity is started
        Activity? before = Activity.Current;

        using (DifySession.Begin("edge-app", propagateAsBaggage: true))
        {
            Assert.Same(before, Activity.Current);
            Assert.True(DifySession.Current!.PropagatesAsBaggage);
            using (DifySession.Begin("quiet"))
            {
                Assert.False(DifySession.Current!.PropagatesAsBaggage);
            }
        }

        Assert.Same(before, Activity.Current);
    }
}
