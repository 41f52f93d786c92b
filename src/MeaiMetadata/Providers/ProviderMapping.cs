using Microsoft.Extensions.AI;

namespace MeaiMetadata.Providers;

/// <summary>Maps the tags of one request onto one provider's raw options type.</summary>
internal abstract class ProviderMapping
{
    /// <summary>Gets a short name of the API, for logs.</summary>
    public abstract string Api { get; }

    /// <summary>Returns whether <paramref name="rawOptions"/> is this mapping's raw options type.</summary>
    public abstract bool Handles(object rawOptions);

    /// <summary>Returns whether <paramref name="providerClient"/> (the innermost client, as handed to
    /// <see cref="ChatOptions.RawRepresentationFactory"/>) consumes this mapping's raw options type.</summary>
    public abstract bool Serves(IChatClient providerClient);

    /// <summary>Creates an empty raw options object for a request whose caller supplied none.</summary>
    public abstract object CreateRawOptions();

    /// <summary>Puts the tags on <paramref name="rawOptions"/>, which was created for this request.</summary>
    /// <returns><see langword="true"/> when the metadata was attached; <see langword="false"/> when the request's store
    /// setting keeps it off.</returns>
    public abstract bool Apply(object rawOptions, in TaggingRequest request);
}
