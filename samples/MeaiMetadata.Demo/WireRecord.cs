namespace MeaiMetadata.Demo;

/// <summary>One HTTP request as the endpoint saw it.</summary>
public sealed record WireRecord(string Api, bool Stream, IReadOnlyDictionary<string, string>? Metadata, bool? Store, int StatusCode, string? Error)
{
    public bool Tagged => Metadata?.ContainsKey(DifyMetadataKeys.AppId) == true;
}

/// <summary>Where the demo reads what reached the endpoint.</summary>
public interface IWireLog
{
    /// <summary>Gets every request recorded so far, in order.</summary>
    IReadOnlyList<WireRecord> Snapshot();
}
