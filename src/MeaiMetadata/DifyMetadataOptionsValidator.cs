using Microsoft.Extensions.Options;

namespace MeaiMetadata;

/// <summary>Validates <see cref="DifyMetadataOptions"/> from configuration, at start-up and on every change.</summary>
internal sealed class DifyMetadataOptionsValidator : IValidateOptions<DifyMetadataOptions>
{
    public ValidateOptionsResult Validate(string? name, DifyMetadataOptions options) =>
        DifyMetadataSettings.Validate(options) is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
}
