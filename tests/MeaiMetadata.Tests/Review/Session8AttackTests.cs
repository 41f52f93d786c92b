using System.Collections.Concurrent;
using MeaiMetadata.Tests.TestDoubles;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace MeaiMetadata.Tests.Review;

/// <summary>Attack on session 8 (15661e3..379bcab): the 40 B decision (the app id or the session it came from in one field,
/// <c>DifySession.SentAppId</c> computed lazily), the stream that sets its own gateway headers, and the cross-service baggage
/// handler. Each test asserts a promise of README.md / docs/*.md, so it FAILS where the promise is broken.</summary>
public sealed class Session8AttackTests
{
    // ---- 1. DifySession.SentAppId is computed lazily without synchronization; the decision keeps the session only when the
    //         string it was given is the very instance the session holds now ----

    /// <summary>Promise (docs/behaviour.md, "The session"): "An ended session tags nothing, also in work that captured it and
    /// runs later"; the options a call passed on, sent after their session ended, carry no tags (as
    /// <c>EachRequest_GetsItsOwnFactory_BoundToItsOwnDecision</c> shows for one flow).
    /// Attack: a session whose id needs normalizing (longer than 512 characters, so <c>SentAppId</c> is a new string each time
    /// it is computed) used for the first time by two flows at once (a fan-out with <c>Task.Run</c>). Both compute
    /// <c>SentAppId</c>; the flow whose string lost the race to the field stores the app id string instead of the session
    /// (<c>ReferenceEquals(session.SentAppId, appId)</c> is false), so its decision no longer knows its session: once the
    /// session ends, its kept options are still tagged (and its gateway headers stay live, and its record counts the app).</summary>
    /// <remarks>FAILS with the 8,000,000-character id (first round on this machine); holds with 100 characters (the control:
    /// <c>SentAppId</c> is then the session's own string, the same instance in both flows).</remarks>
    [Theory]
    [InlineData(8_000_000)]
    [InlineData(100)]
    public async Task SessionIdNeedingNormalizing_FirstUsedByTwoFlowsAtOnce_EndedSessionStillTagsTheKeptOptions(int length)
    {
        var captured = new ConcurrentBag<ChatOptions>();
        var provider = new OpenAIStandInClient(StandInApi.ChatCompletions);
        var inner = new TestChatClient
        {
            // The layer asks which mapping serves the provider between finding the app and making the decision: a short
            // pause there (a preempted thread on a busy machine) makes the interleaving of the two flows reproducible.
            GetServiceCallback = (type, key) =>
            {
                Thread.Sleep(2);
                return provider.GetService(type, key);
            },
            GetResponseAsyncCallback = (_, options, _) =>
            {
                captured.Add(options!);
                return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));
            },
        };
        IChatClient client = new DifyMetadataChatClient(inner);
        string longId = new('a', length); // over 512: sent as its first 512 characters

        int stillTagged = 0, rounds = 0;
        for (; rounds < 300 && stillTagged == 0; rounds++)
        {
            captured.Clear();
            int go = 0;
            Task[] flows;
            using (DifySession.Begin(longId))
            {
                flows = [.. Enumerable.Range(0, 2).Select(_ => Task.Factory.StartNew(() =>
                {
                    while (Volatile.Read(ref go) == 0)
                    {
                        Thread.SpinWait(1);
                    }

                    return client.GetResponseAsync("hi");
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap())];
                Volatile.Write(ref go, 1);
                await Task.WhenAll(flows);
            }

            // The session has ended: its calls' options, sent again, must carry nothing.
            foreach (ChatOptions options in captured)
            {
                if (options.RawRepresentationFactory!(provider) is ChatCompletionOptions raw && raw.Metadata.ContainsKey("dify_app_id"))
                {
                    stillTagged++;
                }
            }
        }

        Assert.True(stillTagged == 0, $"after {rounds} round(s) of two flows, {stillTagged} decision(s) of an ended session still tagged their request");
    }
}
