using System.Diagnostics;
using System.Net;
using OpenTelemetry;
using OpenTelemetry.Context;

namespace MeaiMetadata.Http;

/// <summary>An HTTP handler that sends the app id of the current propagating <see cref="DifySession"/> as the first member
/// of the W3C <c>baggage</c> header (<c>dify.app_id</c>), keeping the other members; outside such a session the request is not
/// changed. Add it with <c>services.AddHttpClient(...).AddDifyBaggage()</c>. This type is thread-safe.</summary>
public sealed class DifyBaggageHandler : DelegatingHandler
{
    /// <summary>The HTTP header of W3C Baggage.</summary>
    internal const string HeaderName = "baggage";

    /// <summary>Initializes a new instance of the <see cref="DifyBaggageHandler"/> class, for a pipeline that sets the inner handler (<c>IHttpClientFactory</c>).</summary>
    public DifyBaggageHandler()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="DifyBaggageHandler"/> class over <paramref name="innerHandler"/>.</summary>
    public DifyBaggageHandler(HttpMessageHandler innerHandler)
        : base(innerHandler)
    {
    }

    /// <inheritdoc />
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        AddBaggage(request) is { } appId && Baggage.Current.Count > 0
            ? SendCarryingAsync(appId, request, cancellationToken)
            : base.SendAsync(request, cancellationToken);

    /// <inheritdoc />
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (AddBaggage(request) is not { } appId || Baggage.Current.Count == 0)
        {
            return base.Send(request, cancellationToken);
        }

        // Undone when the send returns, also in a flow whose ExecutionContext is suppressed.
        object? holder = CarryInOpenTelemetryBaggage(appId);
        try
        {
            return base.Send(request, cancellationToken);
        }
        finally
        {
            RuntimeContext.SetValue(OpenTelemetrySlot, holder);
        }
    }

    private async Task<HttpResponseMessage> SendCarryingAsync(string appId, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        _ = CarryInOpenTelemetryBaggage(appId); // inside this async method: its changes to the flow end with it, in no other flow
        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>OpenTelemetry's slot of <see cref="Baggage.Current"/>: a holder every flow of a request shares once it exists.</summary>
    private const string OpenTelemetrySlot = "otel.baggage";

    /// <summary>Gives this send's flow an OpenTelemetry baggage of its own whose first item is <c>dify.app_id</c>: its HTTP
    /// instrumentation rewrites the <c>baggage</c> header from <see cref="Baggage.Current"/> below every handler (when it is
    /// not empty), and writes items in order up to 180 or 8,192 bytes, so the app id goes first.</summary>
    /// <returns>The holder the flow had, to put back.</returns>
    private static object? CarryInOpenTelemetryBaggage(string appId)
    {
        Baggage current = Baggage.Current;
        var items = new Dictionary<string, string>(current.Count + 1, StringComparer.Ordinal) { [DifyMetadataTelemetry.AppIdTag] = appId };
        foreach (KeyValuePair<string, string> item in current)
        {
            if (!IsAppIdKey(item.Key))
            {
                items[item.Key] = item.Value;
            }
        }

        object? holder = RuntimeContext.GetValue(OpenTelemetrySlot);
        RuntimeContext.SetValue(OpenTelemetrySlot, null); // this flow's own holder from here: the shared one stays as it is
        Baggage.Current = Baggage.Create(items);
        return holder;
    }

    /// <summary>Puts the current propagating session's app id on <paramref name="request"/>, keeping its other baggage.</summary>
    internal static string? AddBaggage(HttpRequestMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (DifySession.Current is not { PropagatesAsBaggage: true, IsBlank: false } session)
        {
            return null;
        }

        string normalized = session.SentAppId;
        string appId = Uri.EscapeDataString(normalized);
        var baggage = new System.Text.StringBuilder(DifyMetadataTelemetry.AppIdTag.Length + 1 + appId.Length);
        baggage.Append(DifyMetadataTelemetry.AppIdTag).Append('=').Append(appId);

        if (request.Headers.TryGetValues(HeaderName, out IEnumerable<string>? values))
        {
            foreach (string value in values)
            {
                foreach (string member in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    if (!IsAppIdMember(member))
                    {
                        baggage.Append(',').Append(member);
                    }
                }
            }

            _ = request.Headers.Remove(HeaderName);
        }
        else if (Activity.Current is { } activity)
        {
            foreach (KeyValuePair<string, string?> item in activity.Baggage)
            {
                if (!IsAppIdKey(item.Key))
                {
                    baggage.Append(',').Append(Uri.EscapeDataString(item.Key)).Append('=').Append(Uri.EscapeDataString(item.Value ?? string.Empty));
                }
            }
        }

        _ = request.Headers.TryAddWithoutValidation(HeaderName, baggage.ToString());
        return normalized;
    }

    /// <summary>Whether a member (<c>key=value;properties</c>) has the key <c>dify.app_id</c>.</summary>
    internal static bool IsAppIdMember(ReadOnlySpan<char> member)
    {
        int end = member.IndexOfAny('=', ';');
        return IsAppIdKey(end < 0 ? member : member[..end]);
    }

    /// <summary>Whether <paramref name="key"/> reads as <c>dify.app_id</c>, as it is or percent-decoded (a propagator may
    /// decode keys), white space trimmed. Keys are otherwise case-sensitive: <c>DIFY.APP_ID</c> is another member.</summary>
    internal static bool IsAppIdKey(ReadOnlySpan<char> key)
    {
        ReadOnlySpan<char> trimmed = key.Trim();
        return trimmed.SequenceEqual(DifyMetadataTelemetry.AppIdTag) ||
            (trimmed.ContainsAny('%', '+') && WebUtility.UrlDecode(trimmed.ToString()).AsSpan().Trim().SequenceEqual(DifyMetadataTelemetry.AppIdTag));
    }
}
