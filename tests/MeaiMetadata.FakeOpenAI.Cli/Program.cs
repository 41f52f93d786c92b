// The strict fake OpenAI server as a process, for checks that run programs outside the tests (.ci/docs-check.sh):
//   dotnet run --project tests/MeaiMetadata.FakeOpenAI.Cli [-- --api-key KEY]
// Listens on 127.0.0.1 (a port the OS picks) and prints its base URL (http://127.0.0.1:PORT/v1/) as the first line, then
// one line per request it receives, e.g.
//   POST /v1/chat/completions 200 store=true metadata={"dify_app_id":"support-bot","dify_source":"dify"}
// Serves until the process is stopped (Ctrl+C, SIGTERM). Exit codes: 0 stopped, 2 bad arguments.
using System.Runtime.InteropServices;
using System.Text.Json;
using MeaiMetadata.FakeOpenAI;

var options = new FakeOpenAIServerOptions();
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--api-key" && i + 1 < args.Length && args[i + 1].Length > 0)
    {
        options.ApiKey = args[++i];
        continue;
    }

    Console.Error.WriteLine($"fake-openai: unknown or incomplete argument '{args[i]}'. Usage: [--api-key KEY]");
    return 2;
}

await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(options);
Console.WriteLine(server.BaseAddress);

using var stop = new CancellationTokenSource();
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; stop.Cancel(); });
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; stop.Cancel(); });

// The fake records requests; print each new one (a poll keeps the fake library unchanged).
int printed = 0;
while (true)
{
    IReadOnlyList<RecordedRequest> requests = server.Requests;
    for (; printed < requests.Count; printed++)
    {
        RecordedRequest r = requests[printed];
        string store = r.Store is { } s ? (s ? "true" : "false") : "unset";
        string metadata = r.Metadata is null ? "none" : JsonSerializer.Serialize(r.Metadata);
        Console.WriteLine($"{r.Method} {r.Path} {r.StatusCode} store={store} metadata={metadata}{(r.Error is null ? "" : " error=" + r.Error)}");
    }

    if (stop.IsCancellationRequested)
    {
        return 0;
    }

    try
    {
        await Task.Delay(50, stop.Token);
    }
    catch (OperationCanceledException)
    {
        // One more pass prints what arrived meanwhile.
    }
}
