using System.Diagnostics;
using System.Globalization;
using MeaiMetadata.Benchmarks.Infrastructure;
using Microsoft.Extensions.AI;

#pragma warning disable OPENAI001 // The Responses API types are marked experimental by the OpenAI SDK.

namespace MeaiMetadata.Benchmarks;

/// <summary>
/// A time comparison that resists a noisy machine: every round runs every row once, back to back in one process, so load
/// drift hits all rows alike, in forward order on even rounds and in reverse on odd ones, so no row always runs right after
/// a costlier one. Reported: the median of 20 rounds (middleware) or 40 rounds (end to end), after 5 warm-up rounds, per row, its ratio to two reference rows,
/// the median of the per-round ratios to the second reference with their quartiles (each ratio compares two rows of one
/// round, minutes of load drift apart no more), and the bytes allocated per call on this thread. Run with <c>-- --interleaved</c>.
/// </summary>
public static partial class InterleavedTiming
{
    private const int WarmupRounds = 5;

    // Middleware rounds are short (300,000 calls of ~0.5 µs); end-to-end ones are noisier per call, so they get more rounds.
    private const int MiddlewareRounds = 25;
    private const int EndToEndRounds = 45;

    public static void Run()
    {
        ChatMessage[] messages = [new(ChatRole.User, "hi")];

        foreach (CallerOptions kind in new[] { CallerOptions.Null, CallerOptions.Caller })
        {
            var p = new MiddlewarePipelines();
            p.Build(kind);
            Measure($"Middleware, options {kind}", MiddlewareRounds, 300_000, p.Options, messages, referenceA: 1, referenceB: 4,
            [
                ("Bare", p.Inner, false), ("PassThrough", p.PassThrough, false), ("DifyDisabled", p.DifyDisabled, false),
                ("DifyNoSession", p.Dify, false), ("Recipe", p.Recipe, false), ("DifyInSession", p.Dify, true),
                ("DifyInSessionNoAdditionalProperties", p.DifyNoAdditionalProperties, true),
            ]);
        }

        using var handler = new InMemoryOpenAIHandler();
        OpenAI.OpenAIClient openAI = OpenAIClients.Create(handler);
        foreach (bool responses in new[] { false, true })
        {
            IChatClient bare = responses
                ? openAI.GetResponsesClient().AsIChatClient("gpt-4o-mini")
                : openAI.GetChatClient("gpt-4o-mini").AsIChatClient();
            IChatClient recipe = responses ? Recipes.Responses(bare) : Recipes.ChatCompletions(bare);
            Measure(responses ? "End to end, Responses" : "End to end, Chat Completions", EndToEndRounds, 10_000, null, messages, referenceA: 0, referenceB: 1,
            [
                ("Bare", bare, false), ("Recipe", recipe, false),
                ("DifyInSession", new ChatClientBuilder(bare).UseDifyMetadata().Build(), true),
                ("DifyInSessionNoAdditionalProperties", new ChatClientBuilder(bare).UseDifyMetadata(o => o.AdditionalPropertiesEnabled = false).Build(), true),
            ]);
        }
    }

    private static void Measure(
        string title, int rounds, int callsPerRound, ChatOptions? options, ChatMessage[] messages, int referenceA, int referenceB,
        (string Name, IChatClient Client, bool InSession)[] rows)
    {
        var samples = rows.Select(_ => new List<double>()).ToArray();
        long[] bytes = new long[rows.Length];
        for (int round = 0; round < rounds; round++)
        {
            for (int step = 0; step < rows.Length; step++)
            {
                int r = round % 2 == 0 ? step : rows.Length - 1 - step;
                IDisposable? session = rows[r].InSession ? DifySession.Begin(Recipes.AppId) : null;
                IChatClient client = rows[r].Client;
                long before = GC.GetAllocatedBytesForCurrentThread();
                var stopwatch = Stopwatch.StartNew();
                for (int i = 0; i < callsPerRound; i++)
                {
                    // Every fake and in-memory call completes synchronously.
                    _ = client.GetResponseAsync(messages, options).GetAwaiter().GetResult();
                }

                stopwatch.Stop();
                bytes[r] = (GC.GetAllocatedBytesForCurrentThread() - before) / callsPerRound;
                session?.Dispose();
                if (round >= WarmupRounds)
                {
                    samples[r].Add(stopwatch.Elapsed.TotalNanoseconds / callsPerRound);
                }
            }
        }

        double a = Median(samples[referenceA]);
        double b = Median(samples[referenceB]);
        Console.WriteLine();
        Console.WriteLine($"### {title} (median of {rounds - WarmupRounds} interleaved rounds of {callsPerRound:N0} calls)");
        Console.WriteLine();
        Console.WriteLine($"| Row | Median | vs {rows[referenceA].Name} | vs {rows[referenceB].Name} | per-round ratio vs {rows[referenceB].Name} (median) | its quartiles | Allocated/call |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        for (int r = 0; r < rows.Length; r++)
        {
            double median = Median(samples[r]);
            List<double> ratios = [.. samples[r].Zip(samples[referenceB], (row, reference) => row / reference)];
            double paired = Median(ratios);
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"| {rows[r].Name} | {median:F1} ns | {median / a:F3} | {median / b:F3} | {paired:F3} | {Quantile(ratios, 0.25):F3}–{Quantile(ratios, 0.75):F3} | {bytes[r]} B |"));
        }
    }

    private static double Median(List<double> values) => Quantile(values, 0.5);

    private static double Quantile(List<double> values, double q)
    {
        double[] sorted = [.. values.Order()];
        return sorted[(int)(q * (sorted.Length - 1) + 0.5)];
    }
}
