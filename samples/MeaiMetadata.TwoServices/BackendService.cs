using System.ClientModel;
using System.Net;
using MeaiMetadata.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;

namespace MeaiMetadata.TwoServices;

/// <summary>
/// The service that calls the model: <c>POST /complete</c> with the prompt as the body sends it to OpenAI through
/// <c>UseDifyMetadata().UseOpenTelemetry()</c> over the official OpenAI SDK and answers the model's text. It opens no session:
/// the app id comes from the incoming W3C Baggage item <c>dify.app_id</c> (<c>AppIdFromBaggage = true</c>: reading baggage is
/// opt-in), and only the edge's baggage counts.
/// </summary>
/// <remarks>
/// Configuration: <c>ServiceKeys:N:Key</c> and <c>ServiceKeys:N:Service</c> (the services that may call it with
/// <see cref="ServiceKeyHeader"/>), <c>OpenAI:ApiKey</c>, <c>OpenAI:Model</c> (default <c>gpt-4o-mini</c>).
/// Middleware order: authentication (a service key signs its service in with the claim <c>service</c>), then
/// <c>UseDifyBaggageTrust</c>, which keeps a <c>dify.app_id</c> only from the service <c>edge</c>. Other callers are served
/// too (an internal job), and their requests go out untagged whatever baggage they send.
/// </remarks>
public static class BackendService
{
    /// <summary>The OpenTelemetry <c>service.name</c>.</summary>
    public const string ServiceName = "backend";

    /// <summary>The authentication scheme of the service keys.</summary>
    public const string ServiceKeyScheme = "ServiceKey";

    /// <summary>The header that carries a calling service's key.</summary>
    public const string ServiceKeyHeader = "X-Service-Key";

    /// <summary>The claim that names the calling service.</summary>
    public const string ServiceClaim = "service";

    /// <summary>The only service whose baggage the backend trusts.</summary>
    public const string TrustedService = EdgeService.ServiceName;

    /// <summary>The path the edge posts prompts to.</summary>
    public const string CompletePath = "/complete";

    /// <summary>The model asked for when <c>OpenAI:Model</c> is not set.</summary>
    public const string DefaultModel = "gpt-4o-mini";

    /// <summary>Builds the backend, bound to 127.0.0.1 on a port the OS chooses.</summary>
    /// <param name="openAIEndpoint">The OpenAI endpoint (<c>https://api.openai.com/v1/</c>, or the embedded fake's).</param>
    /// <param name="configure">Adds configuration, exporters or services before the app is built.</param>
    /// <returns>The backend, not started.</returns>
    public static WebApplication Build(Uri openAIEndpoint, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(openAIEndpoint);
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "MeaiMetadata.TwoServices.Backend" });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Services.AddRoutingCore();

        builder.Services.AddAuthentication(ServiceKeyScheme).AddScheme<ApiKeyAuthenticationOptions, ApiKeyAuthenticationHandler>(ServiceKeyScheme, null);
        builder.Services.AddOptions<ApiKeyAuthenticationOptions>(ServiceKeyScheme).Configure<IConfiguration>((options, configuration) =>
        {
            options.HeaderName = ServiceKeyHeader;
            options.ClaimType = ServiceClaim;
            foreach (IConfigurationSection entry in configuration.GetSection("ServiceKeys").GetChildren())
            {
                if (entry["Key"] is { Length: > 0 } key && entry["Service"] is { Length: > 0 } service)
                {
                    options.Keys[key] = service;
                }
            }
        });

        // The pipeline of the Traces section of docs/operations.md: UseOpenTelemetry() inside UseDifyMetadata(), so the chat
        // span carries dify.app_id. Baggage is read only when asked (AppIdFromBaggage, off by default): this service asks.
        builder.Services.AddChatClient(services =>
            {
                IConfiguration configuration = services.GetRequiredService<IConfiguration>();
                var openAI = new OpenAIClient(
                    new ApiKeyCredential(configuration["OpenAI:ApiKey"] is { Length: > 0 } key ? key : "no-key-needed"),
                    new OpenAIClientOptions { Endpoint = openAIEndpoint });
                return openAI.GetChatClient(configuration["OpenAI:Model"] is { Length: > 0 } model ? model : DefaultModel).AsIChatClient();
            })
            .UseDifyMetadata(o => o.AppIdFromBaggage = true)
            .UseOpenTelemetry();

        ServiceTelemetry.Add(builder, ServiceName, callsAModel: true);
        configure?.Invoke(builder);

        WebApplication app = builder.Build();
        app.UseAuthentication();
        app.UseDifyBaggageTrust(DifyTrustedCallers.AuthenticatedService(ServiceClaim, TrustedService));
        app.MapPost(CompletePath, CompleteAsync);
        return app;
    }

    private static async Task CompleteAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        string prompt = await reader.ReadToEndAsync(context.RequestAborted);
        IChatClient chat = context.RequestServices.GetRequiredService<IChatClient>();
        ChatResponse answer = await chat.GetResponseAsync(prompt, cancellationToken: context.RequestAborted);
        await context.Response.WriteAsync(answer.Text, context.RequestAborted);
    }
}
