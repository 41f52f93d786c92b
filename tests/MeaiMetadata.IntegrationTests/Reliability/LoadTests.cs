using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.IntegrationTests.Wire;
using Microsoft.Extensions.AI;
using OpenAI;
using Xunit.Abstractions;

#pragma warning disable OPENAI001 // ResponsesClient and AsIChatClient(ResponsesClient) are experimental.

namespace MeaiMetadata.IntegrationTests.Reliability;

/// <summary>
/// Many tenants at once through the official OpenAI SDK against the strict loopback fake: every request succeeds and carries
/// exactly its own app id (never another tenant's). Bounded in time, loopback only, stops by itself.
/// </summary>
[Collection(SerialTests.Name)] // alone: 10,000 tenants would crowd the other classes' time limits and telemetry
public sealed class LoadTests(ITestOutputHelper output)
{
    public const int Requests = 10_000;
    public const int InFlight = 200;
    private const string Prefix = "load-test request ";
    private static readonly TimeSpan s_timeLimit = TimeSpan.FromMinutes(10); // a hang guard: ~10 s idle, ~30 s on a loaded 2-core machine

    [Fact]
    public async Task TenThousandConcurrentTenants_EachRequestCarriesExactlyItsOwnAppId()
    {
        using var cts = new CancellationTokenSource(s_timeLimit);
        await using FakeOpenAIServer server = await FakeOpenAIServer.StartAsync(cancellationToken: cts.Token);
        Assert.True(server.BaseAddress.IsLoopback);

        // One OpenAIClient (one HTTP pipeline) shared by every request, one tagged IChatClient per API.
        var openAI = new OpenAIClient(
            new ApiKeyCredential("test-key"),
            new OpenAIClientOptions { Endpoint = server.BaseAddress, RetryPolicy = new ClientRetryPolicy(0), NetworkTimeout = s_timeLimit });
        IChatClient chat = new ChatClientBuilder(openAI.GetChatClient(OpenAIPipeline.Model).AsIChatClient()).UseDifyMetadata().Build();
        IChatClient responses = new ChatClientBuilder(openAI.GetResponsesClient().AsIChatClient(OpenAIPipeline.Model)).UseDifyMetadata().Build();

        int sent = 0;
        int succeeded = 0;
        var failures = new ConcurrentQueue<(int Index, Exception Error)>();
        var wall = Stopwatch.StartNew();

        await Parallel.ForEachAsync(
            Enumerable.Range(0, Requests),
            new ParallelOptions { MaxDegreeOfParallelism = InFlight, CancellationToken = cts.Token },
            async (i, cancellationToken) =>
            {
                (bool viaResponses, bool streaming) = Shape(i);
                IChatClient client = viaResponses ? responses : chat;
                List<ChatMessage> messages = [new(ChatRole.User, Prefix + i.ToString(CultureInfo.InvariantCulture) + "|" + AppId(i))];
                Interlocked.Increment(ref sent);
                try
                {
                    ChatResponse response;
                    using (DifySession.Begin(AppId(i)))
                    {
                        response = streaming
                            ? await client.GetStreamingResponseAsync(messages, cancellationToken: cancellationToken).ToChatResponseAsync(cancellationToken)
                            : await client.GetResponseAsync(messages, cancellationToken: cancellationToken);
                    }

                    if (response.Text == "ok")
                    {
                        Interlocked.Increment(ref succeeded);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cts.IsCancellationRequested)
                {
                    failures.Enqueue((i, ex));
                }
            });
        wall.Stop();

        // What reached the server, correlated by the index and app id in the user message.
        IReadOnlyList<RecordedRequest> records = server.Requests;
        int correct = 0, misTagged = 0, untagged = 0, rejected = 0, wrongShape = 0, uncorrelated = 0;
        var seenIndexes = new HashSet<int>();
        var misTaggedExamples = new List<string>();
        foreach (RecordedRequest record in records)
        {
            if (record.StatusCode != 200)
            {
                rejected++;
            }

            if (record.LastUserText is not { } text || !text.StartsWith(Prefix, StringComparison.Ordinal) ||
                !int.TryParse(text.AsSpan(Prefix.Length, text.IndexOf('|', StringComparison.Ordinal) - Prefix.Length), CultureInfo.InvariantCulture, out int index) ||
                text[(text.IndexOf('|', StringComparison.Ordinal) + 1)..] != AppId(index) || !seenIndexes.Add(index))
            {
                uncorrelated++;
                continue;
            }

            (bool viaResponses, bool streaming) = Shape(index);
            if (record.Api != (viaResponses ? OpenAIApi.Responses : OpenAIApi.ChatCompletions) || record.Stream != streaming)
            {
                wrongShape++;
            }

            string expected = SentForm(AppId(index));
            if (record.Metadata is null || !record.Metadata.TryGetValue(DifyMetadataKeys.AppId, out string? sentId))
            {
                untagged++;
            }
            else if (sentId == expected && record.Metadata.GetValueOrDefault(DifyMetadataKeys.Source) == "dify" &&
                record.Metadata.Count == 2 && record.Store == true)
            {
                correct++;
            }
            else
            {
                misTagged++;
                if (misTaggedExamples.Count < 5)
                {
                    misTaggedExamples.Add($"#{index}: expected '{Short(expected)}', got '{Short(sentId)}'");
                }
            }
        }

        output.WriteLine(
            $"[Load] requests sent: {sent}, succeeded: {succeeded}, failed: {failures.Count}; server received: {records.Count}, " +
            $"correctly tagged: {correct}, mis-tagged: {misTagged}, untagged: {untagged}, rejected by the server: {rejected}, " +
            $"uncorrelated: {uncorrelated}, wrong API/stream: {wrongShape}; {InFlight} in flight, " +
            $"wall {wall.Elapsed.TotalSeconds:F1} s ({Requests / wall.Elapsed.TotalSeconds:F0} requests/s), {Environment.ProcessorCount} cores");
        foreach ((int index, Exception error) in failures.Take(5))
        {
            output.WriteLine($"failure #{index}: {error.GetType().Name}: {error.Message}");
        }

        foreach (string example in misTaggedExamples)
        {
            output.WriteLine("mis-tagged " + example);
        }

        Assert.False(cts.IsCancellationRequested, $"the load test hit its {s_timeLimit.TotalSeconds} s limit");
        Assert.Empty(failures);
        Assert.Equal(Requests, sent);
        Assert.Equal(Requests, succeeded);
        Assert.Equal(Requests, records.Count);
        Assert.Equal(0, rejected);
        Assert.Equal(0, uncorrelated);
        Assert.Equal(0, wrongShape);
        Assert.Equal(0, misTagged);
        Assert.Equal(0, untagged);
        Assert.Equal(Requests, correct);
    }

    private static string Short(string text) => text.Length <= 40 ? text : text[..40] + "…";

    /// <summary>Chat Completions or Responses, streaming or not: the four shapes in turn.</summary>
    private static (bool ViaResponses, bool Streaming) Shape(int i) => (i % 2 == 1, i / 2 % 2 == 1);

    /// <summary>A distinct app id per request, in several scripts and shapes (quotes, emoji, over 512 chars).</summary>
    private static string AppId(int i) => (i % 5) switch
    {
        0 => $"tenant-{i:D5}",
        1 => $"租户-{i:D5}",
        2 => $"tenant \"{i}\" \U0001F600 \\ end",
        3 => $"T{i}-" + new string('x', 600),
        _ => $"app/{i}/{new Guid(i, 0, 0, new byte[8]):N}",
    };

    /// <summary>What the layer sends for an id without lone surrogates: at most 512 chars, never half a pair.</summary>
    private static string SentForm(string appId)
    {
        if (appId.Length <= 512)
        {
            return appId;
        }

        return char.IsHighSurrogate(appId[511]) ? appId[..511] : appId[..512];
    }
}
