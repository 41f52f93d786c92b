using System.ClientModel;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata.Demo;

/// <summary>Runs the scenario through the DI pipelines and reads what reached the endpoint.</summary>
public static class DemoRunner
{
    public const string NoSession = "(no session)";

    /// <summary>The API cell of a row whose step sent nothing (its request never reached the wire).</summary>
    public const string NotSent = "-";

    public static async Task<DemoReport> RunAsync(IServiceProvider services, IWireLog wire, CancellationToken cancellationToken = default)
    {
        using var metrics = new DemoMetrics(services.GetRequiredService<IMeterFactory>());
        ILogger? logger = services.GetService<ILoggerFactory>()?.CreateLogger("MeaiMetadata.Demo");
        var rows = new List<DemoRow>();
        var storedChatCost = new Dictionary<string, double>();
        int failed = 0;
        bool unreachable = false;

        for (int i = 0; i < DemoScenario.Steps.Count && !unreachable; i++)
        {
            DemoStep step = DemoScenario.Steps[i];
            IChatClient client = services.GetRequiredKeyedService<IChatClient>(DemoPipeline.KeyOf(step.Api));
            int before = wire.Snapshot().Count;
            double costBefore = step.App is null ? 0 : metrics.Cost(step.App);

            string outcome;
            // Every log line of this step's requests (5a and 5b too) carries the scope "row N" of its table row.
            using IDisposable? rowScope = logger?.BeginScope("row {Row}", i + 1);
            try
            {
                ChatResponse response;
                using (step.App is null ? null : DifySession.Begin(step.App))
                {
                    response = await SendAsync(client, step, cancellationToken);
                }

                outcome = $"answer \"{Shorten(response.Text)}\"";
            }
            catch (Exception ex) when (Describe(ex) is { } failure)
            {
                failed++;
                outcome = $"failed: {failure.Message}";
                unreachable = failure.Unreachable;
            }

            List<WireRecord> sent = [.. wire.Snapshot().Skip(before)];
            for (int r = 0; r < sent.Count; r++)
            {
                string number = sent.Count == 1 ? $"{i + 1}" : $"{i + 1}{(char)('a' + r)}";
                rows.Add(new DemoRow(number, step, sent[r], r == sent.Count - 1 ? outcome : null));
            }

            if (sent.Count == 0)
            {
                rows.Add(new DemoRow($"{i + 1}", step, new WireRecord(NotSent, step.Streaming, null, null, 0, "nothing sent"), outcome));
            }

            // The meter has no tag for the API or the store flag: the steps run one at a time, so the cost this step added
            // belongs to its requests; it is the report's to see when the endpoint stored all of them.
            if (step.App is not null && sent.Count > 0 && sent.All(w => w.Api == "chat.completions" && w.Store == true && w.StatusCode == 200))
            {
                storedChatCost[step.App] = storedChatCost.GetValueOrDefault(step.App) + (metrics.Cost(step.App) - costBefore);
            }
        }

        // Requests and tagged requests as the endpoint saw them; tokens and cost as the library's own meter reported them
        // (requests outside any session belong to no app, so the meter attributes no tokens to them).
        var apps = rows
            .GroupBy(r => r.Step.App ?? NoSession)
            .Select(g => new DemoAppSummary(g.Key, g.Count(), g.Count(r => r.Wire.Tagged), metrics.Tokens(g.Key, "input"), metrics.Tokens(g.Key, "output"),
                metrics.Cost(g.Key), storedChatCost.GetValueOrDefault(g.Key)))
            .ToList();
        return new DemoReport(rows, apps, failed, metrics.Outcomes());
    }

    /// <summary>Turns a service or network failure into one line; <see langword="null"/> for anything else (a bug: let it surface).</summary>
    private static (string Message, bool Unreachable)? Describe(Exception ex)
    {
        if (ex is AggregateException { InnerExceptions.Count: > 0 } aggregate)
        {
            ex = aggregate.InnerExceptions[^1]; // the SDK's retry policy wraps every attempt's failure
        }

        return ex switch
        {
            ClientResultException { Status: > 0 } http => ($"HTTP {http.Status}: {Shorten(http.Message.Split('\n')[0])}", false),
            ClientResultException or HttpRequestException => ($"endpoint unreachable: {Shorten(ex.Message)}", true),
            _ => null,
        };
    }

    private static async Task<ChatResponse> SendAsync(IChatClient client, DemoStep step, CancellationToken cancellationToken)
    {
        List<ChatMessage> messages = [new(ChatRole.User, step.Options is null ? "Say ok." : "What's the weather? Then say ok.")];
        ChatOptions? options = step.Options?.Invoke();
        return step.Streaming
            ? await client.GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken)
            : await client.GetResponseAsync(messages, options, cancellationToken);
    }

    private static string Shorten(string text)
    {
        text = text.ReplaceLineEndings(" ").Trim();
        return text.Length <= 60 ? text : text[..57] + "...";
    }
}
