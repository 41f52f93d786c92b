using Microsoft.Extensions.AI;

namespace MeaiMetadata.Providers;

/// <summary>Microsoft.Extensions.AI.OpenAI's own chat clients (what <c>AsIChatClient()</c> returns for a Chat Completions
/// or Responses client of the OpenAI SDK).</summary>
/// <remarks>
/// They build the request from the raw options and the typed <see cref="ChatOptions"/> properties, and read no
/// <c>AdditionalProperties</c> entry this layer writes (<c>metadata</c>, <c>store</c>): the only entry of the options they
/// read is <c>strict</c>, for tools (MEAI's <c>OpenAIClientExtensions.HasStrict</c>). So when a layer's inner client is one
/// of them, nothing reads the <c>AdditionalProperties</c> channel the layer would write. Pinned for the supported versions
/// by the wire test <c>ProviderClient_IgnoresTheAdditionalPropertiesEntries</c> (IntegrationTests, Wire), which the
/// compatibility matrix runs on each.
/// </remarks>
internal static class OpenAIProviderClients
{
    /// <summary>Returns whether <paramref name="client"/> is one of these clients itself (not a layer over one).</summary>
    public static bool Is(IChatClient client) =>
        client.GetType() is { FullName: "Microsoft.Extensions.AI.OpenAIChatClient" or "Microsoft.Extensions.AI.OpenAIResponsesChatClient" } type &&
        type.Assembly == typeof(OpenAIClientExtensions).Assembly;
}
