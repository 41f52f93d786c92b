using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Garnet;
using MeaiMetadata.Budgets;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using StackExchange.Redis.Profiling;

namespace MeaiMetadata.Benchmarks.Infrastructure;

/// <summary>Where a budgeted benchmark row keeps its budgets.</summary>
public enum BudgetStore
{
    /// <summary><c>AddDifyMetadata</c> without a budget: the tagged call, nothing reserved.</summary>
    None,

    /// <summary>A budget on the in-memory store <c>AddDifyMetadata</c> registers (one process).</summary>
    InMemory,

    /// <summary>A budget on an embedded Garnet server in this process, over loopback TCP (as the tests run it).</summary>
    Garnet,

    /// <summary>A budget on redis-server at 127.0.0.1:6379 (a separate process), over loopback TCP.</summary>
    Redis,
}

/// <summary>
/// The budgeted pipelines of the budget benchmarks: <c>AddDifyMetadata</c> with a budget on the chosen store and
/// <c>UseDifyMetadata()</c> over a bare client. The budget is large (a million USD a day) so the measured calls never hit it;
/// each call reserves its maximum cost (input bound + 16,384 output tokens) and settles to the canned usage.
/// </summary>
public sealed class BudgetPipeline : IDisposable
{
    public const decimal LimitUsd = 1_000_000m;
    public const string RedisConfiguration = "127.0.0.1:6379,abortConnect=false,connectTimeout=2000,syncTimeout=5000,asyncTimeout=5000";

    private readonly ServiceProvider _services;
    private readonly EmbeddedGarnet? _garnet;
    private ProfilingSession? _profiling;

    private BudgetPipeline(BudgetStore store, IChatClient bare)
    {
        Store = store;
        var services = new ServiceCollection().AddDifyMetadata(o =>
        {
            if (store != BudgetStore.None)
            {
                o.Budgets.Default = new DifyBudget { LimitUsd = LimitUsd, Period = DifyBudgetPeriod.Day };
            }
        });
        if (store is BudgetStore.Garnet or BudgetStore.Redis)
        {
            string configuration = store == BudgetStore.Redis ? RedisConfiguration : (_garnet = new EmbeddedGarnet()).Configuration;
            Connection = ConnectionMultiplexer.Connect(configuration);
            Connection.RegisterProfiler(() => _profiling); // null outside CountRoundTrips: nothing is profiled while measuring
            _ = services.AddDifyBudgetRedisStore(Connection);
        }

        _services = services.BuildServiceProvider();
        Client = new ChatClientBuilder(bare).UseDifyMetadata().Build(_services);
    }

    public BudgetStore Store { get; }

    /// <summary>Gets the budgeted (or, for <see cref="BudgetStore.None"/>, only tagged) client.</summary>
    public IChatClient Client { get; }

    /// <summary>Gets the connection of a RESP store, or <see langword="null"/>.</summary>
    public ConnectionMultiplexer? Connection { get; }

    /// <summary>Gets a value indicating whether redis-server answers on 127.0.0.1:6379 (a closed loopback port refuses at once).</summary>
    public static bool RedisReachable { get; } = Probe();

    public static BudgetPipeline Create(BudgetStore store, IChatClient bare)
    {
        if (store == BudgetStore.Redis && !RedisReachable)
        {
            throw Check.Fail("redis-server is not reachable on 127.0.0.1:6379; start it (redis-server --daemonize yes --port 6379 --save '' --appendonly no).");
        }

        return new BudgetPipeline(store, bare);
    }

    /// <summary>Runs <paramref name="call"/> with the connection profiled and returns the commands it sent (RESP stores only).</summary>
    public IReadOnlyList<IProfiledCommand> CountRoundTrips(Action call)
    {
        if (Connection is null)
        {
            call();
            return [];
        }

        _profiling = new ProfilingSession();
        try
        {
            call();
            return [.. _profiling.FinishProfiling()];
        }
        finally
        {
            _profiling = null;
        }
    }

    /// <summary>Returns the spend kept for <paramref name="appId"/> today, in nano-dollars (in-memory store only; else -1).</summary>
    public long SpentToday(string appId) =>
        _services.GetRequiredService<IDifyBudgetStore>() is InMemoryDifyBudgetStore memory
            ? memory.SpentOf(DifyBudgetCall.KeyOf(appId, DifyBudgetPeriod.Day, DifyBudgetCall.Bounds(DateTimeOffset.UtcNow, DifyBudgetPeriod.Day).Start))
            : Connection is { } connection
                ? (long?)connection.GetDatabase().StringGet(DifyBudgetCall.KeyOf(appId, DifyBudgetPeriod.Day, DifyBudgetCall.Bounds(DateTimeOffset.UtcNow, DifyBudgetPeriod.Day).Start)) ?? 0
                : -1;

    public void Dispose()
    {
        Client.Dispose();
        _services.Dispose();
        Connection?.Dispose();
        _garnet?.Dispose();
    }

    private static bool Probe()
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, 6379);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

/// <summary>An embedded Garnet server on a free loopback port, started as tests/MeaiMetadata.Budgets.Tests/Redis/RespServers.cs
/// starts it (Lua on, atomic scripts).</summary>
public sealed class EmbeddedGarnet : IDisposable
{
    private readonly GarnetServer _server;

    public EmbeddedGarnet()
    {
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        _server = new GarnetServer(["--bind", "127.0.0.1", "--port", Port.ToString(CultureInfo.InvariantCulture),
            "--lua", "true", "--lua-transaction-mode", "true", "--memory", "256m", "--index", "16m", "--logger-level", "Warning"]);
        _server.Start();
    }

    public int Port { get; }

    public string Configuration => $"127.0.0.1:{Port},abortConnect=false,connectTimeout=2000,syncTimeout=5000,asyncTimeout=5000";

    public void Dispose() => _server.Dispose();
}
