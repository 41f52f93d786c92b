using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MeaiMetadata;

/// <summary>Validates <see cref="DifyMetadataOptions"/> registered with <c>AddDifyMetadata</c>: at start-up, and on changes.</summary>
/// <remarks>
/// Invalid options fail the first validation of their name (the host's start-up with <c>ValidateOnStart</c>, or the first
/// use). A later change (a configuration reload) is validated by <see cref="IOptionsMonitor{TOptions}"/> on the thread
/// that reloaded, where a failure would be thrown to that caller (<c>IConfigurationRoot.Reload()</c> would throw an
/// <see cref="AggregateException"/>) and would make every pipeline built afterwards throw too. Such a change is refused
/// here instead: one Error names the option and the value, and the refused instance carries the last valid options of its
/// name, which every <see cref="DifyMetadataChatClient"/>, existing or built later, goes on using.
/// </remarks>
internal sealed class DifyMetadataOptionsValidator(ILoggerFactory? loggerFactory = null) : IValidateOptions<DifyMetadataOptions>
{
    private readonly ConcurrentDictionary<string, DifyMetadataOptions> _lastValid = new(StringComparer.Ordinal);

    // The refusal logged last per name and when: one configuration reload raises a change per provider, each validated
    // again within milliseconds (some still half reloaded), and the refusal is logged once, not once per change; the same
    // refusal of a later edit (seconds or more after) is logged again.
    private static readonly TimeSpan s_sameReload = TimeSpan.FromSeconds(2);
    private readonly ConcurrentDictionary<string, (string Error, long At)> _lastRefusal = new(StringComparer.Ordinal);
    private readonly ILogger _logger = loggerFactory?.CreateLogger<DifyMetadataChatClient>() ?? (ILogger)NullLogger.Instance;

    public ValidateOptionsResult Validate(string? name, DifyMetadataOptions options)
    {
        name ??= Options.DefaultName;
        if (DifyMetadataSettings.Validate(options) is not { } error)
        {
            _lastValid[name] = options;
            _ = _lastRefusal.TryRemove(name, out _);
            return ValidateOptionsResult.Success;
        }

        if (!_lastValid.TryGetValue(name, out DifyMetadataOptions? previous))
        {
            return ValidateOptionsResult.Fail(error);
        }

        options.RefusedFor = previous;
        long now = TimeProvider.System.GetTimestamp();
        if (!_lastRefusal.TryGetValue(name, out (string Error, long At) logged) ||
            !string.Equals(logged.Error, error, StringComparison.Ordinal) ||
            TimeProvider.System.GetElapsedTime(logged.At, now) > s_sameReload)
        {
            Log.OptionsChangeRejected(_logger, error);
        }

        _lastRefusal[name] = (error, now); // each change of the same reload moves the window on

        return ValidateOptionsResult.Success;
    }
}
