using System.Collections.Concurrent;
using CsCheck;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Xunit.Abstractions;

namespace MeaiMetadata.Tests.Reliability;

/// <summary>A session reaches exactly the work that flows from it: nothing queued without the execution context, nothing
/// left on a reused thread, nothing foreign after out-of-order disposal.</summary>
public sealed class SessionIsolationTests(ITestOutputHelper output)
{
    public const long DisposalOrderCases = 5_000;

    // ---- work queued without execution-context flow ----

    // The session stays open until the queued work has run: a null there means "not flowed", not "already ended".

    [Fact]
    public async Task UnsafeQueueUserWorkItem_SeesNoSession_AndItsRequestIsUntagged()
    {
        var done = new TaskCompletionSource<(string? Seen, bool Tagged)>(TaskCreationOptions.RunContinuationsAsynchronously);
        using (DifySession.Begin("tenant-a"))
        {
            Assert.True(ThreadPool.UnsafeQueueUserWorkItem(_ => _ = RunAndReportAsync(done), null));

            (string? seen, bool tagged) = await done.Task.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal("tenant-a", DifySession.Current?.AppId);
            Assert.Null(seen);
            Assert.False(tagged);
        }
    }

    [Fact]
    public async Task SuppressFlow_TaskRun_QueueUserWorkItem_Thread_Timer_SeeNoSession()
    {
        var viaQueue = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var viaThread = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var viaTimer = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);

        using (DifySession.Begin("tenant-a"))
        {
            Assert.Equal("tenant-a", await Task.Run(() => DifySession.Current?.AppId)); // flows: the control

            Task<string?> viaTaskRun;
            Timer timer;
            using (ExecutionContext.SuppressFlow())
            {
                viaTaskRun = Task.Run(() => DifySession.Current?.AppId);
                ThreadPool.QueueUserWorkItem(_ => viaQueue.TrySetResult(DifySession.Current?.AppId));
                new Thread(() => viaThread.TrySetResult(DifySession.Current?.AppId)).Start();
                timer = new Timer(_ => viaTimer.TrySetResult(DifySession.Current?.AppId), null, 10, Timeout.Infinite);
            }

            using (timer)
            {
                Assert.Null(await viaTaskRun);
                Assert.Null(await viaQueue.Task.WaitAsync(TimeSpan.FromSeconds(60)));
                Assert.Null(await viaThread.Task.WaitAsync(TimeSpan.FromSeconds(60)));
                Assert.Null(await viaTimer.Task.WaitAsync(TimeSpan.FromSeconds(60)));
            }

            Assert.Equal("tenant-a", DifySession.Current?.AppId);
        }
    }

    [Fact]
    public async Task SuppressFlow_RequestStartedFromSuppressedWork_IsUntagged()
    {
        var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions());
        using (DifySession.Begin("tenant-a"))
        {
            Task request;
            using (ExecutionContext.SuppressFlow())
            {
                request = Task.Run(() => client.GetResponseAsync("hi", new ChatOptions()));
            }

            await request;
            Assert.Empty(inner.LastChat.Metadata);
            Assert.Null(inner.LastChat.StoredOutputEnabled);

            await client.GetResponseAsync("hi", new ChatOptions()); // the control, from the flow itself
            Assert.Equal("tenant-a", inner.LastChat.Metadata["dify_app_id"]);
        }
    }

    // ---- a reused thread carries nothing into the next work item ----

    [Fact]
    public async Task SingleThreadScheduler_TaggedItemThenNextItem_NextSeesNothingAndSendsUntagged()
    {
        using var scheduler = new SingleThreadTaskScheduler();
        var factory = new TaskFactory(scheduler);
        var inner = new OpenAIStandInClient(StandInApi.Responses);
        var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions());

        // Item 1: a tagged request (with awaits, whose continuations also run on the one thread).
        (int thread1, string? tagged1) = await factory.StartNew(async () =>
        {
            using (DifySession.Begin("tenant-1"))
            {
                await Task.Yield();
                await Send.RequestAsync(client, new ChatOptions(), streaming: true);
                return (Environment.CurrentManagedThreadId, RawMetadata.Of(inner.LastRaw).TryGetValue("dify_app_id", out string? id) ? id : null);
            }
        }).Unwrap();

        // Item 2: a careless item that starts a session and never ends it.
        int thread2 = await factory.StartNew(() =>
        {
            DifySession.Begin("leaked-tenant");
            return Environment.CurrentManagedThreadId;
        });

        // Item 3: must see neither.
        (int thread3, string? seen3, bool tagged3) = await factory.StartNew(async () =>
        {
            string? seen = DifySession.Current?.AppId;
            await Send.RequestAsync(client, new ChatOptions(), streaming: false);
            return (Environment.CurrentManagedThreadId, seen, RawMetadata.Of(inner.LastRaw).ContainsKey("dify_app_id"));
        }).Unwrap();

        Assert.Equal("tenant-1", tagged1);
        Assert.Equal(thread1, thread2);
        Assert.Equal(thread1, thread3); // the same thread ran all three
        Assert.Null(seen3);
        Assert.False(tagged3);
    }

    [Fact]
    public async Task ThreadPool_LeakyItems_NeverReachLaterItems()
    {
        const int Items = 400;
        var leakyThreads = new ConcurrentDictionary<int, bool>();
        var seen = new ConcurrentBag<(int Thread, string? AppId)>();
        using var countdown = new CountdownEvent(Items * 2);
        for (int i = 0; i < Items; i++)
        {
            int n = i;
            ThreadPool.UnsafeQueueUserWorkItem(_ =>
            {
                DifySession.Begin($"leaked-{n}"); // never disposed
                leakyThreads[Environment.CurrentManagedThreadId] = true;
                countdown.Signal();
            }, null);
            ThreadPool.UnsafeQueueUserWorkItem(_ =>
            {
                seen.Add((Environment.CurrentManagedThreadId, DifySession.Current?.AppId));
                countdown.Signal();
            }, null);
        }

        Assert.True(await Task.Run(() => countdown.Wait(TimeSpan.FromMinutes(2))), "the work items did not all run");

        Assert.Equal(Items, seen.Count);
        Assert.All(seen, s => Assert.Null(s.AppId));
        int onReusedThreads = seen.Count(s => leakyThreads.ContainsKey(s.Thread));
        output.WriteLine($"{Items} leaky items, {Items} checks, {onReusedThreads} checks ran on a thread that had run a leaky item; sessions seen: 0");
    }

    // ---- disposal order ----

    [Fact]
    public void Disposal_RandomNestingAndOrder_CurrentIsAlwaysTheInnermostOpenSession()
    {
        // Ops: >= 0 begins a session; < 0 disposes the (-op % open)th scope begun so far (possibly again).
        Gen<int[]> programs = Gen.Frequency((3, Gen.Int[0, 1000]), (2, Gen.Int[-1000, -1])).Array[1, 24];
        long steps = 0;
        programs.Sample(
            program =>
            {
                var scopes = new List<(IDisposable Scope, string Id, bool Disposed)>();
                Assert.Null(DifySession.Current);
                foreach (int op in program)
                {
                    if (op >= 0 || scopes.Count == 0)
                    {
                        string id = $"s{scopes.Count}";
                        scopes.Add((DifySession.Begin(id), id, false));
                    }
                    else
                    {
                        int index = -op % scopes.Count;
                        scopes[index].Scope.Dispose();
                        scopes[index] = scopes[index] with { Disposed = true };
                    }

                    string? expected = scopes.LastOrDefault(s => !s.Disposed).Id;
                    Assert.Equal(expected, DifySession.Current?.AppId);
                    Interlocked.Increment(ref steps);
                }

                // Ending every session, in any order, leaves nothing behind.
                foreach ((IDisposable scope, _, _) in scopes.AsEnumerable().Reverse())
                {
                    scope.Dispose();
                }

                Assert.Null(DifySession.Current);
            },
            iter: DisposalOrderCases,
            threads: 1,
            writeLine: output.WriteLine);
        output.WriteLine($"[Disposal] {DisposalOrderCases} programs, {steps} begin/dispose steps checked");
    }

    [Fact]
    public async Task Disposal_ScopeOfAnotherFlow_DoesNotDisturbThisFlowsOwnSession()
    {
        IDisposable? foreign = null;
        await Task.Run(() => foreign = DifySession.Begin("foreign")); // begun in a child flow, never current here

        using (DifySession.Begin("mine"))
        {
            foreign!.Dispose();
            Assert.Equal("mine", DifySession.Current?.AppId);
        }

        Assert.Null(DifySession.Current);
    }

    [Fact]
    public async Task Disposal_ParentScopeEndedInAChildFlow_ParentFallsBackToTheNearestOpenSession()
    {
        using (DifySession.Begin("outer"))
        {
            IDisposable inner = DifySession.Begin("inner");
            await Task.Run(inner.Dispose);
            Assert.Equal("outer", DifySession.Current?.AppId);

            // A child flow still holding the ended session sees the open one too.
            Assert.Equal("outer", await Task.Run(() => DifySession.Current?.AppId));
        }

        Assert.Null(DifySession.Current);
    }

    [Fact]
    public async Task Disposal_ChildStartedBeforeTheParentEnds_KeepsItsOwnSessionOnly()
    {
        var childBegun = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var parentEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<(string? BeforeParentEnds, string? AfterParentEnds, string? AfterOwnEnds)> child;

        IDisposable parent = DifySession.Begin("parent");
        child = Task.Run(async () =>
        {
            IDisposable own = DifySession.Begin("child");
            childBegun.SetResult();
            string? before = DifySession.Current?.AppId;
            await parentEnded.Task;
            string? after = DifySession.Current?.AppId;
            own.Dispose();
            return (before, after, DifySession.Current?.AppId);
        });

        await childBegun.Task;
        parent.Dispose();
        parentEnded.SetResult();

        (string? beforeParentEnds, string? afterParentEnds, string? afterOwnEnds) = await child;
        Assert.Equal("child", beforeParentEnds);
        Assert.Equal("child", afterParentEnds);
        Assert.Null(afterOwnEnds); // the parent's session ended meanwhile: nothing foreign comes back
        Assert.Null(DifySession.Current);
    }

    [Fact]
    public async Task Disposal_ScopeReturnedOutOfAnAsyncMethod_NeverBecomesTheCallersSession()
    {
        static async Task<IDisposable> BeginSomewhereElseAsync()
        {
            await Task.Yield();
            return DifySession.Begin("from-async-method");
        }

        using (DifySession.Begin("caller"))
        {
            IDisposable scope = await BeginSomewhereElseAsync();
            Assert.Equal("caller", DifySession.Current?.AppId);
            scope.Dispose();
            Assert.Equal("caller", DifySession.Current?.AppId);
        }

        Assert.Null(DifySession.Current);
    }

    private static async Task RunAndReportAsync(TaskCompletionSource<(string? Seen, bool Tagged)> done)
    {
        try
        {
            string? seen = DifySession.Current?.AppId;
            var inner = new OpenAIStandInClient(StandInApi.ChatCompletions);
            var client = new DifyMetadataChatClient(inner, new DifyMetadataOptions());
            await client.GetResponseAsync("hi", new ChatOptions());
            done.TrySetResult((seen, inner.LastChat.Metadata.ContainsKey("dify_app_id")));
        }
        catch (Exception ex)
        {
            done.TrySetException(ex);
        }
    }

    /// <summary>A scheduler with exactly one thread, so consecutive work items are known to share it.</summary>
    private sealed class SingleThreadTaskScheduler : TaskScheduler, IDisposable
    {
        private readonly BlockingCollection<Task> _queue = [];
        private readonly Thread _thread;

        public SingleThreadTaskScheduler()
        {
            _thread = new Thread(() =>
            {
                foreach (Task task in _queue.GetConsumingEnumerable())
                {
                    TryExecuteTask(task);
                }
            })
            {
                IsBackground = true,
                Name = "single-thread-scheduler",
            };
            _thread.Start();
        }

        public override int MaximumConcurrencyLevel => 1;

        public void Dispose()
        {
            _queue.CompleteAdding();
            if (_thread.Join(TimeSpan.FromMinutes(1)))
            {
                _queue.Dispose(); // never under a thread still taking from it: that would crash the test host
            }
        }

        protected override void QueueTask(Task task) => _queue.Add(task);

        protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) =>
            Environment.CurrentManagedThreadId == _thread.ManagedThreadId && TryExecuteTask(task);

        protected override IEnumerable<Task> GetScheduledTasks() => [.. _queue];
    }
}
