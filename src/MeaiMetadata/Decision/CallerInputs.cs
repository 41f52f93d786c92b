using Microsoft.Extensions.AI;

namespace MeaiMetadata.Decision;

/// <summary>What the caller handed in on the three things this layer writes: the raw-options factory, and
/// <c>AdditionalProperties["metadata"]</c> and <c>["store"]</c> (each with whether it was there at all).</summary>
/// <remarks>Compared by reference only: a caller's object with a hostile <see cref="object.Equals(object?)"/> is never asked.</remarks>
internal readonly struct CallerInputs(
    Func<IChatClient, object?>? factory, bool hasMetadata, object? metadata, bool hasStore, object? store)
{
    public Func<IChatClient, object?>? Factory { get; } = factory;

    public bool HasMetadata { get; } = hasMetadata;

    public object? Metadata { get; } = metadata;

    public bool HasStore { get; } = hasStore;

    public object? Store { get; } = store;

    /// <summary>Returns these inputs with <see cref="Metadata"/> replaced.</summary>
    public CallerInputs WithMetadata(object? metadata) => new(Factory, true, metadata, HasStore, Store);

    /// <summary>Returns these inputs with <see cref="Store"/> replaced.</summary>
    public CallerInputs WithStore(object? store) => new(Factory, HasMetadata, Metadata, true, store);

    /// <summary>Returns these inputs with the metadata entry (present or not) of <paramref name="other"/>.</summary>
    public CallerInputs WithMetadataOf(CallerInputs other) => new(Factory, other.HasMetadata, other.Metadata, HasStore, Store);

    /// <summary>Returns these inputs with the store entry (present or not) of <paramref name="other"/>.</summary>
    public CallerInputs WithStoreOf(CallerInputs other) => new(Factory, HasMetadata, Metadata, other.HasStore, other.Store);

    /// <summary>Returns these inputs with <see cref="Factory"/> replaced.</summary>
    public CallerInputs WithFactory(Func<IChatClient, object?>? factory) => new(factory, HasMetadata, Metadata, HasStore, Store);

    /// <summary>Reads the inputs off <paramref name="options"/>.</summary>
    public static CallerInputs Of(ChatOptions? options)
    {
        if (options is null)
        {
            return default;
        }

        AdditionalPropertiesDictionary? properties = options.AdditionalProperties;
        object? metadata = null, store = null;
        bool hasMetadata = properties?.TryGetValue(DifyMetadataKeys.MetadataProperty, out metadata) == true;
        bool hasStore = properties?.TryGetValue(DifyMetadataKeys.StoreProperty, out store) == true;
        return new(options.RawRepresentationFactory, hasMetadata, metadata, hasStore, store);
    }

    /// <summary>Returns whether <paramref name="options"/> carry the call's own app id (<see cref="DifyMetadataKeys.AppIdProperty"/>),
    /// which the layer reads and never passes on.</summary>
    public static bool HasCallAppId(ChatOptions? options) =>
        options?.AdditionalProperties is { Count: > 0 } properties && properties.ContainsKey(DifyMetadataKeys.AppIdProperty);

    /// <summary>Returns whether <paramref name="options"/> already carry exactly these inputs (and no call app id).</summary>
    public bool AreOn(ChatOptions? options)
    {
        CallerInputs on = Of(options);
        return !HasCallAppId(options) && on.Factory == Factory &&
            on.HasMetadata == HasMetadata && ReferenceEquals(on.Metadata, Metadata) &&
            on.HasStore == HasStore && ReferenceEquals(on.Store, Store);
    }

    /// <summary>Returns a clone of <paramref name="options"/> (or new options) carrying these inputs, without the call's own app id.</summary>
    public ChatOptions ApplyTo(ChatOptions? options)
    {
        ChatOptions result = options is null ? new ChatOptions() : options.Clone();
        if (result is null || ReferenceEquals(result, options))
        {
            throw new InvalidOperationException($"{options!.GetType().FullName}.Clone() returned null or the same instance; the caller's options must not be changed.");
        }

        if (result.AdditionalProperties is { } shared && ReferenceEquals(shared, options?.AdditionalProperties))
        {
            result.AdditionalProperties = shared.Clone(); // a shallow Clone() override: the caller's dictionary stays the caller's
        }

        result.RawRepresentationFactory = Factory;
        Set(result, DifyMetadataKeys.MetadataProperty, HasMetadata, Metadata);
        Set(result, DifyMetadataKeys.StoreProperty, HasStore, Store);
        if (HasCallAppId(options))
        {
            _ = result.AdditionalProperties?.Remove(DifyMetadataKeys.AppIdProperty); // only a clone of the caller's can hold it
        }

        return result;

        static void Set(ChatOptions options, string key, bool has, object? value)
        {
            if (has)
            {
                (options.AdditionalProperties ??= [])[key] = value;
            }
            else
            {
                _ = options.AdditionalProperties?.Remove(key);
            }
        }
    }
}
