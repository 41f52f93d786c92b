using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenAI;

namespace MeaiMetadata.Demo;

/// <summary>The DI pipelines the demo uses, written the way an application would write them.</summary>
public static class DemoPipeline
{
    public static string KeyOf(DemoApi api) => api == DemoApi.ChatCompletions ? "chat" : "responses";

    /// <param name="openAI">The OpenAI client (the embedded endpoint or the real API).</param>
    /// <param name="model">The model to ask for.</param>
    /// <param name="gatewayHeaders">Also write the headers of the four gateway presets (the client needs <c>AddDifyMetadataHeaders()</c>).</param>
    /// <param name="verbose">Show the middleware's Debug log, each line with the scope of its row ("row 7").</param>
    /// <param name="configureLogging">More logging set-up (tests add a provider that records the scopes).</param>
    public static ServiceProvider Build(OpenAIClient openAI, string model, bool verbose, Action<ILoggingBuilder>? configureLogging = null, bool gatewayHeaders = false)
    {
        var services = new ServiceCollection();
        services.AddLogging(logging =>
        {
            // The demo prints each failure in its table; the pipeline's own log adds detail only with --verbose.
            logging.SetMinimumLevel(verbose ? LogLevel.Warning : LogLevel.None);
            logging.AddFilter("MeaiMetadata", verbose ? LogLevel.Debug : LogLevel.Warning);

            // IncludeScopes: DemoRunner opens a scope "row N" around each request, so every line names its row.
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.IncludeScopes = true;
            });
            logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace); // keep stdout for the table
            configureLogging?.Invoke(logging);
        });
        services.AddMetrics(); // the layer reports on a meter from this IMeterFactory
        services.AddSingleton(openAI);

        services.AddKeyedChatClient(KeyOf(DemoApi.ChatCompletions), sp => sp.GetRequiredService<OpenAIClient>().GetChatClient(model).AsIChatClient())
            .UseFunctionInvocation()
            .UseDifyMetadata(o => AddGatewayHeaders(o, gatewayHeaders))
            .UseOpenTelemetry()
            .UseLogging();

        services.AddKeyedChatClient(KeyOf(DemoApi.Responses), sp => sp.GetRequiredService<OpenAIClient>().GetResponsesClient().AsIChatClient(model))
            .UseFunctionInvocation()
            .UseDifyMetadata(o => AddGatewayHeaders(o, gatewayHeaders))
            .UseOpenTelemetry()
            .UseLogging();

        return services.BuildServiceProvider();
    }

    private static void AddGatewayHeaders(DifyMetadataOptions options, bool enabled)
    {
        if (enabled)
        {
            foreach (string preset in new[] { "Helicone", "Portkey", "Cloudflare", "LiteLLM" })
            {
                options.GatewayHeaders.Add(preset);
            }
        }
    }
}
