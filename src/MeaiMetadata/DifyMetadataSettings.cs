using MeaiMetadata.Budgets;
using MeaiMetadata.Gateways;
using MeaiMetadata.Providers;
using MeaiMetadata.Spend;
using MeaiMetadata.Tagging;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata;

/// <summary>A validated, immutable snapshot of <see cref="DifyMetadataOptions"/> as one layer applies it.</summary>
internal sealed class DifyMetadataSettings
{
    private DifyMetadataSettings(DifyMetadataOptions options, GatewayHeader[] gatewayHeaders, ILogger logger, DifyMetadataChatClient? layer)
    {
        Layer = layer;
        Enabled = options.Enabled;
        AppIdResolver = options.AppIdResolver;
        Source = string.IsNullOrEmpty(options.Source) ? null : options.Source;
        AdditionalPropertiesEnabled = options.AdditionalPropertiesEnabled;
        StorePolicy = options.StorePolicy;
        AppIdFromBaggage = options.AppIdFromBaggage;
        MaxMetricAppIds = options.MaxMetricAppIds;
        ProviderMappings = [.. options.ProviderMappings];
        GatewayHeaders = gatewayHeaders;
        Prices = DifyPriceTable.From(options);
        Budgets = DifyBudgetSettings.Create(options.Budgets);
        Logger = logger;
    }

    public bool Enabled { get; }

    public Func<string?>? AppIdResolver { get; }

    public string? Source { get; }

    public bool AdditionalPropertiesEnabled { get; }

    public DifyStorePolicy StorePolicy { get; }

    public bool AppIdFromBaggage { get; }

    public int MaxMetricAppIds { get; }

    public DifyProviderMapping[] ProviderMappings { get; }

    public GatewayHeader[] GatewayHeaders { get; }

    public DifyPriceTable Prices { get; }

    public ILogger Logger { get; }

    /// <summary>Gets the layer that applies these settings.</summary>
    public DifyMetadataChatClient? Layer { get; }

    /// <summary>Gets the budgets, or <see langword="null"/> when none is configured.</summary>
    public DifyBudgetSettings? Budgets { get; }

    /// <summary>Validates <paramref name="options"/> and takes a snapshot of them.</summary>
    public static DifyMetadataSettings Create(DifyMetadataOptions options, ILogger logger, DifyMetadataChatClient? layer = null)
    {
        if (Validate(options) is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        _ = GatewayHeader.TryParseAll(options.GatewayHeaders, options.GatewayHeaderPrefixes, out GatewayHeader[] gatewayHeaders);
        return new DifyMetadataSettings(options, gatewayHeaders, logger, layer);
    }

    /// <summary>Returns why <paramref name="options"/> cannot work, naming the option, or <see langword="null"/>.</summary>
    public static string? Validate(DifyMetadataOptions options)
    {
        const string Name = nameof(DifyMetadataOptions);
        if (options.Source is { } source && !ReferenceEquals(WireMetadata.Normalize(source, WireMetadata.MaxValueLength), source))
        {
            return $"{Name}.{nameof(options.Source)} must be at most {WireMetadata.MaxValueLength} characters of valid UTF-16 " +
                $"(OpenAI's limit for a metadata value); it has {source.Length} characters" +
                (source.Length <= WireMetadata.MaxValueLength ? " and contains a lone surrogate." : ".");
        }

        if (!Enum.IsDefined(options.StorePolicy))
        {
            return $"{Name}.{nameof(options.StorePolicy)} has the undefined value {(int)options.StorePolicy}.";
        }

        if (options.MaxMetricAppIds < 0)
        {
            return $"{Name}.{nameof(options.MaxMetricAppIds)} must be 0 or more; it is {options.MaxMetricAppIds}.";
        }

        if (options.ProviderMappings.Any(m => m is null))
        {
            return $"{Name}.{nameof(options.ProviderMappings)} must not hold null.";
        }

        return GatewayHeader.TryParseAll(options.GatewayHeaders, options.GatewayHeaderPrefixes, out _) ?? DifyPriceTable.Validate(options.Prices, options.ModelAliases)
            ?? DifyBudgetSettings.Validate(options.Budgets);
    }

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
    public DifyProviderMapping? MappingFor(object rawOptions) => Array.Find(ProviderMappings, m => m.CanApply(rawOptions));
}
