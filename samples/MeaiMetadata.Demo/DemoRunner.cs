using System.ClientModel;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace MeaiMetadata.Demo;

/// <summary>Runs the scenario through the DI pipelines and reads what reached the endpoint.</summary>
public static class DemoRunner
{
    public const string NoSession = "(no session)";

    public static async Task<DemoReport> RunAsync(IServiceProvider services, IWireLog wire, CancellationToken cancellationToken = default)
    {
        var rows = new List<DemoRow>();
        var tokens = new Dictionary<string, (long In, long Out)>();
        int failed = 0;
        bool unreachable = false;

        for (int i = 0; i < DemoScenario.Steps.Count && !unreachable; i++)
        {
            DemoStep step = DemoScenario.Steps[i];
            IChatClient client = services.GetRequiredKeyedService<IChatClient>(DemoPipeline.KeyOf(step.Api));
            int before = wire.Snapshot().Count;

            string outcome;
            try
            {
                ChatResponse response;
                using (step.App is null ? null : DifySession.Begin(step.App))
                {
                    response = await SendAsync(client, step, cancellationToken);
                }

                outcome = $"answer \"{Shorten(response.Text)}\"";
                string app = step.App ?? NoSession;
                (long inTokens, long outTokens) = tokens.GetValueOrDefault(app);
                tokens[app] = (inTokens + (response.Usage?.InputTokenCount ?? 0), outTokens + (response.Usage?.OutputTokenCount ?? 0));
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
                rows.Add(new DemoRow($"{i + 1}", step, new WireRecord("-", step.Streaming, null, null, 0, "nothing sent"), outcome));
            }
        }

        var apps = rows
            .GroupBy(r => r.Step.App ?? NoSession)
            .Select(g => new DemoAppSummary(
                g.Key, g.Count(), g.Count(r => r.Wire.Tagged), tokens.GetValueOrDefault(g.Key).In, tokens.GetValueOrDefault(g.Key).Out))
            .ToList();
        return new DemoReport(rows, apps, failed);
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
