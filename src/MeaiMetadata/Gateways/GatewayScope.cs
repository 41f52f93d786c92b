namespace MeaiMetadata.Gateways;

/// <summary>The call whose gateway headers go on the requests sent in this flow: set by the layer inside its async methods,
/// so it flows into the provider's HTTP send and never back to the caller; read by the policy and the handler.</summary>
internal static class GatewayScope
{
    private static readonly AsyncLocal<DifyRequestDecision?> s_current = new();

    /// <summary>Gets or sets the call being sent in this flow; only a call whose headers may go out is returned. A call whose
    /// layer writes none is kept as <see langword="null"/>: the flow then changes only when it hides an outer call's.</summary>
    public static DifyRequestDecision? Current
    {
        get => s_current.Value is { GatewayHeadersLive: true } call ? call : null;
        set => s_current.Value = value is { Settings.GatewayHeaders.Length: > 0 } ? value : null;
    }

    /// <summary>Writes the current call's headers: one of the same name already on the request (the caller's own) is replaced.</summary>
    public static void ApplyTo<T>(T request, Func<T, string, bool> remove, Action<T, string, string> add)
    {
        s_current.Value?.MarkPolicyReached(); // the policy is installed, whether or not these headers go out
        if (Current is not { } call)
        {
            return;
        }

        foreach ((string name, string value) in GatewayHeader.ValuesOf(call, call.Settings.GatewayHeaders))
        {
            if (remove(request, name))
            {
                Log.GatewayHeaderReplaced(call.Logger, name);
            }

            add(request, name, value);
        }
    }
}
