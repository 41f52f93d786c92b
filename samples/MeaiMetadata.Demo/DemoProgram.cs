using System.ClientModel;
using System.ClientModel.Primitives;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.Spend;
using MeaiMetadata.SpendTool;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using Spectre.Console;

namespace MeaiMetadata.Demo;

/// <summary>The demo's entry point, callable in-process by tests.</summary>
public static class DemoProgram
{
    public const int ExitOk = 0;

    /// <summary>A request failed, or the meter's and the report's spend disagree.</summary>
    public const int ExitFailedRequests = 1;
    public const int ExitUsage = 2;

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        DemoArguments? arguments = DemoArguments.Parse(args, out string? parseError);
        if (arguments is null)
        {
            await error.WriteLineAsync($"error: {parseError}");
            return ExitUsage;
        }

        if (arguments.Help)
        {
            await output.WriteLineAsync(DemoArguments.Usage);
            return ExitOk;
        }

        FakeOpenAIServer? endpoint = null;
        try
        {
            OpenAIClient openAI;
            IWireLog wire;
            if (arguments.Live)
            {
                string? key = Environment.GetEnvironmentVariable("OPENAI_API_KEY");
                if (string.IsNullOrWhiteSpace(key))
                {
                    await error.WriteLineAsync("error: --live needs your OpenAI API key in the OPENAI_API_KEY environment variable.");
                    return ExitUsage;
                }

                var http = new HttpWireLog();
                var options = new OpenAIClientOptions { Transport = new HttpClientPipelineTransport(new HttpClient(http)) };
                if (Environment.GetEnvironmentVariable("OPENAI_BASE_URL") is { Length: > 0 } baseUrl)
                {
                    options.Endpoint = new Uri(baseUrl);
                }

                openAI = new OpenAIClient(new ApiKeyCredential(key), options);
                wire = http;
                await output.WriteLineAsync($"Live run against {options.Endpoint?.ToString() ?? "the OpenAI API"} with model {arguments.Model}. Tagged requests are stored on the account (store=true).");
            }
            else
            {
                endpoint = await FakeOpenAIServer.StartAsync(DemoEndpoint.Options(), cancellationToken);
                openAI = new OpenAIClient(
                    new ApiKeyCredential("no-key-needed"),
                    arguments.Headers
                        ? new OpenAIClientOptions { Endpoint = endpoint.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) }.AddDifyMetadataHeaders()
                        : new OpenAIClientOptions { Endpoint = endpoint.BaseAddress, RetryPolicy = new ClientRetryPolicy(0) });
                wire = new EndpointWireLog(endpoint);
                await output.WriteLineAsync($"Embedded OpenAI-compatible endpoint at {endpoint.BaseAddress} (strict: it rejects what OpenAI rejects).");
            }

            await output.WriteLineAsync("Pipeline: AddKeyedChatClient(...).UseFunctionInvocation().UseDifyMetadata().UseOpenTelemetry().UseLogging()");
            await output.WriteLineAsync();

            await using ServiceProvider services = DemoPipeline.Build(openAI, arguments.Model, arguments.Verbose, gatewayHeaders: arguments.Headers);
            DateTimeOffset started = DateTimeOffset.UtcNow.AddMinutes(-1); // the report's range: this run (created is in whole seconds)
            DemoReport report = await DemoRunner.RunAsync(services, wire, cancellationToken);
            IAnsiConsole console = DemoOutput.ConsoleFor(output);
            DemoOutput.Write(console, report);
            if (arguments.Headers && endpoint is not null)
            {
                await WriteGatewayHeadersAsync(output, endpoint, report);
            }

            if (report.FailedSteps > 0)
            {
                await output.WriteLineAsync();
                await output.WriteLineAsync(report.Rows.Count < DemoScenario.Steps.Count
                    ? "The endpoint could not be reached; the remaining requests were not sent."
                    : $"{report.FailedSteps} request(s) failed; see the outcome column.");
                return ExitFailedRequests;
            }

            // The same price table on both sides: the pipeline's options carry no prices of their own.
            DifyPriceTable prices = DifyPriceTable.BuiltIn;
            DifySpendReport? stored = endpoint is null ? null : await DifySpendReport.FromStoredCompletionsAsync(
                openAI.GetChatClient(arguments.Model), new DifySpendReportOptions { Since = started, Prices = prices }, cancellationToken: cancellationToken);
            IReadOnlyList<DemoSpendRow> spend = DemoSpend.Compare(report.Apps, stored?.Rows);
            DemoOutput.WriteSpend(console, spend, arguments.Model, prices);
            // Unpriced, the two sides are not compared (both zero): no disagreement to fail on.
            bool disagree = prices.TryGetPrice(arguments.Model, out _) && spend.Any(r => r.Agree == false);

            DemoBudgetResult budget = await DemoBudget.RunAsync(console, output, arguments.Redis, cancellationToken);
            return disagree || !budget.Ok ? ExitFailedRequests : ExitOk;
        }
        finally
        {
            if (endpoint is not null)
            {
                await endpoint.DisposeAsync();
            }
        }
    }

    private static async Task WriteGatewayHeadersAsync(TextWriter output, FakeOpenAIServer endpoint, DemoReport report)
    {
        string[] names = ["Helicone-Property-Dify-App-Id", "Helicone-Property-Dify-Source", "x-portkey-metadata", "cf-aig-metadata", "x-litellm-tags"];
        await output.WriteLineAsync();
        await output.WriteLineAsync("Gateway headers that reached the endpoint (request by request, in the order sent, numbered as the table's rows):");

        // The table has a row per request that reached the endpoint, in the order received (and a row for a step that
        // sent nothing): the n-th request received is the n-th row that was sent, so it takes that row's label (5a, 5b, ...).
        string[] labels = [.. report.Rows.Where(r => r.Wire.Api != DemoRunner.NotSent).Select(r => r.Number)];
        int index = 0;
        foreach (RecordedRequest request in endpoint.Requests)
        {
            string label = index < labels.Length ? labels[index] : "(not in the table)";
            index++;
            string[] present = [.. names.Where(n => request.Header(n) is not null).Select(n => $"{n}: {request.Header(n)}")];
            await output.WriteLineAsync($"request {label} ({(request.Api == OpenAIApi.Responses ? "responses" : "chat.completions")}, store {request.Store?.ToString().ToLowerInvariant() ?? "unset"}):" +
                (present.Length == 0 ? " (none)" : ""));
            foreach (string line in present)
            {
                await output.WriteLineAsync("    " + line);
            }
        }
    }
}
