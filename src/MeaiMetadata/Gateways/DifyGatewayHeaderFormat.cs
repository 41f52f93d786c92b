namespace MeaiMetadata.Gateways;

/// <summary>How a custom gateway header carries the app id (an entry <c>"Header-Name: format"</c> of
/// <see cref="DifyMetadataOptions.GatewayHeaders"/>).</summary>
public enum DifyGatewayHeaderFormat
{
    /// <summary>The app id alone, percent-encoded (RFC 3986: every byte of its UTF-8 outside <c>A-Z a-z 0-9 - . _ ~</c>
    /// becomes <c>%XX</c>). Written <c>text</c> in an entry.</summary>
    Text,

    /// <summary>A JSON object <c>{"dify_app_id":"…","dify_source":"…"}</c>, escaped to printable ASCII (non-ASCII, control
    /// characters, quotes and backslashes as <c>\uXXXX</c> or <c>\"</c>-style escapes). Written <c>json</c> in an entry.</summary>
    Json,

    /// <summary>Comma-separated tags <c>dify_app_id:&lt;id&gt;,dify_source:&lt;source&gt;</c>, each value percent-encoded as in
    /// <see cref="Text"/> (so an id can never add a tag). Written <c>tags</c> in an entry.</summary>
    Tags,
}
