using MeaiMetadata.Budgets;
using MeaiMetadata.Gateways;
using MeaiMetadata.Providers;
using MeaiMetadata.Spend;
using MeaiMetadata.Tagging;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata;

/// <summary>A validated, immutable snapshot of <see cref="DifyMetadataOptions"/> as one layer applies it.</summary>
internal sealed record DifyMetadataSettings(
    bool Enabled, Func<string?>? AppIdResolver, string? Source, bool AdditionalPropertiesEnabled, DifyStorePolicy StorePolicy,
    bool AppIdFromBaggage, int MaxMetricAppIds, DifyProviderMapping[] ProviderMappings, GatewayHeader[] GatewayHeaders,
    DifyPriceTable Prices, DifyBudgetSettings? Budgets, ILogger Logger, DifyMetadataChatClient? Layer)
{
    /// <summary>Validates <paramref name="options"/> and takes a snapshot of them.</summary>
    public static DifyMetadataSettings Create(DifyMetadataOptions options, ILogger logger, DifyMetadataChatClient? layer = null)
    {
        if (Validate(options) is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        _ = GatewayHeader.TryParseAll(options.GatewayHeaders, options.GatewayHeaderPrefixes, out GatewayHeader[] gatewayHeaders);
        return new(
            options.Enabled, options.AppIdResolver, string.IsNullOrEmpty(options.Source) ? null : options.Source, options.AdditionalPropertiesEnabled,
            options.StorePolicy, options.AppIdFromBaggage, options.MaxMetricAppIds, [.. options.ProviderMappings], gatewayHeaders,
            DifyPriceTable.Create(options.Prices, options.ModelAliases), DifyBudgetSettings.Create(options.Budgets), logger, layer);
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

        return !Enum.IsDefined(options.StorePolicy) ? $"{Name}.{nameof(options.StorePolicy)} has the undefined value {(int)options.StorePolicy}."
            : options.MaxMetricAppIds < 0 ? $"{Name}.{nameof(options.MaxMetricAppIds)} must be 0 or more; it is {options.MaxMetricAppIds}."
            : options.ProviderMappings.Any(m => m is null) ? $"{Name}.{nameof(options.ProviderMappings)} must not hold null."
            : GatewayHeader.TryParseAll(options.GatewayHeaders, options.GatewayHeaderPrefixes, out _)
                ?? DifyPriceTable.Validate(options.Prices, options.ModelAliases) ?? DifyBudgetSettings.Validate(options.Budgets);
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
