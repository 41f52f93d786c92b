using System.Diagnostics;
using MeaiMetadata.Tagging;

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

    /// <summary>Gets or sets what else carries the app id of one send (MeaiMetadata.AspNetCore: OpenTelemetry's baggage, which
    /// its HTTP instrumentation writes below every handler); called in the send's flow, it returns what undoes it.</summary>
    internal static Func<string, IDisposable?>? AlsoCarry { get; set; }

    /// <inheritdoc />
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        AddBaggage(request) is { } appId && AlsoCarry is { } carry
            ? SendCarryingAsync(carry, appId, request, cancellationToken)
            : base.SendAsync(request, cancellationToken);

    /// <inheritdoc />
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (AddBaggage(request) is not { } appId || AlsoCarry is not { } carry)
        {
            return base.Send(request, cancellationToken);
        }

        // Undone when the send returns, also in a flow whose ExecutionContext is suppressed (and so cannot be copied).
        using IDisposable? carried = Carry(carry, appId);
        return base.Send(request, cancellationToken);
    }

    private async Task<HttpResponseMessage> SendCarryingAsync(Func<string, IDisposable?> carry, string appId, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        // Inside this async method: its changes to the flow end with it.
        using IDisposable? carried = Carry(carry, appId);
        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    private static IDisposable? Carry(Func<string, IDisposable?> carry, string appId)
    {
        try
        {
            return carry(appId);
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>Puts the current propagating session's app id on <paramref name="request"/>, keeping its other baggage.</summary>
    internal static string? AddBaggage(HttpRequestMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (DifySession.Current is not { PropagatesAsBaggage: true, IsBlank: false } session)
        {
            return null;
        }

        string normalized = WireMetadata.Normalize(session.AppId, WireMetadata.MaxValueLength);
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
                if (!string.Equals(item.Key, DifyMetadataTelemetry.AppIdTag, StringComparison.Ordinal))
                {
                    baggage.Append(',').Append(Uri.EscapeDataString(item.Key)).Append('=').Append(Uri.EscapeDataString(item.Value ?? string.Empty));
                }
            }
        }

        _ = request.Headers.TryAddWithoutValidation(HeaderName, baggage.ToString());
        return normalized;
    }

    private static bool IsAppIdMember(string member)
    {
        int equals = member.IndexOf('=', StringComparison.Ordinal);
        ReadOnlySpan<char> key = (equals < 0 ? member : member[..equals]).AsSpan().Trim();
        return key.Equals(DifyMetadataTelemetry.AppIdTag, StringComparison.Ordinal);
    }
}
