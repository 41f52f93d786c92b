using Microsoft.Extensions.Logging;

namespace MeaiMetadata.Gateways;

/// <summary>The gateway headers of one decided request, computed once from its <see cref="DifyRequestDecision"/>.</summary>
internal sealed class GatewayRequestHeaders
{
    private readonly DifySession? _session;
    private volatile bool _ended;

    private GatewayRequestHeaders(KeyValuePair<string, string>[] values, ILogger logger, DifySession? session)
    {
        Values = values;
        Logger = logger;
        _session = session;
    }

    /// <summary>Gets a value indicating whether these headers may still go out: not once the layer's call that set them has
    /// ended (work a tool started and left running), nor once the request's session has ended (a stream enumerated after).</summary>
    public bool IsLive => !_ended && _session is not { IsEnded: true };

    /// <summary>Gets the header names and values, values of printable ASCII only.</summary>
    public KeyValuePair<string, string>[] Values { get; }

    /// <summary>Gets the layer's logger.</summary>
    public ILogger Logger { get; }

    /// <summary>Returns the headers of <paramref name="decision"/> under <paramref name="gateways"/>, or <see langword="null"/>
    /// when no gateway header is configured.</summary>
    public static GatewayRequestHeaders? For(DifyRequestDecision decision, GatewayHeader[] gateways)
    {
        if (gateways.Length == 0)
        {
            return null;
        }

        var values = new List<KeyValuePair<string, string>>(gateways.Length + 1);
        foreach (GatewayHeader gateway in gateways)
        {
            gateway.Write(decision, values);
        }

        return new GatewayRequestHeaders([.. values], decision.Logger, decision.Session);
    }

    /// <summary>Marks the end of the layer's call: from now on these headers go out on nothing.</summary>
    public void End() => _ended = true;

    /// <summary>Writes the headers through <paramref name="contains"/>, <paramref name="remove"/> and <paramref name="add"/>:
    /// a header of the same name already on the request (the caller's own) is replaced.</summary>
    public void ApplyTo<T>(T request, Func<T, string, bool> contains, Action<T, string> remove, Action<T, string, string> add)
    {
        foreach (KeyValuePair<string, string> header in Values)
        {
            if (contains(request, header.Key))
            {
                remove(request, header.Key);
                Log.GatewayHeaderReplaced(Logger, header.Key);
            }

            add(request, header.Key, header.Value);
        }
    }
}
