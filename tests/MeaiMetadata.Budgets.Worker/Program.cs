using System.ClientModel;
using System.ClientModel.Primitives;
using System.Globalization;
using System.Text.Json;
using MeaiMetadata;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;

// One OS process of a budget shared across processes: builds --instances pipelines the way an app does (AddDifyMetadata
// bound from configuration, AddDifyBudgetRedisStore, AddChatClient(...).UseDifyMetadata() over the OpenAI SDK's client at
// --fake), each with its own service provider, store connection and OpenAI client; with --warmup-app, each instance first
// sends one request of that app (connecting its store and its HTTP client). Prints {"ready":true}, waits for a line "go"
// (or "go <unix ms>") on stdin, then fires each wave of --waves (e.g. 4,6) as that many concurrent requests of --app spread
// over the instances, one wave after the other, and prints one JSON line per wave: {"wave":1,"sent":4,"refused":0,"failed":0}.
//   dotnet MeaiMetadata.Budgets.Worker.dll --fake http://127.0.0.1:5000/v1/ --store 127.0.0.1:6379 --app app-1 \
//     --instances 2 --waves 500 --max-output 3 DifyMetadata:Budgets:Apps:app-1:LimitUsd=0.00042
// Exit codes: 0 every request was sent or refused by the budget, 1 some failed otherwise, 2 bad arguments.
var options = new Dictionary<string, string>(StringComparer.Ordinal);
var settings = new Dictionary<string, string?>(StringComparer.Ordinal);
for (int i = 0; i < args.Length; i++)
{
    if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length)
    {
        options[args[i][2..]] = args[++i];
    }
    else if (args[i].IndexOf('=', StringComparison.Ordinal) is int eq and > 0)
    {
        settings[args[i][..eq]] = args[i][(eq + 1)..];
    }
    else
    {
        return Usage($"unexpected argument '{args[i]}'");
    }
}

if (!options.TryGetValue("fake", out string? fake) || !Uri.TryCreate(fake, UriKind.Absolute, out Uri? endpoint) ||
    !options.TryGetValue("store", out string? store) || !options.TryGetValue("app", out string? app))
{
    return Usage("--fake, --store and --app are required");
}

string model = options.GetValueOrDefault("model", "gpt-4o-mini");
string message = options.GetValueOrDefault("message", "hello");
int instances = int.Parse(options.GetValueOrDefault("instances", "1"), CultureInfo.InvariantCulture);
int maxOutput = int.Parse(options.GetValueOrDefault("max-output", "3"), CultureInfo.InvariantCulture);
int[] waves = [.. options.GetValueOrDefault("waves", "1").Split(',').Select(w => int.Parse(w, CultureInfo.InvariantCulture))];

IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
var providers = new List<ServiceProvider>();
var clients = new List<IChatClient>();
for (int i = 0; i < instances; i++)
{
    var services = new ServiceCollection();
    _ = services.AddDifyMetadata(configuration.GetSection("DifyMetadata")).AddDifyBudgetRedisStore(store); // its own connection
    var openAI = new OpenAIClient(new ApiKeyCredential("test-key"), new OpenAIClientOptions { Endpoint = endpoint, RetryPolicy = new ClientRetryPolicy(0) });
    _ = services.AddChatClient(_ => openAI.GetChatClient(model).AsIChatClient()).UseDifyMetadata();
    ServiceProvider provider = services.BuildServiceProvider();
    providers.Add(provider);
    clients.Add(provider.GetRequiredService<IChatClient>());
}

if (options.TryGetValue("warmup-app", out string? warmupApp))
{
    foreach (IChatClient client in clients)
    {
        _ = await client.GetResponseAsync(message, new ChatOptions { MaxOutputTokens = maxOutput }.WithDifyAppId(warmupApp));
    }
}

Console.WriteLine(JsonSerializer.Serialize(new { ready = true, pid = Environment.ProcessId }));
// "go" fires now; "go <unix ms>" at that instant (several processes at once, whenever each read its line).
string[] go = (Console.ReadLine() ?? "").Split(' ');
if (go[0] != "go" || go.Length > 2)
{
    return Usage("expected 'go' or 'go <unix ms>' on stdin");
}

if (go.Length == 2 && DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(go[1], CultureInfo.InvariantCulture)) - DateTimeOffset.UtcNow is { Ticks: > 0 } wait)
{
    await Task.Delay(wait);
}

bool anyFailed = false;
for (int wave = 0; wave < waves.Length; wave++)
{
    int sent = 0, refused = 0, failed = 0;
    string? error = null;
    await Task.WhenAll(Enumerable.Range(0, waves[wave]).Select(async i =>
    {
        try
        {
            _ = await clients[i % clients.Count].GetResponseAsync(message, new ChatOptions { MaxOutputTokens = maxOutput }.WithDifyAppId(app));
            _ = Interlocked.Increment(ref sent);
        }
        catch (DifyBudgetExceededException)
        {
            _ = Interlocked.Increment(ref refused);
        }
        catch (Exception ex)
        {
            _ = Interlocked.Increment(ref failed);
            _ = Interlocked.CompareExchange(ref error, ex.GetType().Name + ": " + ex.Message, null);
        }
    }));

    anyFailed |= failed > 0;
    Console.WriteLine(JsonSerializer.Serialize(new { wave = wave + 1, sent, refused, failed, error }));
}

foreach (ServiceProvider provider in providers)
{
    await provider.DisposeAsync();
}

return anyFailed ? 1 : 0;

static int Usage(string problem)
{
    Console.Error.WriteLine($"MeaiMetadata.Budgets.Worker: {problem}.");
    Console.Error.WriteLine("Usage: dotnet MeaiMetadata.Budgets.Worker.dll --fake <url> --store <redis configuration> --app <id> [--model m] [--message text] [--instances n] [--warmup-app id] [--waves n[,n...]] [--max-output n] [DifyMetadata:key=value ...]");
    return 2;
}
