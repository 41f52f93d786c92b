namespace MeaiMetadata.TwoServices;

/// <summary>The configuration entries of the two services (what an <c>appsettings.json</c> or the environment would hold).</summary>
public static class TwoServicesSettings
{
    /// <summary>The edge's entries: one <c>ApiKeys:N</c> per caller, and the edge's own key at the backend.</summary>
    /// <param name="callers">Each caller's API key and the app id it authenticates.</param>
    /// <param name="serviceKey">The key the edge presents to the backend.</param>
    /// <returns>The entries, for <c>AddInMemoryCollection</c>.</returns>
    public static IEnumerable<KeyValuePair<string, string?>> Edge(IEnumerable<(string ApiKey, string AppId)> callers, string serviceKey)
    {
        ArgumentNullException.ThrowIfNull(callers);
        int index = 0;
        foreach ((string apiKey, string appId) in callers)
        {
            yield return new($"ApiKeys:{index}:Key", apiKey);
            yield return new($"ApiKeys:{index}:AppId", appId);
            index++;
        }

        yield return new("Backend:ServiceKey", serviceKey);
    }

    /// <summary>The backend's entries: the edge's service key.</summary>
    /// <param name="edgeServiceKey">The key the edge presents.</param>
    /// <returns>The entries, for <c>AddInMemoryCollection</c>.</returns>
    public static IEnumerable<KeyValuePair<string, string?>> Backend(string edgeServiceKey)
    {
        yield return new("ServiceKeys:0:Key", edgeServiceKey);
        yield return new("ServiceKeys:0:Service", EdgeService.ServiceName);
    }
}
