using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata.Spend;

/// <summary>The models met without a price, so that each is warned about once per options snapshot.</summary>
internal sealed class UnpricedModels
{
    private readonly ConcurrentDictionary<string, byte> _warned = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Logs the warning for <paramref name="model"/> the first time it is met.</summary>
    public void Warn(ILogger logger, string? model)
    {
        string id = model ?? "";
        if (_warned.TryAdd(id, 0))
        {
            Log.ModelUnpriced(logger, id.Length == 0 ? "(none)" : id);
        }
    }
}
