using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MeaiMetadata.Diagnostics;
using Microsoft.Extensions.AI;

namespace MeaiMetadata.Decision;

/// <summary>Where the app id of a request comes from, in order: the call's own app id
/// (<see cref="DifyMetadataKeys.AppIdProperty"/>), else the current <see cref="DifySession"/>, else
/// <see cref="DifyMetadataOptions.AppIdResolver"/>, else the W3C Baggage item <c>dify.app_id</c>.</summary>
/// <remarks>
/// The call's own app id wins because nothing is more specific: the caller named the app of this very request (a router,
/// a batch job serving several apps). A session comes next: code opened it around this call (a tool, a job for one app). The
/// resolver reads an ambient source the operator chose (the HTTP request, a tenant context) and, when set, replaces
/// baggage, which any upstream caller can set and so comes last.
/// </remarks>
internal readonly struct AppIdLookup
{
    public const string FromCall = "call";
    public const string FromSession = "session";
    public const string FromResolver = "resolver";
    public const string FromBaggage = "baggage";

    private AppIdLookup(string? appId, string origin, string? outcome, string? reason, DifySession? session = null)
    {
        Session = session;
        AppId = appId;
        Origin = origin;
        Outcome = outcome;
        Reason = reason;
    }

    /// <summary>Gets the session the app id came from, or <see langword="null"/>.</summary>
    public DifySession? Session { get; }

    /// <summary>Gets the app id as given, or <see langword="null"/> when there is none.</summary>
    public string? AppId { get; }

    /// <summary>Gets where the app id came from (or would have).</summary>
    public string Origin { get; }

    /// <summary>Gets the outcome of a request without an app id.</summary>
    public string? Outcome { get; }

    /// <summary>Gets why there is no app id, for the log.</summary>
    public string? Reason { get; }

    /// <summary>Finds the app id of the current request.</summary>
    /// <param name="settings">The layer's settings.</param>
    /// <param name="options">The caller's options, for the call's own app id.</param>
    /// <param name="prior">The request whose writes <paramref name="options"/> carry, or <see langword="null"/>: its options no
    /// longer hold the call's own app id (the layer never passes the key on), so a call-named app continues through it.</param>
    public static AppIdLookup Find(DifyMetadataSettings settings, ChatOptions? options, DifyRequest? prior)
    {
        if (options?.AdditionalProperties is { Count: > 0 } properties &&
            properties.TryGetValue(DifyMetadataKeys.AppIdProperty, out object? named) &&
            FromCallValue(settings, named) is { } fromCall)
        {
            return fromCall;
        }

        if (prior?.Decision is { Origin: FromCall } priorDecision)
        {
            return new(priorDecision.AppId, FromCall, null, null);
        }

        if (DifySession.Current is { } session)
        {
            return session.AppId.Length == 0
                ? new(null, FromSession, DifyMetadataMetrics.NoSession, "the session's app id is empty")
                : new(session.AppId, FromSession, null, null, session);
        }

        if (settings.AppIdResolver is { } resolver)
        {
            string? appId;
            try
            {
                appId = resolver();
            }
#pragma warning disable CA1031 // A failing resolver means an untagged request, never a failed one.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.ResolverFailed(settings.Logger, ex);
                return new(null, FromResolver, DifyMetadataMetrics.ResolverFailed, "the app id resolver threw");
            }

            return string.IsNullOrEmpty(appId)
                ? new(null, FromResolver, DifyMetadataMetrics.NoSession, "the resolver returned no app id")
                : new(appId, FromResolver, null, null);
        }

        if (settings.AppIdFromBaggage && ActivityBaggage.Find(Activity.Current, DifyMetadataTelemetry.AppIdTag) is { Length: > 0 } fromBaggage)
        {
            return new(fromBaggage, FromBaggage, null, null);
        }

        return new(null, FromSession, DifyMetadataMetrics.NoSession, "no session");
    }

    /// <summary>Reads the call's own app id: like a session's, an empty one means untagged; one deserialized from JSON is
    /// not the caller's code speaking (a client's request body may have carried it) and is ignored.</summary>
    private static AppIdLookup? FromCallValue(DifyMetadataSettings settings, object? value)
    {
        string? appId;
        switch (value)
        {
            case string text:
                appId = text;
                break;
            case sbyte or byte or short or ushort or int or uint or long or ulong or nint or nuint or Int128 or UInt128 or System.Numerics.BigInteger:
                appId = ((IFormattable)value).ToString(null, CultureInfo.InvariantCulture);
                break;
            case Guid guid:
                appId = guid.ToString("D", CultureInfo.InvariantCulture);
                break;
            case JsonElement or JsonDocument or JsonNode:
                Log.CallAppIdFromJsonIgnored(settings.Logger);
                return null;
            default:
                Log.CallAppIdUnreadable(settings.Logger, value?.GetType().FullName ?? "null");
                return new(null, FromCall, DifyMetadataMetrics.TaggingFailed, "the call's app id is not a string");
        }

        return appId.Length == 0
            ? new(null, FromCall, DifyMetadataMetrics.NoSession, "the call's app id is empty")
            : new(appId, FromCall, null, null);
    }
}
