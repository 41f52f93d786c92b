using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MeaiMetadata;

/// <summary>Validates <see cref="DifyMetadataOptions"/> registered with <c>AddDifyMetadata</c> (at start-up with
/// <c>ValidateOnStart</c>, and on every change).</summary>
internal sealed class DifyMetadataOptionsValidator : IValidateOptions<DifyMetadataOptions>
{
    public ValidateOptionsResult Validate(string? name, DifyMetadataOptions options) =>
        DifyMetadataSettings.Validate(options) is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
}

/// <summary>The options monitor's cache for <see cref="DifyMetadataOptions"/>: a configuration change whose options fail
/// to bind or validate is refused with one Error, and the options in force stay cached, so the thread that reloaded sees no
/// exception and every layer, existing or built later, goes on with them. Options that never were valid still fail
/// (start-up with <c>ValidateOnStart</c>).</summary>
internal sealed class DifyMetadataOptionsCache(ILoggerFactory? loggerFactory = null) : IOptionsMonitorCache<DifyMetadataOptions>
{
    private readonly ConcurrentDictionary<string, (DifyMetadataOptions Options, bool Stale, string? Refused, long RefusedAt)> _entries = new(StringComparer.Ordinal);
    private readonly ILogger _logger = loggerFactory?.CreateLogger<DifyMetadataChatClient>() ?? (ILogger)NullLogger.Instance;

    public DifyMetadataOptions GetOrAdd(string? name, Func<DifyMetadataOptions> createOptions)
    {
        name ??= Options.DefaultName;
        bool found = _entries.TryGetValue(name, out (DifyMetadataOptions Options, bool Stale, string? Refused, long RefusedAt) entry);
        if (found && !entry.Stale)
        {
            return entry.Options;
        }

        lock (_entries)
        {
            if (_entries.TryGetValue(name, out entry) && !entry.Stale)
            {
                return entry.Options;
            }

            try
            {
                DifyMetadataOptions created = createOptions();
                _entries[name] = (created, false, null, 0);
                return created;
            }
            catch (Exception ex) when (entry.Options is not null && ex is OptionsValidationException or InvalidOperationException)
            {
                // Once per refused change: one reload raises a change per provider within milliseconds; a later edit is logged again.
                long now = TimeProvider.System.GetTimestamp();
                if (ex.Message != entry.Refused || TimeProvider.System.GetElapsedTime(entry.RefusedAt, now) > TimeSpan.FromSeconds(1))
                {
                    Log.OptionsChangeRefused(_logger, ex.Message);
                }

                _entries[name] = (entry.Options, false, ex.Message, now);
                return entry.Options;
            }
        }
    }

    public bool TryAdd(string? name, DifyMetadataOptions options) => _entries.TryAdd(name ?? Options.DefaultName, (options, false, null, 0));

    public bool TryRemove(string? name)
    {
        name ??= Options.DefaultName;
        return _entries.TryGetValue(name, out var entry) && _entries.TryUpdate(name, entry with { Stale = true }, entry);
    }

    public void Clear()
    {
        foreach (string name in _entries.Keys)
        {
            _ = TryRemove(name);
        }
    }
}
