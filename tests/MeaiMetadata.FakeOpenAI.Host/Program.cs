using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Runtime.InteropServices;
using MeaiMetadata;
using MeaiMetadata.FakeOpenAI;
using Microsoft.Extensions.AI;
using OpenAI;

// The strict fake OpenAI server on 127.0.0.1, seeded with stored completions the way an app makes them: Chat Completions
// requests through UseDifyMetadata inside DifySession scopes (tagged requests go out with store: true). Prints its base
// URL and what this process's meter (dify.app.cost) counted, then serves until Ctrl+C or SIGTERM, 10 minutes at most.
//   dotnet run --project tests/MeaiMetadata.FakeOpenAI.Host [-- --port 5199]
int port = 0;
if (args.Length == 2 && args[0] == "--port" && int.TryParse(args[1], CultureInfo.InvariantCulture, out int p) && p is >= 0 and <= 65535)
{
    port = p;
}
else if (args.Length > 0)
{
    Console.Error.WriteLine("Usage: dotnet run --project tests/MeaiMetadata.FakeOpenAI.Host [-- --port N]");
    return 2;
}

// Every answer reports 1,000 input tokens (200 of them cached) and 100 output tokens.
await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(
    new FakeOpenAIServerOptions { Port = port, InputTokens = 1_000, CachedInputTokens = 200, OutputTokens = 100 });

var metered = new SortedDictionary<string, double>(StringComparer.Ordinal);
using var listener = new MeterListener
{
    InstrumentPublished = (instrument, l) =>
    {
        if (instrument.Meter.Name == DifyMetadataTelemetry.MeterName && instrument.Name == DifyMetadataTelemetry.CostCounter)
        {
            l.EnableMeasurementEvents(instrument);
        }
    },
};
listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
{
    foreach (KeyValuePair<string, object?> tag in tags)
    {
        if (tag.Key == DifyMetadataTelemetry.AppIdTag && tag.Value is string app)
        {
            metered[app] = metered.GetValueOrDefault(app) + value;
        }
    }
});
listener.Start();

OpenAIClient openAI = new(new ApiKeyCredential("no-key-needed"), new OpenAIClientOptions { Endpoint = server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) });
(string App, string Model, int Count)[] seeds = [("support-bot", "gpt-4o-mini", 3), ("sales-assistant", "gpt-4o-mini", 2), ("sales-assistant", "my-finetune", 1)];
foreach ((string app, string model, int count) in seeds)
{
    IChatClient client = new ChatClientBuilder(openAI.GetChatClient(model).AsIChatClient()).UseDifyMetadata().Build();
    for (int i = 0; i < count; i++)
    {
        using (DifySession.Begin(app))
        {
            await client.GetResponseAsync("Hello");
        }
    }
}

listener.RecordObservableInstruments();
Console.WriteLine($"Strict fake OpenAI endpoint: {server.BaseAddress}");
Console.WriteLine($"Stored through UseDifyMetadata: {string.Join(", ", seeds.Select(s => $"{s.Count} x {s.App} on {s.Model}"))} (1000 input tokens, 200 cached, 100 output each).");
Console.WriteLine($"This process's meter, dify.app.cost (built-in prices; my-finetune has none): {string.Join(", ", metered.Select(m => $"{m.Key} {m.Value.ToString("0.000000", CultureInfo.InvariantCulture)}"))} USD.");
Console.WriteLine("Serving until Ctrl+C or SIGTERM (10 minutes at most).");

var stop = new TaskCompletionSource();
using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
await Task.WhenAny(stop.Task, Task.Delay(TimeSpan.FromMinutes(10)));
return 0;
