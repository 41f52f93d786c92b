using MeaiMetadata.Gateways;

namespace MeaiMetadata.Tests.TestDoubles;

/// <summary>The gateway headers a policy writes in this flow right now (as a policy, it marks the call as reached), or
/// <see langword="null"/> when it writes none.</summary>
internal static class CurrentGatewayHeaders
{
    public static List<KeyValuePair<string, string>>? Values
    {
        get
        {
            var headers = new List<KeyValuePair<string, string>>();
            GatewayScope.ApplyTo(headers, static (h, name) => h.RemoveAll(p => p.Key == name) > 0, static (h, name, value) => h.Add(new(name, value)));
            return headers.Count == 0 ? null : headers;
        }
    }
}
