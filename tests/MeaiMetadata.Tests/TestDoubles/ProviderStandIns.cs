using System.Runtime.CompilerServices;
using MeaiMetadata.Providers;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Tests.TestDoubles;

// Stand-ins of the same shape as the real provider types, whose packages this registry does not serve:
// Amazon.BedrockRuntime.Model.ConverseRequest / ConverseStreamRequest (RequestMetadata, null until set) and
// Google.GenAI.Types.GenerateContentConfig (Labels, null until set).

public sealed class FakeConverseRequest
{
    public Dictionary<string, string>? RequestMetadata { get; set; }
}

public sealed class FakeConverseStreamRequest
{
    public Dictionary<string, string>? RequestMetadata { get; set; }
}

public sealed class FakeGenerateContentConfig
{
    public Dictionary<string, string>? Labels { get; set; }
}

/// <summary>The SDK client type a Bedrock chat client answers GetService with.</summary>
public sealed class FakeBedrockRuntime;

/// <summary>The SDK client type a Gemini chat client answers GetService with.</summary>
public sealed class FakeGenAIClient;

/// <summary>The Bedrock mapping of the README, written against the stand-in types.</summary>
public sealed class StandInBedrockMapping : DifyProviderMapping
{
    public override string Name => "bedrock.converse";

    public override bool CanApply(object rawOptions) => rawOptions is FakeConverseRequest or FakeConverseStreamRequest;

    public override bool CanCreateFor(IChatClient providerClient, bool streaming) => providerClient.GetService(typeof(FakeBedrockRuntime)) is not null;

    public override object CreateRawOptions(IChatClient providerClient, bool streaming) =>
        streaming ? new FakeConverseStreamRequest() : new FakeConverseRequest();

    public override bool Apply(object rawOptions, DifyRequestDecision decision) => rawOptions switch
    {
        FakeConverseRequest request => BedrockRequestMetadata.Merge(request.RequestMetadata ??= [], decision),
        FakeConverseStreamRequest request => BedrockRequestMetadata.Merge(request.RequestMetadata ??= [], decision),
        _ => false,
    };
}

/// <summary>The Vertex AI / Gemini mapping of the README, written against the stand-in type.</summary>
public sealed class StandInVertexMapping : DifyProviderMapping
{
    public override string Name => "vertex-ai.generate-content";

    public override bool CanApply(object rawOptions) => rawOptions is FakeGenerateContentConfig;

    public override bool CanCreateFor(IChatClient providerClient, bool streaming) => providerClient.GetService(typeof(FakeGenAIClient)) is not null;

    public override object CreateRawOptions(IChatClient providerClient, bool streaming) => new FakeGenerateContentConfig();

    public override bool Apply(object rawOptions, DifyRequestDecision decision) =>
        VertexAILabels.Merge(((FakeGenerateContentConfig)rawOptions).Labels ??= [], decision);
}

/// <summary>
/// A provider client that consumes raw options the way the Bedrock and Gemini MEAI clients do: the factory's result is
/// used when it is of the type this call needs (a separate type when streaming for Bedrock), else a new one is made.
/// </summary>
public sealed class StandInProviderClient<TRaw, TStreamingRaw>(object sdkClient) : IChatClient
    where TRaw : class, new()
    where TStreamingRaw : class, new()
{
    public object? LastRaw { get; private set; }

    public ChatOptions? LastOptions { get; private set; }

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        LastOptions = options;
        LastRaw = options?.RawRepresentationFactory?.Invoke(this) as TRaw ?? new TRaw();
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok")));
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        LastOptions = options;
        LastRaw = options?.RawRepresentationFactory?.Invoke(this) as TStreamingRaw ?? new TStreamingRaw();
        await Task.Yield();
        yield return new ChatResponseUpdate(ChatRole.Assistant, "ok");
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(sdkClient) ? sdkClient :
        serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }
}
