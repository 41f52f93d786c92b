using System.Collections.Concurrent;
using OpenAI.Chat;

namespace MeaiMetadata.Benchmarks.Infrastructure;

/// <summary>Guards that make a benchmark fail when a row does not do what its name says (for example a session that the
/// measured code does not see).</summary>
/// <remarks>
/// A failed check throws, which fails the benchmark in its own process (default toolchain). With <c>--inProcess</c>
/// BenchmarkDotNet only logs an exception thrown by a global cleanup, so every failure is also recorded in
/// <see cref="Failures"/>, which <see cref="Program"/> turns into a non-zero exit code.
/// </remarks>
public static class Check
{
    private static readonly ConcurrentQueue<string> s_failures = new();

    /// <summary>Gets the failed checks of this process.</summary>
    public static IReadOnlyCollection<string> Failures => s_failures;

    public static void Tagged(ChatCompletionOptions? raw, string expectedAppId, string row)
    {
        if (raw is null || raw.StoredOutputEnabled is not true ||
            !raw.Metadata.TryGetValue(DifyMetadataKeys.AppId, out string? appId) || appId != expectedAppId)
        {
            throw Fail(
                $"{row}: the last request was not tagged with {DifyMetadataKeys.AppId}={expectedAppId} and store=true " +
                $"(store={raw?.StoredOutputEnabled}, metadata=[{(raw is null ? "" : string.Join(", ", raw.Metadata))}]).");
        }
    }

    public static void Untagged(ChatCompletionOptions? raw, string row)
    {
        if (raw is not null && raw.Metadata.ContainsKey(DifyMetadataKeys.AppId))
        {
            throw Fail($"{row}: the last request was tagged although this row must not tag it.");
        }
    }

    public static void NoSession(string row)
    {
        if (DifySession.Current is { } session)
        {
            throw Fail($"{row}: a session ({session.AppId}) is open although this row needs none.");
        }
    }

    public static void BodyContains(InMemoryOpenAIHandler handler, string text, string row)
    {
        string body = handler.LastRequestBody;
        if (!body.Contains(text, StringComparison.Ordinal))
        {
            throw Fail($"{row}: the request body does not contain {text}: {body}");
        }
    }

    public static void BodyLacks(InMemoryOpenAIHandler handler, string text, string row)
    {
        string body = handler.LastRequestBody;
        if (body.Contains(text, StringComparison.Ordinal))
        {
            throw Fail($"{row}: the request body contains {text} although this row must not send it: {body}");
        }
    }

    public static InvalidOperationException Fail(string message)
    {
        s_failures.Enqueue(message);
        return new InvalidOperationException(message);
    }
}
