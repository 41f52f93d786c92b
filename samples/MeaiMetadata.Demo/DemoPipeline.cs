using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenAI;

namespace MeaiMetadata.Demo;

/// <summary>The DI pipelines the demo uses, written the way an application would write them.</summary>
public static class DemoPipeline
{
    public static string KeyOf(DemoApi api) => api == DemoApi.ChatCompletions ? "chat" : "responses";

    public static ServiceProvider Build(OpenAIClient openAI, string model, bool verbose)
    {
        var services = new ServiceCollection();
        services.AddLogging(logging =>
        {
            // The demo prints each failure in its table; the pipeline's own log adds detail only with --verbose.
            logging.SetMinimumLevel(verbose ? LogLevel.Warning : LogLevel.None);
            logging.AddFilter("MeaiMetadata", verbose ? LogLevel.Debug : LogLevel.Warning);

            logging.AddSimpleConsole(o => o.SingleLine = true);
            logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace); // keep stdout for the table
        });
        services.AddMetrics(); // the layer reports on a meter from this IMeterFactory
        services.AddSingleton(openAI);

        services.AddKeyedChatClient(KeyOf(DemoApi.ChatCompletions), sp => sp.GetRequiredService<OpenAIClient>().GetChatClient(model).AsIChatClient())
            .UseFunctionInvocation()
            .UseDifyMetadata()
            .UseOpenTelemetry()
            .UseLogging();

        services.AddKeyedChatClient(KeyOf(DemoApi.Responses), sp => sp.GetRequiredService<OpenAIClient>().GetResponsesClient().AsIChatClient(model))
            .UseFunctionInvocation()
            .UseDifyMetadata()
            .UseOpenTelemetry()
            .UseLogging();

        return services.BuildServiceProvider();
    }
}
