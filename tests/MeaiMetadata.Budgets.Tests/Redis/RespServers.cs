using System.Net;
using System.Net.Sockets;
using Garnet;

namespace MeaiMetadata.Budgets.Tests.Redis;

/// <summary>An embedded Garnet server hosted in this process on a free loopback port (always there: no install).</summary>
public sealed class GarnetFixture : IDisposable
{
    private GarnetServer? _server;

    public GarnetFixture() => Start();

    public int Port { get; private set; }

    public string Configuration => $"127.0.0.1:{Port},abortConnect=false,connectTimeout=2000,asyncTimeout=2000,syncTimeout=2000";

    /// <summary>Starts the server (again, on the same port after <see cref="Stop"/>).</summary>
    public void Start()
    {
        if (Port == 0)
        {
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        // Lua scripts run only with --lua, and atomically (keys locked for the script) only with --lua-transaction-mode.
        _server = new GarnetServer(["--bind", "127.0.0.1", "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--lua", "true", "--lua-transaction-mode", "true", "--memory", "256m", "--index", "16m", "--logger-level", "Warning"]);
        _server.Start();
    }

    public void Stop()
    {
        _server?.Dispose();
        _server = null;
    }

    public void Dispose() => Stop();
}

/// <summary>A real redis-server on 127.0.0.1:6379 (CI installs Debian's and starts it).</summary>
public static class RealRedis
{
    public const string Configuration = "127.0.0.1:6379,abortConnect=false,connectTimeout=2000,asyncTimeout=2000,syncTimeout=2000";

    public static readonly bool Reachable = Probe();

    private static bool Probe()
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, 6379); // on loopback a closed port refuses at once
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

/// <summary>A test that needs the real redis-server: reported as skipped, by name and with the reason, where none is
/// reachable; under CI (CI=true) it runs, and fails, instead.</summary>
public sealed class RedisFactAttribute : FactAttribute
{
    public RedisFactAttribute()
    {
        if (!RealRedis.Reachable && Environment.GetEnvironmentVariable("CI") != "true")
        {
            Skip = "NEEDS redis-server on 127.0.0.1:6379, not reachable here: this real-Redis test did not run (.ci/run installs and starts it).";
        }
    }
}

/// <summary>A redis-server of a test's own, started on a free loopback port (no persistence), that the test can kill.</summary>
public sealed class RedisServerProcess : IDisposable
{
    private readonly System.Diagnostics.Process _process;

    private RedisServerProcess(System.Diagnostics.Process process, int port)
    {
        _process = process;
        Port = port;
    }

    /// <summary>Gets where the redis-server binary is (on PATH), or null.</summary>
    public static string? Binary { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(dir => Path.Combine(dir, "redis-server"))
        .FirstOrDefault(File.Exists);

    public int Port { get; }

    public string Configuration => $"127.0.0.1:{Port},abortConnect=false,connectTimeout=2000,asyncTimeout=2000,syncTimeout=2000";

    public static async Task<RedisServerProcess> StartAsync()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();

        var start = new System.Diagnostics.ProcessStartInfo(Binary ?? throw new InvalidOperationException("redis-server is not on PATH"))
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (string arg in (string[])["--bind", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--save", "", "--appendonly", "no"])
        {
            start.ArgumentList.Add(arg);
        }

        var process = System.Diagnostics.Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { }; // drained, not kept
        process.BeginOutputReadLine();
        var server = new RedisServerProcess(process, port);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return server;
            }
            catch (SocketException) when (attempt < 100 && !process.HasExited)
            {
                await Task.Delay(100);
            }
            catch
            {
                server.Dispose();
                throw;
            }
        }
    }

    /// <summary>Kills the server (SIGKILL): its clients' connections drop at once.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}

/// <summary>A theory that starts a redis-server of its own: reported as skipped, by name and with the reason, where the
/// binary is not on PATH; under CI (CI=true, which installs it) it runs, and fails, instead.</summary>
public sealed class RedisServerTheoryAttribute : TheoryAttribute
{
    public RedisServerTheoryAttribute()
    {
        if (RedisServerProcess.Binary is null && Environment.GetEnvironmentVariable("CI") != "true")
        {
            Skip = "NEEDS the redis-server binary on PATH, not found here: this real-Redis test did not run (.ci/run installs it).";
        }
    }
}
