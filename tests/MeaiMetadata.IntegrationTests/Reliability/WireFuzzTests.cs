using System.Text;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.IntegrationTests.FakeOpenAI;
using MeaiMetadata.IntegrationTests.Wire;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using OpenAI.Responses;
using Xunit.Abstractions;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

#pragma warning disable OPENAI001 // CreateResponseOptions is experimental.

namespace MeaiMetadata.IntegrationTests.Reliability;

/// <summary>
/// Random app ids and random caller metadata (lone surrogates, control chars, over-limit keys and values, up to 20 pairs)
/// through the official SDK: the strict fake, which validates what OpenAI validates (UTF-8, 16 pairs, 64/512 chars,
/// metadata only with store on Chat Completions), accepts every request, and the id it records is the expected one.
/// </summary>
public sealed class WireFuzzTests(FakeOpenAIServerFixture fixture, ITestOutputHelper output) : IClassFixture<FakeOpenAIServerFixture>
{
    public const int Cases = 400;

    [Fact]
    public async Task RandomIdsAndCallerMetadata_StrictServerAcceptsEveryRequest_WithTheExpectedId()
    {
        FakeOpenAIServer server = fixture.Server;
        server.Clear();
        int seed = Environment.TickCount;
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        IChatClient chat = OpenAIPipeline.Tagged(server, WireApi.ChatCompletions);
        IChatClient responses = OpenAIPipeline.Tagged(server, WireApi.Responses);
        int withLoneSurrogates = 0, overLimit = 0, manyPairs = 0;

        for (int i = 0; i < Cases; i++)
        {
            string appId = RandomText(random, random.Next(4) == 0 ? random.Next(500, 2000) : random.Next(1, 40));
            while (string.IsNullOrWhiteSpace(appId.Length > 512 ? appId[..512] : appId))
            {
                appId = RandomText(random, random.Next(1, 40)); // a blank id names no app: its request goes out as the caller built it
            }

            bool viaResponses = i % 2 == 1;
            bool streaming = i / 2 % 2 == 1;
            List<KeyValuePair<string, string>> callerPairs = [.. Enumerable.Range(0, random.Next(0, 21))
                .Select(_ => new KeyValuePair<string, string>(RandomText(random, random.Next(0, 70)), RandomText(random, random.Next(0, 600))))];
            if (random.Next(3) == 0)
            {
                callerPairs.Insert(random.Next(callerPairs.Count + 1), new(DifyMetadataKeys.AppId, "spoofed"));
            }

            var options = new ChatOptions
            {
                RawRepresentationFactory = _ =>
                {
                    object raw = viaResponses ? new CreateResponseOptions() : new ChatCompletionOptions();
                    IDictionary<string, string> metadata = raw is ChatCompletionOptions c ? c.Metadata : ((CreateResponseOptions)raw).Metadata;
                    foreach (KeyValuePair<string, string> pair in callerPairs)
                    {
                        metadata[pair.Key] = pair.Value;
                    }

                    return raw;
                },
            };

            withLoneSurrogates += HasLoneSurrogate(appId) ? 1 : 0;
            overLimit += appId.Length > 512 ? 1 : 0;
            manyPairs += callerPairs.Count > 15 ? 1 : 0;

            ChatResponse response;
            using (DifySession.Begin(appId))
            {
                List<ChatMessage> messages = [new(ChatRole.User, $"case {i}")];
                IChatClient client = viaResponses ? responses : chat;
                response = streaming
                    ? await client.GetStreamingResponseAsync(messages, options).ToChatResponseAsync()
                    : await client.GetResponseAsync(messages, options);
            }

            RecordedRequest wire = server.Requests[^1];
            Assert.True(wire.StatusCode == 200, $"case {i} (seed {seed}): {wire.StatusCode} {wire.Error}");
            Assert.Equal("ok", response.Text);
            Assert.Equal($"case {i}", wire.LastUserText);
            Assert.Equal(ExpectedSent(appId), wire.Metadata![DifyMetadataKeys.AppId]);
            Assert.True(wire.Metadata.Count <= 16);
        }

        output.WriteLine($"[WireFuzz] {Cases} requests accepted by the strict server; ids with lone surrogates: {withLoneSurrogates}, " +
            $"ids over 512 chars: {overLimit}, callers with more than 15 pairs: {manyPairs}");
    }

    private static string RandomText(Random random, int length)
    {
        var text = new StringBuilder(length);
        while (text.Length < length)
        {
            switch (random.Next(10))
            {
                case 0: text.Append((char)random.Next(0xD800, 0xDC00)); break; // lone high (unless a low follows)
                case 1: text.Append((char)random.Next(0xDC00, 0xE000)); break; // lone low
                case 2: text.Append(char.ConvertFromUtf32(random.Next(0x10000, 0x110000))); break;
                case 3: text.Append((char)random.Next(0, 0x20)); break;
                case 4: text.Append((char)random.Next(0xA0, 0xD800)); break;
                default: text.Append((char)random.Next(0x20, 0x7F)); break;
            }
        }

        return text.ToString();
    }

    private static bool HasLoneSurrogate(string text) => !ReferenceEquals(ReplaceLoneSurrogates(text), text);

    private static string ReplaceLoneSurrogates(string text)
    {
        char[]? chars = null;
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                chars ??= text.ToCharArray();
                chars[i] = '\uFFFD';
            }
        }

        return chars is null ? text : new string(chars);
    }

    private static string ExpectedSent(string appId)
    {
        string replaced = ReplaceLoneSurrogates(appId);
        if (replaced.Length <= 512)
        {
            return replaced;
        }

        return char.IsHighSurrogate(replaced[511]) ? replaced[..511] : replaced[..512];
    }
}
