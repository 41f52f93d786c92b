using System.Diagnostics;
using MeaiMetadata.Tagging;

namespace MeaiMetadata.Http;

/// <summary>An HTTP handler that sends the app id of the current propagating <see cref="DifySession"/> as the W3C Baggage
/// item <c>dify.app_id</c>, so that the services it calls tag their own LLM requests with it.</summary>
/// <remarks>
/// <para>
/// A request made inside a session begun with <c>DifySession.Begin(appId, propagateAsBaggage: true)</c> gets
/// <c>dify.app_id=&lt;app id, percent-encoded&gt;</c> as the first member of its <c>baggage</c> header. The other members
/// it would have carried are kept: those of a <c>baggage</c> header the caller set, or, when it set none, those of
/// <see cref="Activity.Current"/> (which .NET's own propagator adds only to a request without a <c>baggage</c> header).
/// A <c>dify.app_id</c> member among them is replaced: the session decides this flow's app. Outside a propagating session
/// the request is not changed at all. No <see cref="Activity"/> is created or changed, so tracing is unaffected.
/// </para>
/// <para>Add it with <c>services.AddHttpClient(...).AddDifyBaggage()</c>, to every client of the factory with
/// <c>services.ConfigureHttpClientDefaults(b =&gt; b.AddDifyBaggage())</c>, or directly:
/// <c>new HttpClient(new DifyBaggageHandler(new SocketsHttpHandler()))</c>. An <see cref="HttpClient"/> without it sends
/// no <c>dify.app_id</c>.</para>
/// <para>This type is thread-safe.</para>
/// </remarks>
public sealed class DifyBaggageHandler : DelegatingHandler
{
    /// <summary>The HTTP header of W3C Baggage.</summary>
    internal const string HeaderName = "baggage";

    /// <summary>Initializes a new instance of the <see cref="DifyBaggageHandler"/> class, for a pipeline that sets the inner handler (<c>IHttpClientFactory</c>).</summary>
    public DifyBaggageHandler()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="DifyBaggageHandler"/> class over <paramref name="innerHandler"/>.</summary>
    /// <param name="innerHandler">The handler that sends the request.</param>
    public DifyBaggageHandler(HttpMessageHandler innerHandler)
        : base(innerHandler)
    {
    }

    /// <inheritdoc />
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        AddBaggage(request);
        return base.SendAsync(request, cancellationToken);
    }

    /// <inheritdoc />
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        AddBaggage(request);
        return base.Send(request, cancellationToken);
    }

    /// <summary>Puts the current propagating session's app id on <paramref name="request"/>, keeping its other baggage.</summary>
    internal static void AddBaggage(HttpRequestMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (DifySession.Current is not { PropagatesAsBaggage: true } session || session.AppId.Length == 0)
        {
            return;
        }

        string appId = Uri.EscapeDataString(MetadataText.Normalize(session.AppId, MetadataLimits.MaxValueLength));
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
    }

    private static bool IsAppIdMember(string member)
    {
        int equals = member.IndexOf('=', StringComparison.Ordinal);
        ReadOnlySpan<char> key = (equals < 0 ? member : member[..equals]).AsSpan().Trim();
        return key.Equals(DifyMetadataTelemetry.AppIdTag, StringComparison.Ordinal);
    }
}
