using System.ClientModel;
using System.ClientModel.Primitives;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Garnet;
using MeaiMetadata.Budgets;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.Spend;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenAI;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace MeaiMetadata.Demo;

/// <summary>What the budget section saw.</summary>
/// <param name="Worth">How many requests the budget is worth.</param>
/// <param name="SentOfBudgetedApp">Requests of the budgeted app that reached the endpoint.</param>
/// <param name="Refused">Requests the budget refused (nothing sent), the HTTP caller's included.</param>
/// <param name="HttpStatus">The status the HTTP caller got.</param>
public sealed record DemoBudgetResult(int Worth, int SentOfBudgetedApp, int Refused, int HttpStatus)
{
    /// <summary>Whether it went as it should: the budget's worth sent, the rest refused, the caller answered 429.</summary>
    public bool Ok => SentOfBudgetedApp == Worth && Refused >= 2 && HttpStatus == 429;
}

/// <summary>Two instances sharing one budget per app on one store: embedded Garnet (in-process, 127.0.0.1), or a real
/// Redis with <c>--redis host:port</c>. Instance A is a worker (a plain service provider); instance B is a web app on
/// Kestrel (127.0.0.1) with <c>UseDifyBudgetProblemDetails()</c>. Each has its own pipeline and its own store connection.</summary>
public static class DemoBudget
{
    public const string Model = "gpt-4o-mini";
    public const string Prompt = "Summarise the customer's open ticket in three short bullet points.";
    public const int MaxOutputTokens = 480;

    /// <summary>How many requests the budget is worth.</summary>
    public const int Worth = 4;

    /// <summary>The input tokens the layer reserves for <see cref="Prompt"/> (no tokenizer set): its UTF-8 bytes, plus 4 for
    /// the message and its role's bytes, plus 3 for the request (docs/budgets.md).</summary>
    public static int ReservedInputTokens => 3 + 4 + Encoding.UTF8.GetByteCount("user") + Encoding.UTF8.GetByteCount(Prompt);

    public static async Task<DemoBudgetResult> RunAsync(IAnsiConsole console, TextWriter output, string? redis, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(output);

        // The endpoint reports the usage the layer reserves, so each request costs exactly its reservation: the budget
        // is worth exactly Worth requests.
        await using FakeOpenAIServer endpoint = await FakeOpenAIServer.StartAsync(
            new FakeOpenAIServerOptions { InputTokens = ReservedInputTokens, OutputTokens = MaxOutputTokens, ToolCalls = false }, cancellationToken);
        decimal perRequest = DifyPriceTable.BuiltIn.GetCost(Model, ReservedInputTokens, 0, MaxOutputTokens)!.Value;
        decimal limit = perRequest * Worth;

        GarnetServer? garnet = null;
        string where;
        string configuration;
        if (redis is null)
        {
            int port = FreePort();
            // Lua scripts run only with --lua, and atomically only with --lua-transaction-mode (docs/budgets.md); -q: no banner.
            garnet = new GarnetServer(["--bind", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture),
                "--lua", "true", "--lua-transaction-mode", "true", "--memory", "64m", "--index", "1m", "--logger-level", "None", "-q"]);
            garnet.Start();
            configuration = $"127.0.0.1:{port}";
            where = $"embedded Garnet at 127.0.0.1:{port}";
        }
        else
        {
            configuration = redis;
            where = $"Redis at {redis}";
            if (!await ReachableAsync(redis, cancellationToken))
            {
                // The layer would send unchecked (OnStoreFailure: Allow, the default): say so instead of showing that.
                console.WriteLine();
                console.WriteLine($"Budgets: the Redis at {redis} cannot be reached; the budget section did not run.");
                return new DemoBudgetResult(Worth, 0, 0, 0);
            }
        }

        configuration += ",abortConnect=false,connectTimeout=2000,asyncTimeout=2000,syncTimeout=2000";
        // A store keeps a period's spend until it resets: on a real Redis, this run's apps are new ones.
        string suffix = redis is null ? "" : "-" + Guid.NewGuid().ToString("N")[..6];
        string supportBot = "support-bot" + suffix, salesAssistant = "sales-assistant" + suffix;
        try
        {
            OpenAIClient openAI = new(new ApiKeyCredential("no-key-needed"),
                new OpenAIClientOptions { Endpoint = endpoint.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) });

            // Instance A: a worker.
            var workerServices = new ServiceCollection();
            Configure(workerServices, openAI, limit, configuration);
            await using ServiceProvider worker = workerServices.BuildServiceProvider();

            // Instance B: a web app; a refused call is answered 429 by UseDifyBudgetProblemDetails().
            WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            Configure(builder.Services, openAI, limit, configuration);
            await using WebApplication web = builder.Build();
            web.UseDifyBudgetProblemDetails();
            web.MapPost("/summarise/{app}", async (string app, IChatClient chat) =>
                (await chat.GetResponseAsync(Prompt, Options(app))).Text);
            await web.StartAsync(cancellationToken);

            console.WriteLine();
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Budgets shared by two instances (A: a worker, B: a web app; own pipelines, own connections) on {where}:"));
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"each app may spend {DemoOutput.Usd(limit)} USD a day, {Worth} requests of {DemoOutput.Usd(perRequest)} ({ReservedInputTokens} tokens in, {MaxOutputTokens} out, {Model})."));

            var instances = new (string Name, IChatClient Chat)[]
            {
                ("A", worker.GetRequiredService<IChatClient>()),
                ("B", web.Services.GetRequiredService<IChatClient>()),
            };
            (string App, int Instance)[] steps =
            [
                (supportBot, 0), (supportBot, 1), (supportBot, 0), (supportBot, 1), (supportBot, 0), (salesAssistant, 1),
            ];

            Table table = new Table().Border(TableBorder.Square)
                .AddColumn("#").AddColumn("instance").AddColumn("app").AddColumn("outcome")
                .AddColumn(new TableColumn("app's spend, USD").RightAligned()).AddColumn(new TableColumn("limit, USD").RightAligned());
            var spent = new Dictionary<string, decimal>(StringComparer.Ordinal);
            DifyBudgetExceededException? refusal = null;
            int refused = 0;
            for (int i = 0; i < steps.Length; i++)
            {
                (string app, int instance) = steps[i];
                int before = endpoint.Requests.Count;
                string outcome;
                try
                {
                    ChatResponse response = await instances[instance].Chat.GetResponseAsync(Prompt, Options(app), cancellationToken);
                    spent[app] = spent.GetValueOrDefault(app) + (DifyPriceTable.BuiltIn.GetCost(Model, response.Usage!) ?? 0m);
                    outcome = "sent, HTTP 200";
                }
                catch (DifyBudgetExceededException ex)
                {
                    refusal ??= ex;
                    refused++;
                    outcome = endpoint.Requests.Count == before ? "refused: DifyBudgetExceededException, nothing sent" : "refused, but sent!";
                }

                table.AddRow(new IRenderable[]
                {
                    new Text((i + 1).ToString(CultureInfo.InvariantCulture)), new Text(instances[instance].Name), new Text(app), new Text(outcome),
                    new Text(DemoOutput.Usd(spent.GetValueOrDefault(app))), new Text(DemoOutput.Usd(limit)),
                });
            }

            console.Write(table);
            TextWriter raw = output; // long lines unwrapped (the terminal wraps them)
            if (refusal is not null)
            {
                console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"Refused (row 5): DifyBudgetExceededException AppId={refusal.AppId}, LimitUsd={refusal.LimitUsd}, ResetsAt={refusal.ResetsAt:yyyy-MM-dd HH:mm:ss} UTC"));
                await raw.WriteLineAsync("  " + refusal.Message);
            }

            // The HTTP caller of instance B, for the app whose budget is spent.
            using var http = new HttpClient { BaseAddress = new Uri(web.Urls.First()) };
            int sentBefore = endpoint.Requests.Count;
            using HttpResponseMessage answer = await http.PostAsync(new Uri($"/summarise/{supportBot}", UriKind.Relative), null, cancellationToken);
            string body = await answer.Content.ReadAsStringAsync(cancellationToken);
            if (answer.StatusCode == HttpStatusCode.TooManyRequests && endpoint.Requests.Count == sentBefore)
            {
                refused++;
            }

            console.WriteLine();
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"An HTTP caller of instance B (POST /summarise/{supportBot}; app.UseDifyBudgetProblemDetails()) gets:"));
            await raw.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  HTTP {(int)answer.StatusCode} {answer.ReasonPhrase}"));
            await raw.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  Retry-After: {answer.Headers.RetryAfter?.Delta?.TotalSeconds} (seconds to the reset)"));
            await raw.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  Content-Type: {answer.Content.Headers.ContentType}"));
            await raw.WriteLineAsync("  " + body);
            console.WriteLine();

            int sentOfBudgeted = endpoint.Requests.Count(r => r.Body.Contains(supportBot, StringComparison.Ordinal));
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"The endpoint received {sentOfBudgeted} requests of {supportBot} (the budget's worth: {Worth}); {refused} refused requests sent nothing."));
            await web.StopAsync(cancellationToken);
            return new DemoBudgetResult(Worth, sentOfBudgeted, refused, (int)answer.StatusCode);
        }
        finally
        {
            garnet?.Dispose();
        }
    }

    private static ChatOptions Options(string app) => new ChatOptions { MaxOutputTokens = MaxOutputTokens }.WithDifyAppId(app);

    private static void Configure(IServiceCollection services, OpenAIClient openAI, decimal limit, string configuration)
    {
        services.AddLogging(l => l.SetMinimumLevel(LogLevel.None));
        services.AddDifyMetadata(o => o.Budgets.Default = new DifyBudget { LimitUsd = limit, Period = DifyBudgetPeriod.Day });
        services.AddDifyBudgetRedisStore(configuration); // this instance's own connection
        services.AddChatClient(openAI.GetChatClient(Model).AsIChatClient()).UseDifyMetadata();
    }

    private static async Task<bool> ReachableAsync(string hostPort, CancellationToken cancellationToken)
    {
        string endpoint = hostPort.Split(',')[0];
        int colon = endpoint.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(endpoint[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port))
        {
            return false;
        }

        try
        {
            using var client = new TcpClient();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            await client.ConnectAsync(endpoint[..colon], port, timeout.Token);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
