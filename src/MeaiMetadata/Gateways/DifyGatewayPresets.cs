namespace MeaiMetadata.Gateways;

/// <summary>The names of the gateway presets, as written in <see cref="DifyMetadataOptions.GatewayHeaders"/> and in
/// configuration (<c>"DifyMetadata": { "GatewayHeaders": ["Helicone", "Portkey", "Cloudflare", "LiteLLM"] }</c>).</summary>
/// <remarks>Names are matched without regard to case.</remarks>
internal static class DifyGatewayPresets
{
    /// <summary>Helicone custom properties: <c>Helicone-Property-Dify-App-Id</c> and <c>Helicone-Property-Dify-Source</c>,
    /// each value percent-encoded.</summary>
    /// <remarks>Helicone reads every <c>Helicone-Property-[Name]</c> request header as a custom property whose value is a
    /// string (https://docs.helicone.ai/observability/custom-properties,
    /// https://docs.helicone.ai/helicone-headers/header-directory).</remarks>
    public const string Helicone = "Helicone";

    /// <summary>Portkey metadata: <c>x-portkey-metadata: {"dify_app_id":"…","dify_source":"…"}</c>, each value cut to 128
    /// characters.</summary>
    /// <remarks>Portkey takes request metadata as a JSON object in the <c>x-portkey-metadata</c> header; values must be
    /// strings of at most 128 characters (https://portkey.ai/docs/product/observability/metadata,
    /// https://docs.portkey.ai/portkey-docs/portkey-features/observability/custom-metadata).</remarks>
    public const string Portkey = "Portkey";

    /// <summary>Cloudflare AI Gateway custom metadata: <c>cf-aig-metadata: {"dify_app_id":"…","dify_source":"…"}</c>, the app
    /// id first.</summary>
    /// <remarks>Cloudflare keeps the first five entries of the JSON object in <c>cf-aig-metadata</c> and ignores the rest;
    /// values are strings, numbers or booleans (https://developers.cloudflare.com/ai-gateway/observability/custom-metadata/).
    /// This preset sends two entries.</remarks>
    public const string Cloudflare = "Cloudflare";

    /// <summary>LiteLLM proxy request tags: <c>x-litellm-tags: dify_app_id:&lt;id&gt;,dify_source:&lt;source&gt;</c>, each value
    /// percent-encoded.</summary>
    /// <remarks>The LiteLLM proxy reads <c>x-litellm-tags</c> as a comma-separated list (spaces trimmed) and tracks spend
    /// per tag (https://docs.litellm.ai/docs/proxy/request_tags).</remarks>
    public const string LiteLLM = "LiteLLM";
}
