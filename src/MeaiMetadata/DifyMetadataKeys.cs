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
}
