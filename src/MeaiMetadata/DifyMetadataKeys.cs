namespace MeaiMetadata;

/// <summary>The names this library writes on a request.</summary>
public static class DifyMetadataKeys
{
    /// <summary>The metadata key that carries the app id: <c>dify_app_id</c>.</summary>
    public const string AppId = "dify_app_id";

    /// <summary>The metadata key that carries the source marker: <c>dify_source</c>.</summary>
    public const string Source = "dify_source";

    /// <summary>The <see cref="Microsoft.Extensions.AI.ChatOptions.AdditionalProperties"/> key that carries the merged metadata,
    /// an <see cref="IReadOnlyDictionary{TKey, TValue}"/> of <see cref="string"/> to <see cref="string"/>.</summary>
    public const string MetadataProperty = "metadata";

    /// <summary>The <see cref="Microsoft.Extensions.AI.ChatOptions.AdditionalProperties"/> key that carries the store flag, a <see cref="bool"/>.</summary>
    public const string StoreProperty = "store";

    /// <summary>The <see cref="Microsoft.Extensions.AI.ChatOptions.AdditionalProperties"/> key that names the app of one call:
    /// <c>dify.app_id</c>, a <see cref="string"/> (also an integer or a <see cref="Guid"/>). Set it with
    /// <c>WithDifyAppId</c>.</summary>
    /// <remarks>It wins over the session, the resolver and baggage. A value deserialized from JSON (a
    /// <see cref="System.Text.Json.JsonElement"/>, for options read from a request body) is ignored with a warning: a client
    /// must not choose whom its usage is attributed to. An enabled layer reads the key and never passes it on: the options
    /// the layers inside it see do not carry it (a provider that copies every entry to its request, such as Amazon Bedrock's,
    /// never receives it); a layer switched off (<see cref="DifyMetadataOptions.Enabled"/>) passes the caller's options on
    /// untouched, key included.</remarks>
    public const string AppIdProperty = "dify.app_id";
}
