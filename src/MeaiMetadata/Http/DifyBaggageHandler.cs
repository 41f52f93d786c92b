using System.Diagnostics;
using System.Net;
using OpenTelemetry;
using OpenTelemetry.Context;

namespace MeaiMetadata.Http;

/// <summary>An HTTP handler that sends the app id of the current propagating <see cref="DifySession"/> as the first member
/// of the W3C <c>baggage</c> header (<c>dify.app_id</c>), keeping the other members; outside such a session the request is not
/// changed. Under OpenTelemetry's HTTP instrumentation, which rewrites that header from its own <c>Baggage.Current</c>, the
/// send's flow gets an OpenTelemetry baggage that says the same. Add it with <c>services.AddHttpClient(...).AddDifyBaggage()</c>.
/// This type is thread-safe.</summary>
public sealed class DifyBaggageHandler : DelegatingHandler
{
    /// <summary>The HTTP header of W3C Baggage.</summary>
    internal const string HeaderName = "baggage";

    /// <summary>OpenTelemetry's slot of <see cref="Baggage.Current"/>: a holder every flow of a request shares once it exists.</summary>
    private const string OpenTelemetrySlot = "otel.baggage";

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
        AddBaggage(request) is { } carried ? SendCarryingAsync(carried, request, cancellationToken) : base.SendAsync(request, cancellationToken);

    /// <inheritdoc />
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Baggage? carried = AddBaggage(request);
        object? holder = carried is { } baggage ? Carry(baggage) : null;
        try
        {
            return base.Send(request, cancellationToken);
        }
        finally
        {
            if (carried is not null)
            {
                RuntimeContext.SetValue(OpenTelemetrySlot, holder); // undone here, also in a flow whose ExecutionContext is suppressed
            }
        }
    }

    private async Task<HttpResponseMessage> SendCarryingAsync(Baggage carried, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        _ = Carry(carried); // inside this async method: its changes to the flow end with it, in no other flow
        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Gives this send's flow an OpenTelemetry baggage of its own: its HTTP instrumentation rewrites the
    /// <c>baggage</c> header from <see cref="Baggage.Current"/> below every handler whenever it is not empty (also when a
    /// handler inside this one adds an item), so it must say what the header says. Returns the holder the flow had.</summary>
    private static object? Carry(Baggage carried)
    {
        object? holder = RuntimeContext.GetValue(OpenTelemetrySlot);
        RuntimeContext.SetValue(OpenTelemetrySlot, null); // this flow's own holder from here: the shared one stays as it is
        Baggage.Current = carried;
        return holder;
    }

    /// <summary>Puts the current propagating session's app id first on <paramref name="request"/>'s <c>baggage</c> header,
    /// keeping its other members (or, without the header, the <see cref="Activity"/>'s baggage).</summary>
    /// <returns>The same as an OpenTelemetry baggage (the app id first, then OpenTelemetry's own items, else the header's
    /// members), or <see langword="null"/> outside a propagating session. OpenTelemetry writes items in order and stops at
    /// 180 items or 8,192 bytes, so the app id goes first there too.</returns>
    internal static Baggage? AddBaggage(HttpRequestMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (DifySession.Current is not { PropagatesAsBaggage: true, IsBlank: false } session)
        {
            return null;
        }

        // The other members, as sent and decoded: the request's own header's, else the Activity's baggage.
        List<(string Text, string? Key, string Value)> members = request.Headers.TryGetValues(HeaderName, out IEnumerable<string>? values)
            ? [.. values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Where(m => !IsAppIdMember(m)).Select(Decode)]
            : [.. (Activity.Current?.Baggage ?? []).Where(i => !IsAppIdKey(i.Key)).Select(i =>
                (Uri.EscapeDataString(i.Key) + "=" + Uri.EscapeDataString(i.Value ?? string.Empty), (string?)i.Key, i.Value ?? string.Empty))];
        _ = request.Headers.Remove(HeaderName);
        _ = request.Headers.TryAddWithoutValidation(
            HeaderName, string.Join(',', members.Select(m => m.Text).Prepend(DifyMetadataTelemetry.AppIdTag + "=" + Uri.EscapeDataString(session.SentAppId))));

        var carried = new Dictionary<string, string>(StringComparer.Ordinal) { [DifyMetadataTelemetry.AppIdTag] = session.SentAppId };
        foreach ((string key, string value) in Baggage.Current is { Count: > 0 } current // what OpenTelemetry would have sent
            ? current.GetBaggage().Where(i => !IsAppIdKey(i.Key))
            : members.Where(m => m.Key is not null).Select(m => KeyValuePair.Create(m.Key!, m.Value)))
        {
            _ = carried.TryAdd(key, value);
        }

        return Baggage.Create(carried);

        static (string, string?, string) Decode(string member) => member.Split(';')[0].Split('=', 2) is [var key, var text] && key.Trim().Length > 0
            ? (member, Uri.UnescapeDataString(key.Trim()), Uri.UnescapeDataString(text.Trim()))
            : (member, null, string.Empty);
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
