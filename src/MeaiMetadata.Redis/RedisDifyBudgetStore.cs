using MeaiMetadata.Budgets;
using StackExchange.Redis;

namespace MeaiMetadata.Redis;

/// <summary>The budget store on a RESP server (Redis, Valkey, Garnet): one atomic Lua script per operation, so one round
/// trip before a call (reserve if it fits) and one after (settle and claim alerts). A reservation never settled (the process
/// died) stays charged until its period's key expires, a day after the period ends.</summary>
/// <remarks>Garnet runs scripts only with <c>--lua</c>, and atomically only with <c>--lua-transaction-mode</c>.
/// StackExchange.Redis loads each script once per server and sends <c>EVALSHA</c> after the first call (measured with
/// redis-server's <c>INFO commandstats</c>). Operations do not stop on cancellation: a reservation made on the server after
/// the caller stopped waiting would stay charged with nothing to settle it.</remarks>
internal sealed class RedisDifyBudgetStore : IDifyBudgetStore, IAsyncDisposable, IDisposable
{
    // KEYS[1] spend, KEYS[2] its twin (the app's other kind of period); ARGV amount, limit, expiry, twin expiry (seconds
    // from now: the server's clock need not agree with the instance's). Returns {1|0, spend}.
    internal const string ReserveScript = """
        local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
        local amount = tonumber(ARGV[1])
        if spent + amount > tonumber(ARGV[2]) then
          return {0, spent}
        end
        spent = redis.call('INCRBY', KEYS[1], amount)
        redis.call('EXPIRE', KEYS[1], ARGV[3])
        redis.call('INCRBY', KEYS[2], amount)
        redis.call('EXPIRE', KEYS[2], ARGV[4])
        return {1, spent}
        """;

    // KEYS[1] spend, KEYS[2] its twin, KEYS[3..] alert markers (one per fraction); ARGV delta, expiry, twin expiry, the
    // spend that reaches each marker's alert. Returns {spend, index of each marker claimed (from 0)...}.
    internal const string SettleScript = """
        local spent = redis.call('INCRBY', KEYS[1], ARGV[1])
        redis.call('EXPIRE', KEYS[1], ARGV[2])
        redis.call('INCRBY', KEYS[2], ARGV[1])
        redis.call('EXPIRE', KEYS[2], ARGV[3])
        local result = {spent}
        for i = 3, #KEYS do
          if spent >= tonumber(ARGV[i + 1]) and redis.call('SETNX', KEYS[i], '1') == 1 then
            redis.call('EXPIRE', KEYS[i], ARGV[2])
            result[#result + 1] = i - 3
          end
        end
        return result
        """;

    private readonly Lazy<Task<IConnectionMultiplexer>> _connection;
    private readonly TimeProvider _time;
    private readonly bool _owned;

    /// <summary>A store on a multiplexer the caller owns; <paramref name="time"/> is the instances' clock (the system's by default).</summary>
    public RedisDifyBudgetStore(IConnectionMultiplexer connection, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connection = new(Task.FromResult(connection));
        _time = time ?? TimeProvider.System;
    }

    /// <summary>A store that connects on first use with <paramref name="configuration"/> and owns the connection.</summary>
    public RedisDifyBudgetStore(string configuration, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        ArgumentException.ThrowIfNullOrWhiteSpace(configuration);
        ConfigurationOptions options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false; // a store down at start-up is a store failure (OnStoreFailure), not a crash
        _connection = new(async () => await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false));
        _owned = true;
    }

    public async ValueTask<DifyBudgetReserveResult> ReserveAsync(DifyBudgetKey key, long amount, long limit, CancellationToken cancellationToken)
    {
        IDatabase db = (await _connection.Value.ConfigureAwait(false)).GetDatabase();
        (RedisKey twin, long twinExpiry) = Twin(key);
        var result = (RedisResult[])(await db.ScriptEvaluateAsync(
            ReserveScript, [key.Name, twin], [amount, limit, SecondsUntil(key.ExpiresAt), twinExpiry]).ConfigureAwait(false))!;
        return new DifyBudgetReserveResult((long)result[0] == 1, (long)result[1]);
    }

    public async ValueTask<DifyBudgetSettleResult> SettleAsync(DifyBudgetKey key, long delta, DifyBudgetThreshold[] alertAt, CancellationToken cancellationToken)
    {
        IDatabase db = (await _connection.Value.ConfigureAwait(false)).GetDatabase();
        (RedisKey twin, long twinExpiry) = Twin(key);
        var keys = new RedisKey[alertAt.Length + 2];
        var values = new RedisValue[alertAt.Length + 3];
        (keys[0], keys[1]) = (key.Name, twin);
        (values[0], values[1], values[2]) = (delta, SecondsUntil(key.ExpiresAt), twinExpiry);
        for (int i = 0; i < alertAt.Length; i++)
        {
            keys[i + 2] = alertAt[i].MarkerOf(key.Name);
            values[i + 3] = alertAt[i].Spend;
        }

        var result = (RedisResult[])(await db.ScriptEvaluateAsync(SettleScript, keys, values).ConfigureAwait(false))!;
        double[] claimed = new double[result.Length - 1];
        for (int i = 1; i < result.Length; i++)
        {
            claimed[i - 1] = alertAt[(int)result[i]].Fraction;
        }

        return new DifyBudgetSettleResult((long)result[0], claimed);
    }

    /// <summary>The twin key, or a key of its own that only this key's operations touch (a key without a twin, in tests).</summary>
    private (RedisKey Twin, long Expiry) Twin(DifyBudgetKey key) =>
        key.Twin is { } twin ? (twin, SecondsUntil(key.TwinExpiresAt)) : (key.Name + ":twin", SecondsUntil(key.ExpiresAt));

    /// <summary>Seconds from now until <paramref name="expiresAt"/> by the instance's clock (at least 1: a period that ended
    /// long ago still takes a cost kept pending, and goes with it).</summary>
    private long SecondsUntil(DateTimeOffset expiresAt) => Math.Max(1, (long)Math.Ceiling((expiresAt - _time.GetUtcNow()).TotalSeconds));

    /// <summary>Returns the spend under <paramref name="key"/> (tests, the demo).</summary>
    internal async Task<long> SpentOfAsync(string key)
    {
        IDatabase db = (await _connection.Value.ConfigureAwait(false)).GetDatabase();
        return (long?)await db.StringGetAsync(key).ConfigureAwait(false) ?? 0;
    }

    public async ValueTask DisposeAsync()
    {
        if (_owned && _connection.IsValueCreated && _connection.Value.IsCompletedSuccessfully)
        {
            await _connection.Value.Result.DisposeAsync().ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        if (_owned && _connection.IsValueCreated && _connection.Value.IsCompletedSuccessfully)
        {
            _connection.Value.Result.Dispose();
        }
    }
}
