using MeaiMetadata.Spend;

namespace MeaiMetadata.SpendTool;

/// <summary>What <see cref="DifySpendReport.FromStoredCompletionsAsync"/> reads and how it prices it.</summary>
internal sealed class DifySpendReportOptions
{
    /// <summary>Gets or sets the start of the range (inclusive), compared with each stored completion's <c>created</c>.</summary>
    public DateTimeOffset Since { get; set; }

    /// <summary>Gets or sets the end of the range (exclusive), or <see langword="null"/> for now.</summary>
    public DateTimeOffset? Until { get; set; }

    /// <summary>Gets or sets the one app to report (the list is filtered by <c>metadata[dify_app_id]</c>), or
    /// <see langword="null"/> for every stored completion, those without an app id grouped under a <see langword="null"/> app.</summary>
    public string? AppId { get; set; }

    /// <summary>Gets or sets the one model to report (the list's <c>model</c> filter), or <see langword="null"/> for all.</summary>
    public string? Model { get; set; }

    /// <summary>Gets or sets the price table; pass the table of the pipeline's prices (<c>DifyPriceTable.Create(options.Prices, options.ModelAliases)</c>) to price as the meter does.</summary>
    /// <value>The default value is <see cref="DifyPriceTable.BuiltIn"/>.</value>
    public DifyPriceTable Prices { get; set; } = DifyPriceTable.BuiltIn;

    /// <summary>Gets or sets the page size, 1 to 100 (OpenAI's limit).</summary>
    /// <value>The default value is 100.</value>
    public int PageSize { get; set; } = 100;
}
