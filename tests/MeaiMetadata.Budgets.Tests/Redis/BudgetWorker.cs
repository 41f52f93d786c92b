using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace MeaiMetadata.Budgets.Tests.Redis;

/// <summary>A tests/MeaiMetadata.Budgets.Worker process (<c>dotnet MeaiMetadata.Budgets.Worker.dll ...</c>): a separate OS
/// process whose instances share a budget with others; its JSON lines are read as they come.</summary>
internal sealed class BudgetWorker : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _stderr = new();
    private readonly Task _reading;

    private BudgetWorker(Process process)
    {
        _process = process;
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_stderr)
                {
                    _ = _stderr.AppendLine(e.Data);
                }
            }
        };
        _process.BeginErrorReadLine();
        _reading = Task.Run(async () =>
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } line)
            {
                _ = _lines.Writer.TryWrite(line);
            }

            _ = _lines.Writer.TryComplete();
        });
    }

    /// <summary>Gets the worker's dll: built beside this test project (a ProjectReference without its assembly), in the
    /// same configuration and target framework as this test assembly.</summary>
    public static string DllPath { get; } = Find();

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Starts the worker with <paramref name="args"/> (see its Program.cs) and waits for its ready line.</summary>
    public static async Task<BudgetWorker> StartAsync(IEnumerable<string> args, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(DllPath);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        var worker = new BudgetWorker(Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start"));
        JsonElement ready = await worker.ReadAsync(cancellationToken);
        Assert.True(ready.TryGetProperty("ready", out _), $"the worker's first line was {ready}, not its ready line");
        return worker;
    }

    /// <summary>Lets the worker fire its waves, now or at <paramref name="at"/>.</summary>
    public async Task GoAsync(DateTimeOffset? at = null)
    {
        await _process.StandardInput.WriteLineAsync(at is { } when ? "go " + when.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture) : "go");
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Returns the worker's next JSON line; throws, with its exit code and standard error, when it has ended.</summary>
    public async Task<JsonElement> ReadAsync(CancellationToken cancellationToken)
    {
        if (await _lines.Reader.WaitToReadAsync(cancellationToken) && _lines.Reader.TryRead(out string? line))
        {
            return JsonDocument.Parse(line).RootElement.Clone();
        }

        await _process.WaitForExitAsync(cancellationToken);
        throw new InvalidOperationException($"worker {_process.Id} ended (exit code {_process.ExitCode}) without the next line; its standard error:\n{Stderr}");
    }

    /// <summary>Returns the lines the worker printed and nobody read, once it has ended.</summary>
    public async Task<List<string>> RemainingLinesAsync(CancellationToken cancellationToken)
    {
        await _reading.WaitAsync(cancellationToken);
        var rest = new List<string>();
        while (_lines.Reader.TryRead(out string? line))
        {
            rest.Add(line);
        }

        return rest;
    }

    public Task WaitForExitAsync(CancellationToken cancellationToken) => _process.WaitForExitAsync(cancellationToken);

    /// <summary>Kills the worker and its child processes at once (no clean-up of any kind runs in it).</summary>
    public void Kill() => _process.Kill(entireProcessTree: true);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        await _reading;
        _process.Dispose();
    }

    private static string DotnetHost()
    {
        // dotnet test sets DOTNET_HOST_PATH to the host that runs it; the test host itself may be an apphost (testhost).
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host))
        {
            return host;
        }

        string? self = Environment.ProcessPath;
        return self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
    }

    private static string Find()
    {
        // <tests>/MeaiMetadata.Budgets.Tests/bin/<configuration>/<tfm>/ -> <tests>/MeaiMetadata.Budgets.Worker/bin/<configuration>/<tfm>/
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        DirectoryInfo configuration = here.Parent!, tests = configuration.Parent!.Parent!.Parent!;
        string dll = Path.Combine(tests.FullName, "MeaiMetadata.Budgets.Worker", "bin", configuration.Name, here.Name, "MeaiMetadata.Budgets.Worker.dll");
        return File.Exists(dll) ? dll
            : throw new FileNotFoundException($"The worker process's dll is not at {dll}: build tests/MeaiMetadata.Budgets.Tests (its ProjectReference builds the worker).", dll);
    }
}
