using MeaiMetadata.Http;
using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace MeaiMetadata.AspNetCore;

/// <summary>Finds and removes the W3C Baggage member <c>dify.app_id</c>: in a <c>baggage</c> header value, and in the
/// baggage of an <see cref="Activity"/> and its local parents.</summary>
/// <remarks>
/// Baggage keys are case-sensitive, so only <c>dify.app_id</c> matches, but in every spelling a propagator may read as it:
/// with whitespace around it, and percent-encoded (<c>dify%2Eapp_id</c>, <c>%64ify.app_id</c>; <c>+</c> as a space).
/// Measured (BaggagePropagatorKeyTests): OpenTelemetry's <c>BaggagePropagator</c> and .NET's default (W3C) propagator keep a
/// key as it was sent, only trimmed, so <c>%64ify.app_id</c> reaches <c>Baggage.Current</c> and <c>Activity.Baggage</c> as
/// that key and OpenTelemetry's HttpClient instrumentation sends it on as it is; .NET's pre-W3C propagator decodes keys, and
/// so may the next service's. Every spelling is therefore removed, wherever it is found.
/// </remarks>
internal static class BaggageMembers
{
    /// <summary>The headers .NET's propagator reads baggage from: <c>baggage</c>, and <c>Correlation-Context</c> when a
    /// request has no <c>baggage</c> header.</summary>
    public static readonly string[] HeaderNames = ["baggage", "Correlation-Context"];

    private const string AppIdKey = "dify.app_id";

    /// <summary>Removes the <c>dify.app_id</c> members of every value of header <paramref name="name"/>; a value left empty
    /// is dropped, and the header with it when none is left.</summary>
    /// <returns>Whether anything was removed.</returns>
    public static bool RemoveAppId(IHeaderDictionary headers, string name)
    {
        if (!headers.TryGetValue(name, out StringValues values))
        {
            return false;
        }

        List<string>? kept = null;
        for (int i = 0; i < values.Count; i++)
        {
            string value = values[i] ?? string.Empty;
            string stripped = RemoveAppId(value);
            if (kept is null && !ReferenceEquals(stripped, value))
            {
                kept = new List<string>(values.Count);
                for (int j = 0; j < i; j++)
                {
                    kept.Add(values[j] ?? string.Empty);
                }
            }

            if (kept is not null && stripped.Length > 0)
            {
                kept.Add(stripped);
            }
        }

        if (kept is null)
        {
            return false;
        }

        if (kept.Count == 0)
        {
            _ = headers.Remove(name);
        }
        else
        {
            headers[name] = new StringValues([.. kept]);
        }

        return true;
    }

    /// <summary>Returns <paramref name="value"/> less its <c>dify.app_id</c> members, the other members kept byte for byte
    /// and joined by commas (empty list elements dropped); the same instance when it has none, and an empty string when
    /// nothing is left.</summary>
    public static string RemoveAppId(string value)
    {
        if (!value.Contains(AppIdKey, StringComparison.Ordinal) && !value.Contains('%', StringComparison.Ordinal))
        {
            return value;
        }

        string[] members = value.Split(',');
        if (!Array.Exists(members, m => IsAppIdMember(m)))
        {
            return value;
        }

        return string.Join(',', members.Where(m => !IsAppIdMember(m) && !string.IsNullOrWhiteSpace(m)));
    }

    /// <summary>Removes every <c>dify.app_id</c> item from the baggage of <paramref name="activity"/> and its parents.</summary>
    /// <returns>Whether there was any.</returns>
    public static bool RemoveAppId(Activity? activity)
    {
        bool removed = false;
        for (Activity? current = activity; current is not null; current = current.Parent)
        {
            // Baggage lists this activity's items and then its parents'; removing a key this activity does not have does
            // nothing, and its parents are visited next.
            List<string>? keys = null;
            foreach (KeyValuePair<string, string?> item in current.Baggage)
            {
                if (IsAppIdKey(item.Key))
                {
                    (keys ??= []).Add(item.Key);
                }
            }

            if (keys is null)
            {
                break;
            }

            removed = true;
            foreach (string key in keys)
            {
                _ = current.SetBaggage(key, null);
            }
        }

        return removed;
    }

    /// <summary>Whether a member (<c>key=value;properties</c>) has the key <c>dify.app_id</c>.</summary>
    public static bool IsAppIdMember(ReadOnlySpan<char> member) => DifyBaggageHandler.IsAppIdMember(member);

    /// <summary>Whether <paramref name="key"/> reads as <c>dify.app_id</c>, as it is or percent-decoded, whitespace trimmed.</summary>
    public static bool IsAppIdKey(ReadOnlySpan<char> key) => DifyBaggageHandler.IsAppIdKey(key);
}
