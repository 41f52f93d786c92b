using System.Net;
using MeaiMetadata.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace MeaiMetadata.TwoServices;

/// <summary>
/// The service on the internet side: it authenticates each caller by its API key (<c>X-Api-Key</c>, mapped to an app id in
/// configuration), opens the request's <see cref="DifySession"/> for that app, propagated as W3C Baggage, and asks the
/// backend over HTTP. <c>POST /ask</c> with the prompt as the body answers the model's text; without a known key, 401.
/// </summary>
/// <remarks>
/// Configuration: <c>ApiKeys:N:Key</c> and <c>ApiKeys:N:AppId</c> (the callers), <c>Backend:ServiceKey</c> (the edge's own
/// key at the backend, sent as <see cref="BackendService.ServiceKeyHeader"/>).
/// A caller's trace context is not taken either (<see cref="InternetCallerHttpContextFactory"/>): each request starts its own trace.
/// Middleware order: no caller's baggage is trusted (<c>UseDifyBaggageTrust(_ =&gt; false)</c>: a <c>dify.app_id</c> sent
/// from the internet is removed before anything reads it), then authentication, then the session from the <c>app_id</c>
/// claim, which the backend client (<c>AddDifyBaggage()</c>) sends as <c>baggage: dify.app_id=...</c>.
/// </remarks>
public static class EdgeService
{
    /// <summary>The OpenTelemetry <c>service.name</c>.</summary>
    public const string ServiceName = "edge";

    /// <summary>The authentication scheme of the callers' API keys.</summary>
    public const string ApiKeyScheme = "ApiKey";

    /// <summary>The header that carries a caller's API key.</summary>
    public const string ApiKeyHeader = "X-Api-Key";

    /// <summary>The claim that carries the caller's app id.</summary>
    public const string AppIdClaim = "app_id";

    /// <summary>The name of the <c>IHttpClientFactory</c> client that calls the backend.</summary>
    public const string BackendClient = "backend";

    /// <summary>The path callers post their prompt to.</summary>
    public const string AskPath = "/ask";

    /// <summary>Builds the edge, bound to 127.0.0.1 on a port the OS chooses (read it with <see cref="ServiceAddress.Of"/>
    /// after starting it).</summary>
    /// <param name="backend">The backend's base address.</param>
    /// <param name="configure">Adds configuration, exporters or services before the app is built.</param>
    /// <returns>The edge, not started.</returns>
    public static WebApplication Build(Uri backend, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "MeaiMetadata.TwoServices.Edge" });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton<IHttpContextFactory, InternetCallerHttpContextFactory>();

        builder.Services.AddAuthentication(ApiKeyScheme).AddScheme<ApiKeyAuthenticationOptions, ApiKeyAuthenticationHandler>(ApiKeyScheme, null);
        builder.Services.AddOptions<ApiKeyAuthenticationOptions>(ApiKeyScheme).Configure<IConfiguration>((options, configuration) =>
        {
            options.HeaderName = ApiKeyHeader;
            options.ClaimType = AppIdClaim;
            foreach (IConfigurationSection entry in configuration.GetSection("ApiKeys").GetChildren())
            {
                if (entry["Key"] is { Length: > 0 } key && entry["AppId"] is { Length: > 0 } appId)
                {
                    options.Keys[key] = appId;
                }
            }
        });
        builder.Services.AddAuthorization();

        builder.Services.AddHttpClient(BackendClient, (services, http) =>
            {
                http.BaseAddress = backend;
                if (services.GetRequiredService<IConfiguration>()["Backend:ServiceKey"] is { Length: > 0 } serviceKey)
                {
                    http.DefaultRequestHeaders.Add(BackendService.ServiceKeyHeader, serviceKey);
                }
            })
            .AddDifyBaggage();

        ServiceTelemetry.Add(builder, ServiceName, callsAModel: false);
        configure?.Invoke(builder);

        WebApplication app = builder.Build();
        app.UseDifyBaggageTrust(_ => false); // nobody on the internet chooses the app id
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseDifySession(options =>
        {
            options.AppId = DifyAppIdSources.Claim(AppIdClaim);
            options.PropagateAsBaggage = true;
        });
        app.MapPost(AskPath, AskAsync).RequireAuthorization();
        return app;
    }

    private static async Task AskAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        string prompt = await reader.ReadToEndAsync(context.RequestAborted);
        HttpClient backend = context.RequestServices.GetRequiredService<IHttpClientFactory>().CreateClient(BackendClient);
        using var content = new StringContent(prompt);
        using HttpResponseMessage answer = await backend.PostAsync(BackendService.CompletePath.TrimStart('/'), content, context.RequestAborted);
        context.Response.StatusCode = (int)answer.StatusCode;
        await context.Response.WriteAsync(await answer.Content.ReadAsStringAsync(context.RequestAborted), context.RequestAborted);
    }
}
