using Microsoft.Extensions.Logging;

namespace MeaiMetadata.Gateways;

/// <summary>The gateway headers of the call being sent: set by the layer around its inner call (inside async methods, so they
/// flow into the provider's HTTP send and never back to the caller), read by the policy and the handler.</summary>
internal static class GatewayScope
{
    private static readonly AsyncLocal<GatewayRequest?> s_current = new();

    /// <summary>Gets or sets the headers of the call being sent in this flow; only live ones are returned.</summary>
    public static GatewayRequest? Current
    {
        get => s_current.Value is { IsLive: true } headers ? headers : null;
        set => s_current.Value = value;
    }
}

/// <summary>The gateway headers of one call, computed once from its decision.</summary>
internal sealed class GatewayRequest(KeyValuePair<string, string>[] values, ILogger logger, DifySession? session)
{
    private volatile bool _ended, _written;

    /// <summary>Gets a value indicating whether these headers may still go out: not after their call or its session ended.</summary>
    public bool IsLive => !_ended && session is not { IsEnded: true };

    /// <summary>Gets a value indicating whether a policy or handler wrote these headers on a request.</summary>
    public bool Written => _written;

    public KeyValuePair<string, string>[] Values { get; } = values;

    /// <summary>Returns the <paramref name="headers"/> of <paramref name="call"/>, or <see langword="null"/> when there are none.</summary>
    public static GatewayRequest? For(DifyRequestDecision call, GatewayHeader[] headers)
    {
        if (headers.Length == 0)
        {
            return null;
        }

        var values = new List<KeyValuePair<string, string>>();
        foreach (GatewayHeader header in headers)
        {
            header.Write(call, values);
        }

        return new GatewayRequest([.. values], call.Logger, call.Session);
    }

    public void End() => _ended = true;

    /// <summary>Writes the headers: one of the same name already on the request (the caller's own) is replaced.</summary>
    public void ApplyTo<T>(T request, Func<T, string, bool> remove, Action<T, string, string> add)
    {
        _written = true;
        foreach (KeyValuePair<string, string> header in Values)
        {
            if (remove(request, header.Key))
            {
                Log.GatewayHeaderReplaced(logger, header.Key);
            }

            add(request, header.Key, header.Value);
        }
    }
}
