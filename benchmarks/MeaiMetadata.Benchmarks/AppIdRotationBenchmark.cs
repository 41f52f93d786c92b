using System.Globalization;
using BenchmarkDotNet.Attributes;
using MeaiMetadata.Benchmarks.Infrastructure;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Benchmarks;

/// <summary>
/// What the scale-in-distinct-app-ids classes share: N distinct ids handed out in rotation, the bare client they all run
/// over, and its baseline row. The derived classes say where the id enters (resolver, or a session per request).
/// </summary>
public abstract class AppIdRotationBenchmark
{
    private string[] _ids = [];
    private int _next;

    [Params(1, 1_000, 100_000)]
    public int DistinctAppIds { get; set; }

    protected ChatMessage[] Messages { get; } = [new(ChatRole.User, "hi")];

    protected FakeOpenAIChatClient Inner { get; private set; } = null!;

    /// <summary>Gets the id handed out last by <see cref="NextId"/>.</summary>
    protected string? LastId { get; private set; }

    private string Name => GetType().Name;

    [Benchmark(Baseline = true)]
    public Task<ChatResponse> Bare() => Inner.GetResponseAsync(Messages);

    /// <summary>Checks no session is open, builds the N ids and a fresh bare client.</summary>
    protected void SetupRotation()
    {
        Check.NoSession(Name);
        _ids = [.. Enumerable.Range(0, DistinctAppIds).Select(i => "app-" + i.ToString("D6", CultureInfo.InvariantCulture))];
        _next = 0;
        Inner = new FakeOpenAIChatClient();
    }

    /// <summary>Checks that the last raw options the bare client saw carry the id handed out last.</summary>
    protected void CheckLastTagged(string when) => Check.Tagged(Inner.LastRawOptions, LastId!, $"{Name} {when}");

    /// <summary>Hands out the next id of the rotation.</summary>
    protected string NextId()
    {
        string id = _ids[_next];
        _next = _next + 1 == _ids.Length ? 0 : _next + 1;
        LastId = id;
        return id;
    }
}
