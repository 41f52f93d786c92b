using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace MeaiMetadata;

/// <summary>Validates <see cref="DifyMetadataOptions"/> registered with <c>AddDifyMetadata</c>: at start-up, and on changes.</summary>
/// <remarks>
/// Invalid options fail the first validation of their name (the host's start-up with <c>ValidateOnStart</c>, or the first
/// use). A later change (a configuration reload) is validated by <see cref="Microsoft.Extensions.Options.IOptionsMonitor{TOptions}"/>
/// on the thread that reloaded, where a failure would be thrown to that caller (<c>IConfigurationRoot.Reload()</c> would
/// throw an <see cref="AggregateException"/>): such a change passes here, and every <see cref="DifyMetadataChatClient"/>
/// that follows the options refuses it with an error naming the option and the value, and keeps its previous options.
/// </remarks>
internal sealed class DifyMetadataOptionsValidator : IValidateOptions<DifyMetadataOptions>
{
    private readonly ConcurrentDictionary<string, bool> _validatedOnce = new(StringComparer.Ordinal);

    public ValidateOptionsResult Validate(string? name, DifyMetadataOptions options)
    {
        name ??= Options.DefaultName;
        if (DifyMetadataSettings.Validate(options) is not { } error)
        {
            _validatedOnce[name] = true;
            return ValidateOptionsResult.Success;
        }

        return _validatedOnce.ContainsKey(name) ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(error);
    }
}
