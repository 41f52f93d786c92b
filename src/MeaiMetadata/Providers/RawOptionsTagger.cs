using System.Diagnostics;
using MeaiMetadata.Diagnostics;
using MeaiMetadata.Tagging;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Providers;

/// <summary>
/// The <see cref="ChatOptions.RawRepresentationFactory"/> of a tagged request: calls the caller's factory first, then picks
/// the one <see cref="DifyProviderMapping"/> that applies and lets it put the tags on the raw options.
/// </summary>
/// <remarks>This is the one place that decides which mapping applies.</remarks>
internal sealed class RawOptionsTagger
{
    private readonly DifyMetadataSettings _settings;
    private readonly DifyTagSet _tags;
    private readonly Func<IChatClient, object?>? _callerFactory;
    private readonly bool? _callerStore;
    private readonly bool _streaming;

    public RawOptionsTagger(
        DifyMetadataSettings settings, DifyTagSet tags, Func<IChatClient, object?>? callerFactory, bool? callerStore, bool streaming)
    {
        _settings = settings;
        _tags = tags;
        _callerFactory = callerFactory;
        _callerStore = callerStore;
        _streaming = streaming;
        Factory = Create;
    }

    /// <summary>Gets the delegate to set as <see cref="ChatOptions.RawRepresentationFactory"/>.</summary>
    public Func<IChatClient, object?> Factory { get; }

    /// <summary>Returns whether <paramref name="factory"/> was made by this layer (the request is tagged already).</summary>
    public static bool IsTagging(Func<IChatClient, object?>? factory) => factory?.Target is RawOptionsTagger;

    /// <summary>Returns whether this tagger does what a new one made from these arguments would do.</summary>
    public bool Matches(DifyMetadataSettings settings, Func<IChatClient, object?>? callerFactory, bool? callerStore, bool streaming) =>
        ReferenceEquals(_settings, settings) && _callerFactory == callerFactory && _callerStore == callerStore && _streaming == streaming;

    private object? Create(IChatClient providerClient)
    {
        // The caller's factory runs first and its exceptions reach the caller unchanged.
        object? rawOptions = _callerFactory?.Invoke(providerClient);

        try
        {
            DifyProviderMapping? mapping = rawOptions is null ? FindFor(providerClient) : FindFor(rawOptions);
            if (mapping is null)
            {
                Log.NoMapping(_settings.Logger, rawOptions?.GetType().FullName ?? providerClient.GetType().FullName ?? "?");
                _settings.Count(DifyMetadataMetrics.UnsupportedProvider, _tags);
                return rawOptions;
            }

            rawOptions ??= mapping.CreateRawOptions(providerClient, _streaming);
            bool attached = mapping.Apply(rawOptions, new DifyMappingContext(_tags, _settings, _callerStore, _streaming));
            _settings.Count(attached ? DifyMetadataMetrics.Attached : DifyMetadataMetrics.StoreDisabled, _tags);

            // The span of an OpenTelemetry layer placed inside this one is current here, not in the layer itself.
            Activity.Current?.SetTag(DifyMetadataTelemetry.AppIdTag, _tags.AppId);
        }
#pragma warning disable CA1031 // Tagging must never break a request: whatever fails here, the request goes out as it is.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.TaggingFailed(_settings.Logger, ex);
        }

        return rawOptions;
    }

    private DifyProviderMapping? FindFor(object rawOptions)
    {
        foreach (DifyProviderMapping mapping in _settings.ProviderMappings)
        {
            if (mapping.CanApply(rawOptions))
            {
                return mapping;
            }
        }

        return null;
    }

    private DifyProviderMapping? FindFor(IChatClient providerClient)
    {
        foreach (DifyProviderMapping mapping in _settings.ProviderMappings)
        {
            if (mapping.CanCreateFor(providerClient, _streaming))
            {
                return mapping;
            }
        }

        return null;
    }
}
