using MeaiMetadata.Budgets.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace MeaiMetadata.Budgets.Tests.Review;

/// <summary>Session 9, fifth attack, on 3b7d011: the app's shared pending flush (<c>FlushPendingAsync</c>,
/// <c>AddPendingAsync</c>, <c>PendingCosts.Flushing</c>). docs/budgets.md "When the store fails": pending costs are "added
/// once by the app's next store operation that succeeds ..., with the alerts it crosses; the app's reservations wait while
/// one adds it, so none is checked without it"; <c>OnStoreFailure: Allow</c> sends unchecked, <c>Refuse</c> refuses. Each
/// test asserts a promise, so it FAILS where it is broken; a hang fails by a timeout inside the test.</summary>
public sealed class Session9FifthAttackTests
{
    private const string Model = "gpt-4o-mini";

    private static readonly DateTimeOffset March10 = new(2026, 3, 10, 12, 0, 0, TimeSpan.Zero);

    private static ChatOptions Options(string app, int maxOutput = 100) => new ChatOptions { ModelId = Model, MaxOutputTokens = maxOutput }.WithDifyAppId(app);

    private static string Key(string app) => "dify:budget:{" + app + "}:m202603";

    // ---- 1. an OnAlert callback raised by the flush calls the same client for the same app: deadlock ----

    /// <summary>OnAlert is a synchronous <c>Action</c>; a callback that asks the model (a summary for the alert mail) and
    /// blocks on it works when the alert is raised by a settlement (the control below). When the alert is raised by the
    /// pending FLUSH, the callback runs inside the flush, before <c>mine.SetResult()</c>: the nested request of the same app
    /// finds <c>Flushing</c> running and waits for it, the flush waits for the callback. Both hang forever, and so does every
    /// later request of the app (each waits for the same <c>Flushing</c>), until the process restarts.</summary>
    [Fact]
    public async Task OnAlertRaisedByTheFlush_CallsTheSameAppSynchronously_DoesNotDeadlock()
    {
        (Task outer, CancellationTokenSource unblock, ScriptStore store) = await AlertReentryAsync(fromFlush: true);
        bool finished = await Finishes(outer, TimeSpan.FromSeconds(10));
        unblock.Cancel(); // release the nested call, so the flush can end and the run goes on
        _ = await Record.ExceptionAsync(() => outer.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(finished, "the request whose flush raised the alert did not finish within 10 s: the OnAlert callback's request of the same app waits for that flush (observed: deadlock)");
    }

    /// <summary>Held (control): the same callback, raised by an ordinary settlement (nothing pending), completes.</summary>
    [Fact]
    public async Task OnAlertRaisedBySettlement_CallsTheSameAppSynchronously_Completes()
    {
        (Task outer, CancellationTokenSource unblock, _) = await AlertReentryAsync(fromFlush: false);
        bool finished = await Finishes(outer, TimeSpan.FromSeconds(10));
        unblock.Cancel();
        _ = await Record.ExceptionAsync(() => outer.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(finished);
    }

    private static async Task<(Task Outer, CancellationTokenSource Unblock, ScriptStore Store)> AlertReentryAsync(bool fromFlush)
    {
        var time = new FakeTimeProvider(March10);
        var store = new ScriptStore(time);
        var inner = new CountingChatClient { Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 1000 } }; // 600,750
        var unblock = new CancellationTokenSource();
        IChatClient? self = null;
        int nested = 0;
        IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(new ServiceCollection()
            .AddSingleton<IDifyBudgetStore>(store)
            .AddSingleton<TimeProvider>(time)
            .AddDifyMetadata(o =>
            {
                o.Budgets.Default = new DifyBudget { LimitUsd = 0.01m, Period = DifyBudgetPeriod.Month }; // 10,000,000 nano
                o.Budgets.AlertAt.Add(0.05);
                o.Budgets.OnAlert = alert =>
                {
                    if (Interlocked.Exchange(ref nested, 1) == 0)
                    {
                        try
                        {
                            _ = self!.GetResponseAsync("summarise the spend", Options(alert.AppId), unblock.Token).GetAwaiter().GetResult();
                        }
                        catch (OperationCanceledException)
                        {
                        }
                    }
                };
            })
            .BuildServiceProvider());
        self = client;
        if (fromFlush)
        {
            store.ReserveFault = store.SettleFault = () => new TimeoutException("store down");
            await client.GetResponseAsync("hello", Options("alert-app")); // unchecked; settlement fails: 600,750 pending, no alert
            store.ReserveFault = store.SettleFault = null;
        }

        inner.Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 3 };
        if (!fromFlush)
        {
            inner.Usage = new UsageDetails { InputTokenCount = 5, OutputTokenCount = 1000 }; // the settlement crosses 5 %
        }

        Task outer = Task.Run(() => client.GetResponseAsync("hello", Options("alert-app")));
        return (outer, unblock, store);
    }

    // ---- 2. a store operation that ends in its own OperationCanceledException: the flush retries forever ----

    /// <summary><c>ReserveAsync</c> treats an <see cref="OperationCanceledException"/> that is not the caller's (a store's own
    /// timeout, e.g. a <see cref="TaskCanceledException"/> from an HTTP client or a linked timeout token) as a store failure:
    /// Allow sends unchecked, Refuse refuses. <c>FlushPendingAsync</c> does not: its
    /// <c>catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)</c> takes the flush's failure for
    /// "another caller's flush stopped with its caller" and starts the flush again, forever: the request neither is sent nor
    /// refused, and it hammers the store (a store that fails synchronously makes it a hot loop that never yields).</summary>
    [Theory]
    [InlineData(DifyBudgetStoreFailure.Allow)]
    [InlineData(DifyBudgetStoreFailure.Refuse)]
    public async Task FlushFailingWithTheStoresOwnCancellation_IsAStoreFailure_NotRetriedForever(DifyBudgetStoreFailure onFailure)
    {
        var time = new FakeTimeProvider(March10);
        var store = new ScriptStore(time);
        var inner = new CountingChatClient();
        using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(new ServiceCollection()
            .AddSingleton<IDifyBudgetStore>(store)
            .AddSingleton<TimeProvider>(time)
            .AddDifyMetadata(o =>
            {
                o.Budgets.Default = new DifyBudget { LimitUsd = 1m, Period = DifyBudgetPeriod.Month };
                o.Budgets.OnStoreFailure = DifyBudgetStoreFailure.Allow;
            })
            .BuildServiceProvider());
        store.ReserveFault = store.SettleFault = () => new TimeoutException("store down");
        await client.GetResponseAsync("hello", Options("oce-app")); // unchecked; settlement fails: 2,550 pending

        // The store is still down; now its operations end with its own timeout, as a TaskCanceledException.
        store.Delay = TimeSpan.FromMilliseconds(5);
        store.ReserveFault = store.SettleFault = () => new TaskCanceledException("the store's own timeout");
        int settlesBefore = store.SettleCalls;
        using IChatClient refusing = new ChatClientBuilder(inner).UseDifyMetadata().Build(new ServiceCollection()
            .AddSingleton<IDifyBudgetStore>(store)
            .AddSingleton<TimeProvider>(time)
            .AddDifyMetadata(o =>
            {
                o.Budgets.Default = new DifyBudget { LimitUsd = 1m, Period = DifyBudgetPeriod.Month };
                o.Budgets.OnStoreFailure = onFailure;
            })
            .BuildServiceProvider());
        Task<Exception?> call = Task.Run(() => Record.ExceptionAsync(() => refusing.GetResponseAsync("hello", Options("oce-app"))));
        bool finished = await Finishes(call, TimeSpan.FromSeconds(5));
        int attempts = store.SettleCalls - settlesBefore;
        store.ReserveFault = store.SettleFault = null; // the store is back: the loop ends, the run goes on
        Exception? thrown = await call.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(finished, $"the request was neither sent nor refused within 5 s: the flush was retried {attempts} times");
        if (onFailure == DifyBudgetStoreFailure.Refuse)
        {
            Assert.IsType<DifyBudgetExceededException>(thrown);
        }
        else
        {
            Assert.Null(thrown);
        }
    }

    // ---- 3. a cost kept pending while the flush is in flight: the waiters return without it ----

    /// <summary>"the app's reservations wait while one adds it, so none is checked without it". A month budget of 131,000 nano.
    /// B reserved 62,400 and is out at the model. The store fails once: A goes unchecked, 2,550 pending. The store is back;
    /// R1 (max output 1: 3,000) starts the flush, which is slow. Meanwhile B answers, costing 75,000; its settlement (12,600
    /// above its reservation) fails, so 12,600 is kept pending (R1 is out at the model until R2 is done, so its settlement does not add it first): the flush in flight took its keys before. R2 (62,400) waits
    /// for the flush, which adds 2,550 and succeeds; R2 returns from the wait and is checked against 67,950 + 62,400 =
    /// 130,350 ≤ 131,000: sent, without the 12,600 pending that would make 142,950.</summary>
    [Fact]
    public async Task CostKeptPendingDuringTheFlush_AWaitingReservation_IsNotCheckedWithoutIt()
    {
        var time = new FakeTimeProvider(March10);
        var store = new ScriptStore(time);
        var bAnswers = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bSent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inner = new GatedChatClient();
        using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(new ServiceCollection()
            .AddSingleton<IDifyBudgetStore>(store)
            .AddSingleton<TimeProvider>(time)
            .AddDifyMetadata(o => o.Budgets.Default = new DifyBudget { LimitUsd = 0.000131m, Period = DifyBudgetPeriod.Month })
            .BuildServiceProvider());

        inner.Next = async () =>
        {
            bSent.SetResult();
            await bAnswers.Task;
            return new UsageDetails { InputTokenCount = 100, OutputTokenCount = 100 }; // 75,000
        };
        Task b = Task.Run(() => client.GetResponseAsync("hello", Options("race-app")));
        await bSent.Task.WaitAsync(TimeSpan.FromSeconds(10)); // B reserved 62,400

        inner.Next = null;
        store.ReserveFault = store.SettleFault = () => new TimeoutException("store down");
        await client.GetResponseAsync("hello", Options("race-app")); // A: unchecked; settlement fails: 2,550 pending
        store.ReserveFault = store.SettleFault = null;

        var flushHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseFlush = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int bSettlements = 0;
        store.BeforeSettle = async delta =>
        {
            if (delta == 2_550)
            {
                flushHeld.SetResult();
                await releaseFlush.Task;
            }
            else if (delta == 12_600 && Interlocked.Increment(ref bSettlements) == 1)
            {
                throw new TimeoutException("store down"); // B's settlement, once: 12,600 kept pending
            }
        };
        var r1Answers = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        inner.OneTokenRequestsWait = r1Answers.Task; // R1 is out at the model while R2 reserves (its settlement would add the 12,600)
        Task r1 = Task.Run(() => client.GetResponseAsync("hello", Options("race-app", maxOutput: 1)));
        await flushHeld.Task.WaitAsync(TimeSpan.FromSeconds(10));
        bAnswers.SetResult();
        await b.WaitAsync(TimeSpan.FromSeconds(10)); // B settled: its settlement failed, 12,600 pending

        Task<Exception?> r2 = Task.Run(() => Record.ExceptionAsync(() => client.GetResponseAsync("hello", Options("race-app"))));
        await Task.Delay(200);
        releaseFlush.SetResult();
        Exception? thrown = await r2.WaitAsync(TimeSpan.FromSeconds(10));
        r1Answers.SetResult();
        await r1.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.IsType<DifyBudgetExceededException>(thrown); // observed: sent, checked without the 12,600 pending
    }

    // ---- 4. held: a flusher cancelled by its caller; its waiters finish, no task exception is left unobserved ----

    [Fact]
    public async Task FlusherCancelled_WaitersFinish_NoUnobservedTaskException()
    {
        var unobserved = new List<Exception>();
        EventHandler<UnobservedTaskExceptionEventArgs> handler = (_, e) =>
        {
            lock (unobserved)
            {
                unobserved.Add(e.Exception);
            }
        };
        TaskScheduler.UnobservedTaskException += handler;
        try
        {
            var time = new FakeTimeProvider(March10);
            var store = new ScriptStore(time);
            var inner = new CountingChatClient();
            using IChatClient client = new ChatClientBuilder(inner).UseDifyMetadata().Build(new ServiceCollection()
                .AddSingleton<IDifyBudgetStore>(store)
                .AddSingleton<TimeProvider>(time)
                .AddDifyMetadata(o => o.Budgets.Default = new DifyBudget { LimitUsd = 1m, Period = DifyBudgetPeriod.Month })
                .BuildServiceProvider());
            store.ReserveFault = store.SettleFault = () => new TimeoutException("store down");
            await client.GetResponseAsync("hello", Options("cancel-app"));
            store.ReserveFault = store.SettleFault = null;

            var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            int first = 0;
            store.BeforeSettle = async _ =>
            {
                if (Interlocked.Exchange(ref first, 1) == 0)
                {
                    held.SetResult();
                    await Task.Delay(Timeout.Infinite, store.LastToken); // honours the flusher's token
                }
            };
            using var cts = new CancellationTokenSource();
            Task flusher = Task.Run(() => client.GetResponseAsync("hello", Options("cancel-app"), cts.Token));
            await held.Task.WaitAsync(TimeSpan.FromSeconds(10));
            Task[] waiters = [.. Enumerable.Range(0, 20).Select(_ => Task.Run(() => client.GetResponseAsync("hello", Options("cancel-app"))))];
            await Task.Delay(100);
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => flusher.WaitAsync(TimeSpan.FromSeconds(10)));
            await Task.WhenAll(waiters).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(21, inner.Calls); // the cancelled flusher sends nothing
            Assert.Equal(21 * 2_550, store.Inner.SpentOf(Key("cancel-app")));
        }
        finally
        {
            for (int i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }

            TaskScheduler.UnobservedTaskException -= handler;
        }

        Assert.Empty(unobserved);
    }

    private static async Task<bool> Finishes(Task task, TimeSpan within)
    {
        try
        {
            await task.WaitAsync(within);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch
        {
            return true;
        }
    }

    private sealed class ScriptStore(TimeProvider time) : IDifyBudgetStore
    {
        private int _settles;

        public InMemoryDifyBudgetStore Inner { get; } = new(time);

        public volatile Func<Exception>? ReserveFault;
        public volatile Func<Exception>? SettleFault;
        public volatile Func<long, Task>? BeforeSettle;

        public TimeSpan Delay { get; set; }

        public int SettleCalls => Volatile.Read(ref _settles);

        public CancellationToken LastToken { get; private set; }

        public async ValueTask<DifyBudgetReserveResult> ReserveAsync(DifyBudgetKey key, long amount, long limit, CancellationToken cancellationToken)
        {
            if (Delay > TimeSpan.Zero)
            {
                await Task.Delay(Delay, CancellationToken.None);
            }

            return ReserveFault is { } fault ? throw fault() : await Inner.ReserveAsync(key, amount, limit, cancellationToken);
        }

        public async ValueTask<DifyBudgetSettleResult> SettleAsync(DifyBudgetKey key, long delta, DifyBudgetThreshold[] alertAt, CancellationToken cancellationToken)
        {
            _ = Interlocked.Increment(ref _settles);
            LastToken = cancellationToken;
            if (Delay > TimeSpan.Zero)
            {
                await Task.Delay(Delay, CancellationToken.None);
            }

            if (BeforeSettle is { } before)
            {
                await before(delta);
            }

            return SettleFault is { } fault ? throw fault() : await Inner.SettleAsync(key, delta, alertAt, cancellationToken);
        }
    }

    /// <summary>Answers with CountingChatClient's default usage (2,550 nano on gpt-4o-mini), or as <see cref="Next"/> says once.</summary>
    private sealed class GatedChatClient : IChatClient
    {
        public volatile Func<Task<UsageDetails>>? Next;

        public Task? OneTokenRequestsWait { get; set; }

        public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            if (options?.MaxOutputTokens == 1 && OneTokenRequestsWait is { } wait)
            {
                await wait;
            }

            UsageDetails usage = Interlocked.Exchange(ref Next, null) is { } next
                ? await next()
                : new UsageDetails { InputTokenCount = 5, OutputTokenCount = 3 };
            return new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")) { Usage = usage, ModelId = options?.ModelId };
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}
