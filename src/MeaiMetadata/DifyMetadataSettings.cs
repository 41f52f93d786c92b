using MeaiMetadata.Diagnostics;
using MeaiMetadata.Gateways;
using MeaiMetadata.Providers;
using MeaiMetadata.Tagging;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata;

/// <summary>A validated, immutable snapshot of <see cref="DifyMetadataOptions"/> as one client layer applies it.</summary>
internal sealed class DifyMetadataSettings
{
    private DifyMetadataSettings(DifyMetadataOptions options, GatewayHeader[] gatewayHeaders, ILogger logger, DifyMetadataMetrics metrics)
    {
        GatewayHeaders = gatewayHeaders;
        Enabled = options.Enabled;
        AppIdResolver = options.AppIdResolver;
        Source = string.IsNullOrEmpty(options.Source) ? null : options.Source;
        AdditionalPropertiesEnabled = options.AdditionalPropertiesEnabled;
        StorePolicy = options.StorePolicy;
        AppIdFromBaggage = options.AppIdFromBaggage;
        MaxMetricAppIds = options.MaxMetricAppIds;
        ProviderMappings = [.. options.ProviderMappings];
        Logger = logger;
        Metrics = metrics;
        Prices = Spend.DifyPriceTable.From(options);
    }

    public bool Enabled { get; }

    public Func<string?>? AppIdResolver { get; }

    public string? Source { get; }

    public bool AdditionalPropertiesEnabled { get; }

    public DifyStorePolicy StorePolicy { get; }

    public bool AppIdFromBaggage { get; }

    public int MaxMetricAppIds { get; }

    public ILogger Logger { get; }

    public DifyProviderMapping[] ProviderMappings { get; }

    public DifyMetadataMetrics Metrics { get; }

    /// <summary>Gets the gateway headers to write for each decided request (none: empty).</summary>
    public GatewayHeader[] GatewayHeaders { get; }

    /// <summary>Gets the price table of these options.</summary>
    public Spend.DifyPriceTable Prices { get; }

    /// <summary>Gets the models met without a price under these options (each warned about once).</summary>
    public Spend.UnpricedModels UnpricedModels { get; } = new();

    /// <summary>Validates <paramref name="options"/> and takes a snapshot of them.</summary>
    /// <exception cref="ArgumentException">An option has a value OpenAI would reject.</exception>
    public static DifyMetadataSettings Create(DifyMetadataOptions options, ILogger logger, DifyMetadataMetrics? metrics = null)
    {
        if (Validate(options) is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        _ = GatewayHeader.TryParseAll(options.GatewayHeaders, out GatewayHeader[] gatewayHeaders);
        return new DifyMetadataSettings(options, gatewayHeaders, logger, metrics ?? DifyMetadataMetrics.For(meterFactory: null));
    }

    /// <summary>Returns why <paramref name="options"/> are invalid, or <see langword="null"/> when they are valid.</summary>
    public static string? Validate(DifyMetadataOptions options)
    {
        if (options.ConfigurationError is { } configurationError)
        {
            return $"{nameof(DifyMetadataOptions)} could not be bound from configuration: {configurationError}";
        }

        if (options.Source is { } source && MetadataText.NeedsNormalizing(source, MetadataLimits.MaxValueLength))
        {
            return $"{nameof(DifyMetadataOptions)}.{nameof(DifyMetadataOptions.Source)} must be at most {MetadataLimits.MaxValueLength} " +
                $"UTF-16 characters of valid text (OpenAI's limit for a metadata value); it has {source.Length} characters" +
                (source.Length <= MetadataLimits.MaxValueLength ? " and contains a lone surrogate." : ".");
        }

        if (!Enum.IsDefined(options.StorePolicy))
        {
            return $"{nameof(DifyMetadataOptions)}.{nameof(DifyMetadataOptions.StorePolicy)} has the undefined value {(int)options.StorePolicy}.";
        }

        if (options.ProviderMappings is null || options.ProviderMappings.Any(m => m is null))
        {
            return $"{nameof(DifyMetadataOptions)}.{nameof(DifyMetadataOptions.ProviderMappings)} must not hold null.";
        }

        if (GatewayHeader.TryParseAll(options.GatewayHeaders, out _) is { } gatewayError)
        {
            return gatewayError;
        }

        if (Spend.DifyPriceTable.Validate(options.Prices, options.ModelAliases) is { } priceError)
        {
            return priceError;
        }

        if (options.MaxMetricAppIds < 0)
        {
            return $"{nameof(DifyMetadataOptions)}.{nameof(DifyMetadataOptions.MaxMetricAppIds)} must be 0 or more; it is {options.MaxMetricAppIds}.";
        }

        return null;
    }

    /// <summary>Records one request's outcome.</summary>
    public void Count(string outcome, string? appId = null) => Metrics.RecordRequest(outcome, appId, MaxMetricAppIds);

    /// <summary>Returns the first mapping that serves <paramref name="providerClient"/>, or <see langword="null"/>.</summary>
    public DifyProviderMapping? MappingFor(IChatClient providerClient, bool streaming)
    {
        foreach (DifyProviderMapping mapping in ProviderMappings)
        {
            if (mapping.CanCreateFor(providerClient, streaming))
            {
                return mapping;
            }
        }

        return null;
    }

    /// <summary>Returns the first mapping that can apply to <paramref name="rawOptions"/>, or <see langword="null"/>.</summary>
    public DifyProviderMapping? MappingFor(object rawOptions)
    {
        foreach (DifyProviderMapping mapping in ProviderMappings)
        {
            if (mapping.CanApply(rawOptions))
            {
                return mapping;
            }
        }

        return null;
    }
}
