using OpenTelemetry;

namespace MeaiMetadata.AspNetCore;

/// <summary>The item <c>dify.app_id</c> in OpenTelemetry's <see cref="Baggage.Current"/>, removed for an untrusted caller
/// (<c>DifyBaggageHandler</c>, in the core package, sets it for its own sends).</summary>
/// <remarks>
/// OpenTelemetry keeps its own copy of the incoming baggage beside .NET's <see cref="System.Diagnostics.Activity.Baggage"/>:
/// OpenTelemetry.Instrumentation.AspNetCore extracts the <c>baggage</c> header into <see cref="Baggage.Current"/> when the
/// request starts, before any middleware, and OpenTelemetry.Instrumentation.Http replaces the <c>baggage</c> header of every
/// outgoing request with it whenever it is not empty, below every <see cref="DelegatingHandler"/> (so also below
/// <c>DifyBaggageHandler</c>). Both happen only with OpenTelemetry's default propagator (trace context and baggage).
/// <see cref="Baggage.Current"/> lives in a holder that every flow of the request shares once it exists: the removal is seen
/// by the rest of the pipeline, the endpoint and its outgoing calls, and one send's app id is put in a holder of its own.
/// </remarks>
internal static class OpenTelemetryBaggage
{
    /// <summary>Removes every item of <see cref="Baggage.Current"/> whose key reads as <c>dify.app_id</c>
    /// (<see cref="BaggageMembers.IsAppIdKey"/>).</summary>
    /// <returns>Whether there was any.</returns>
    public static bool RemoveAppId()
    {
        Baggage current = Baggage.Current;
        if (current.Count == 0)
        {
            return false;
        }

        Baggage stripped = WithoutAppId(current, out bool removed);
        if (removed)
        {
            Baggage.Current = stripped;
        }

        return removed;
    }

    private static Baggage WithoutAppId(Baggage baggage, out bool removed)
    {
        removed = false;
        Baggage result = baggage;
        foreach (KeyValuePair<string, string> item in baggage)
        {
            if (BaggageMembers.IsAppIdKey(item.Key))
            {
                result = result.RemoveBaggage(item.Key);
                removed = true;
            }
        }

        return result;
    }
}
