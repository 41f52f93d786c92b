using Microsoft.Extensions.AI;

namespace MeaiMetadata.Benchmarks.Infrastructure;

/// <summary>The pipelines the middleware-level benchmarks compare, all over one <see cref="FakeOpenAIChatClient"/>.</summary>
public sealed class MiddlewarePipelines
{
    private IDisposable? _session;

    public ChatMessage[] Messages { get; } = [new(ChatRole.User, "hi")];

    public ChatOptions? Options { get; private set; }

    public FakeOpenAIChatClient Inner { get; private set; } = null!;

    public IChatClient PassThrough { get; private set; } = null!;

    public IChatClient Recipe { get; private set; } = null!;

    /// <summary>Gets a <see cref="DifyMetadataChatClient"/> layer with <c>Enabled = false</c>, built directly:
    /// <c>UseDifyMetadata(o => o.Enabled = false)</c> adds no layer at all, so it is the bare client by construction.</summary>
    public IChatClient DifyDisabled { get; private set; } = null!;

    public IChatClient Dify { get; private set; } = null!;

    public IChatClient DifyNoAdditionalProperties { get; private set; } = null!;

    public void Build(CallerOptions options)
    {
        Options = CallerOptionsFactory.Create(options);
        Inner = new FakeOpenAIChatClient();
        PassThrough = new PassThroughChatClient(Inner);
        Recipe = Recipes.ChatCompletions(Inner);
        DifyDisabled = new DifyMetadataChatClient(Inner, new DifyMetadataOptions { Enabled = false });
        Dify = new ChatClientBuilder(Inner).UseDifyMetadata().Build();
        DifyNoAdditionalProperties = new ChatClientBuilder(Inner).UseDifyMetadata(o => o.AdditionalPropertiesEnabled = false).Build();
    }

    /// <summary>Opens a session in the current flow. BenchmarkDotNet calls the global setup and then the benchmark method
    /// on the same thread, synchronously, so the measured calls run inside it (the cleanup checks that they did).</summary>
    public void BeginSession()
    {
        Check.NoSession(nameof(BeginSession));
        _session = DifySession.Begin(Recipes.AppId);
    }

    public void EndSession()
    {
        _session?.Dispose();
        _session = null;
    }
}
