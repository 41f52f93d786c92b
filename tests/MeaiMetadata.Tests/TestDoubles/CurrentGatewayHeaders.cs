using MeaiMetadata.Gateways;

namespace MeaiMetadata.Tests.TestDoubles;

/// <summary>The gateway headers a policy would write in this flow right now, or <see langword="null"/> when none would.</summary>
internal static class CurrentGatewayHeaders
{
    public static List<KeyValuePair<string, string>>? Values =>
        GatewayScope.Current is { } call ? GatewayHeader.ValuesOf(call, call.Settings.GatewayHeaders) : null;
}
