using MeaiMetadata.Http;
using OpenTelemetry;
using OpenTelemetry.Context;

namespace MeaiMetadata.AspNetCore;

/// <summary>The item <c>dify.app_id</c> in OpenTelemetry's <see cref="Baggage.Current"/>: removed for an untrusted caller,
/// set for one send of <c>DifyBaggageHandler</c> in a propagating session.</summary>
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

    /// <summary>OpenTelemetry's slot of <see cref="Baggage.Current"/> (a holder the flows of a request share).</summary>
    private const string BaggageSlot = "otel.baggage";

    /// <summary>Makes <c>DifyBaggageHandler</c> put the app id of each send's session in OpenTelemetry's baggage too, so
    /// that the header OpenTelemetry's HTTP instrumentation rewrites still names the session of the send (the request's, or
    /// one the application opened itself inside it), and only for that send.</summary>
    public static void CarryOnEverySend() => DifyBaggageHandler.AlsoCarry ??= CarryForThisSend;

    /// <summary>Gives the current flow a baggage of its own whose first item is <c>dify.app_id=<paramref name="appId"/></c>:
    /// called inside one send's flow, no other flow of the request sees it.</summary>
    /// <returns>What gives the flow back the holder it had (the send's end), or <see langword="null"/> if nothing changed.</returns>
    internal static IDisposable? CarryForThisSend(string appId)
    {
        Baggage current = Baggage.Current;
        if (current.Count == 0)
        {
            return null; // an empty baggage makes OpenTelemetry leave the handler's header as it is
        }

        Baggage carried = WithAppIdFirst(current, appId);
        var previous = new HolderRestore(RuntimeContext.GetValue(BaggageSlot));
        RuntimeContext.SetValue(BaggageSlot, null); // this flow's own holder from here: the shared one stays as it is
        Baggage.Current = carried;
        return previous;
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

    /// <summary>The baggage with <c>dify.app_id</c> as its first item (any other spelling removed): OpenTelemetry's
    /// propagator writes items in order and stops at 180 items or 8,192 bytes, so an item added last would be the one a
    /// caller's long baggage pushes out.</summary>
    private static Baggage WithAppIdFirst(Baggage baggage, string appId)
    {
        // Ordinal, as W3C Baggage keys and OpenTelemetry's own items are: DIFY.APP_ID is another member (which must not
        // overwrite the app id), and Tenant and tenant stay two.
        var items = new Dictionary<string, string>(baggage.Count + 1, StringComparer.Ordinal) { [DifyMetadataTelemetry.AppIdTag] = appId };
        foreach (KeyValuePair<string, string> item in baggage)
        {
            if (!BaggageMembers.IsAppIdKey(item.Key))
            {
                items[item.Key] = item.Value;
            }
        }

        return Baggage.Create(items);
    }

    /// <summary>Puts a holder back in OpenTelemetry's baggage slot of the current flow.</summary>
    private sealed class HolderRestore(object? holder) : IDisposable
    {
        public void Dispose() => RuntimeContext.SetValue(BaggageSlot, holder);
    }
}
