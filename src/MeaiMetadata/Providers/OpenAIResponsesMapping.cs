using Microsoft.Extensions.AI;
using OpenAI.Responses;

#pragma warning disable OPENAI001 // The Responses API types are marked experimental by the OpenAI SDK.

namespace MeaiMetadata.Providers;

/// <summary>OpenAI Responses: <see cref="CreateResponseOptions.Metadata"/>; the service stores responses by default.</summary>
internal sealed class OpenAIResponsesMapping : ProviderMapping
{
    public static OpenAIResponsesMapping Instance { get; } = new();

    public override string Api => "responses";

    public override bool Handles(object rawOptions) => rawOptions is CreateResponseOptions;

    public override bool Serves(IChatClient providerClient) => providerClient.GetService(typeof(ResponsesClient)) is not null;

    public override object CreateRawOptions() => new CreateResponseOptions();

    public override bool Apply(object rawOptions, in TaggingRequest request)
    {
        var options = (CreateResponseOptions)rawOptions;

        // The reference attaches nothing to a request that turned storage off explicitly.
        if (options.StoredOutputEnabled is false)
        {
            Log.StoreNotEnabled(request.Settings.Logger, Api);
            return false;
        }

        // Unset store means "stored" on the Responses API, so metadata goes on even when the policy leaves it unset.
        options.StoredOutputEnabled = request.DecideStore(options.StoredOutputEnabled);
        request.MergeInto(options.Metadata, Api);
        return true;
    }
}
