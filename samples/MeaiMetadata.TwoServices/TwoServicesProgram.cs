using System.Diagnostics;
using System.Globalization;
using System.Net;
using MeaiMetadata.FakeOpenAI;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace MeaiMetadata.TwoServices;

/// <summary>The sample's entry point, callable in-process by tests: the embedded OpenAI endpoint, the backend and the edge on
/// 127.0.0.1, a scenario of callers (some of them spoofing baggage), and what OpenAI received for each request.</summary>
public static class TwoServicesProgram
{
    public const int ExitOk = 0;

    /// <summary>A request reached OpenAI with another app id than its caller's, or a request failed unexpectedly.</summary>
    public const int ExitWrongAttribution = 1;
    public const int ExitUsage = 2;

    /// <summary>The app id the spoofing callers claim in their own <c>baggage</c> header.</summary>
    public const string Victim = "victim";

    /// <summary>The key the edge presents to the backend.</summary>
    public const string EdgeServiceKey = "svc-edge-0f3a";

    /// <summary>The scenario's callers: the app id each API key authenticates.</summary>
    public static IReadOnlyList<(string ApiKey, string AppId)> Callers { get; } =
        [("sk-edge-support-bot", "support-bot"), ("sk-edge-sales-assistant", "sales-assistant"), ("sk-edge-billing", "billing")];

    /// <summary>One request of the scenario: who sends it, with which key and baggage, to which service, and what it must
    /// become (the HTTP status, and the app id OpenAI must receive, <see langword="null"/> for untagged or for no request).</summary>
    public sealed record ScenarioStep(string Caller, string? ApiKey, string? Baggage, bool ToBackendDirectly, HttpStatusCode Status, string? AppIdAtOpenAI);

    /// <summary>One round of the scenario.</summary>
    public static IReadOnlyList<ScenarioStep> Scenario { get; } =
    [
        new("support-bot", "sk-edge-support-bot", null, false, HttpStatusCode.OK, "support-bot"),
        new("sales-assistant", "sk-edge-sales-assistant", null, false, HttpStatusCode.OK, "sales-assistant"),
        new("billing", "sk-edge-billing", null, false, HttpStatusCode.OK, "billing"),
        new("sales-assistant", "sk-edge-sales-assistant", "dify.app_id=victim", false, HttpStatusCode.OK, "sales-assistant"),
        new("billing", "sk-edge-billing", "tenant.region=eu, dify.app_id=vic%74im;x=y", false, HttpStatusCode.OK, "billing"),
        new("(no API key)", null, "dify.app_id=victim", false, HttpStatusCode.Unauthorized, null),
        new("(wrong API key)", "sk-guessed", "dify.app_id=victim", false, HttpStatusCode.Unauthorized, null),
        new("internal job, backend directly", null, "dify.app_id=victim", true, HttpStatusCode.OK, null),
    ];

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        TwoServicesArguments? arguments = TwoServicesArguments.Parse(args ?? [], out string? parseError);
        if (arguments is null)
        {
            await error.WriteLineAsync($"error: {parseError}");
            return ExitUsage;
        }

        if (arguments.Help)
        {
            await output.WriteLineAsync(TwoServicesArguments.Usage);
            return ExitOk;
        }

        // One list per service: each service's exporter adds to its own list from its own thread.
        var backendSpans = new List<Activity>();
        var edgeSpans = new List<Activity>();
        var metrics = new List<MetricSnapshot>();
        await using FakeOpenAIServer openAI = await FakeOpenAIServer.StartAsync(cancellationToken: cancellationToken);
        WebApplication backend = BackendService.Build(openAI.BaseAddress, b =>
        {
            b.Configuration.AddInMemoryCollection(TwoServicesSettings.Backend(EdgeServiceKey));
            ServiceTelemetry.ExportSpans(b, backendSpans);
            b.Services.ConfigureOpenTelemetryMeterProvider(m => m.AddInMemoryExporter(metrics));
        });
        await using (backend)
        {
            await backend.StartAsync(cancellationToken);
            Uri backendAddress = ServiceAddress.Of(backend);
            WebApplication edge = EdgeService.Build(backendAddress, b =>
            {
                b.Configuration.AddInMemoryCollection(TwoServicesSettings.Edge(Callers, EdgeServiceKey));
                ServiceTelemetry.ExportSpans(b, edgeSpans);
            });
            await using (edge)
            {
                await edge.StartAsync(cancellationToken);
                Uri edgeAddress = ServiceAddress.Of(edge);
                await output.WriteLineAsync($"Embedded OpenAI-compatible endpoint at {openAI.BaseAddress} (strict: it rejects what OpenAI rejects).");
                await output.WriteLineAsync($"Backend at {backendAddress}: UseAuthentication() (X-Service-Key) -> UseDifyBaggageTrust(service \"{BackendService.TrustedService}\" only) -> POST {BackendService.CompletePath} -> .UseDifyMetadata().UseOpenTelemetry() -> OpenAI SDK");
                await output.WriteLineAsync($"Edge at {edgeAddress}: UseDifyBaggageTrust(_ => false) -> UseAuthentication() (X-Api-Key) -> UseDifySession(app_id claim, PropagateAsBaggage) -> POST {EdgeService.AskPath} -> HttpClient \"backend\" with AddDifyBaggage()");
                await output.WriteLineAsync();

                List<Result> results = await SendAsync(arguments.Rounds, edgeAddress, backendAddress, cancellationToken);

                // Stopping waits for the requests in flight, so every span has ended and been exported.
                await edge.StopAsync(cancellationToken);
                await backend.StopAsync(cancellationToken);
                backend.Services.GetService<MeterProvider>()?.ForceFlush();

                IReadOnlyList<RecordedRequest> received = openAI.Requests;
                int wrong = WriteRequests(output, results, received);
                WritePerApp(output, results, received);
                WriteMetrics(output, metrics);
                WriteTraces(output, [.. edgeSpans, .. backendSpans], openAI.BaseAddress);
                if (wrong > 0)
                {
                    await output.WriteLineAsync($"{wrong} request(s) did not become what they should have; see the last column.");
                    return ExitWrongAttribution;
                }

                return ExitOk;
            }
        }
    }

    private sealed record Result(int Number, ScenarioStep Step, string Prompt, HttpStatusCode? Status, string? Failure);

    private static async Task<List<Result>> SendAsync(int rounds, Uri edge, Uri backend, CancellationToken cancellationToken)
    {
        using var http = new HttpClient();
        var results = new List<Result>();
        int number = 0;
        for (int round = 0; round < rounds; round++)
        {
            foreach (ScenarioStep step in Scenario)
            {
                number++;
                string prompt = $"request {number.ToString(CultureInfo.InvariantCulture)} from {step.Caller} ({Guid.NewGuid():N})";
                using var request = new HttpRequestMessage(HttpMethod.Post, step.ToBackendDirectly ? new Uri(backend, BackendService.CompletePath.TrimStart('/')) : new Uri(edge, EdgeService.AskPath.TrimStart('/')))
                {
                    Content = new StringContent(prompt),
                };
                if (step.ApiKey is not null)
                {
                    request.Headers.Add(EdgeService.ApiKeyHeader, step.ApiKey);
                }

                if (step.Baggage is not null)
                {
                    request.Headers.TryAddWithoutValidation("baggage", step.Baggage);
                }

                try
                {
                    using HttpResponseMessage response = await http.SendAsync(request, cancellationToken);
                    results.Add(new Result(number, step, prompt, response.StatusCode, null));
                }
                catch (HttpRequestException e)
                {
                    results.Add(new Result(number, step, prompt, null, e.Message));
                }
            }
        }

        return results;
    }

    private static int WriteRequests(TextWriter output, List<Result> results, IReadOnlyList<RecordedRequest> received)
    {
        var rows = new List<string[]> { new[] { "#", "caller", "sends", "HTTP", "dify_app_id at OpenAI", "as it should" } };
        int wrong = 0;
        foreach (Result result in results)
        {
            RecordedRequest[] atOpenAI = [.. received.Where(r => r.LastUserText == result.Prompt)];
            string seen = atOpenAI.Length switch
            {
                0 => "(no request)",
                1 => atOpenAI[0].Metadata?.GetValueOrDefault(DifyMetadataKeys.AppId) ?? "(untagged)",
                _ => $"({atOpenAI.Length} requests)",
            };
            bool expectedRequest = result.Step.Status == HttpStatusCode.OK;
            bool ok = result.Status == result.Step.Status && atOpenAI.Length == (expectedRequest ? 1 : 0) &&
                (!expectedRequest || atOpenAI[0].Metadata?.GetValueOrDefault(DifyMetadataKeys.AppId) == result.Step.AppIdAtOpenAI);
            wrong += ok ? 0 : 1;
            string sends = string.Join(", ", new[]
            {
                result.Step.ToBackendDirectly ? "to the backend" : null,
                result.Step.ApiKey is null ? null : EdgeService.ApiKeyHeader,
                result.Step.Baggage is null ? null : "baggage: " + result.Step.Baggage,
            }.Where(s => s is not null));
            rows.Add([result.Number.ToString(CultureInfo.InvariantCulture), result.Step.Caller, sends.Length == 0 ? "-" : sends,
                result.Status is { } status ? ((int)status).ToString(CultureInfo.InvariantCulture) : "failed: " + result.Failure, seen, ok ? "yes" : "NO"]);
        }

        WriteTable(output, rows);
        return wrong;
    }

    private static void WritePerApp(TextWriter output, List<Result> results, IReadOnlyList<RecordedRequest> received)
    {
        HashSet<string> prompts = [.. results.Select(r => r.Prompt)];
        var perApp = received.Where(r => r.LastUserText is { } text && prompts.Contains(text))
            .GroupBy(r => r.Metadata?.GetValueOrDefault(DifyMetadataKeys.AppId) ?? "(untagged)")
            .ToDictionary(g => g.Key, g => g.Count());
        string[] apps = [.. Callers.Select(c => c.AppId), Victim, "(untagged)"];
        output.WriteLine();
        output.WriteLine("Per app, as OpenAI received them (dify_app_id): " +
            string.Join(", ", apps.Select(a => $"{a}={perApp.GetValueOrDefault(a).ToString(CultureInfo.InvariantCulture)}")));
    }

    private static void WriteMetrics(TextWriter output, List<MetricSnapshot> metrics)
    {
        MetricSnapshot? requests = metrics.LastOrDefault(m => m.Name == "dify.metadata.requests");
        var series = new List<string>();
        foreach (MetricPoint point in requests?.MetricPoints ?? [])
        {
            string? app = null, outcome = null;
            foreach (KeyValuePair<string, object?> tag in point.Tags)
            {
                app = tag.Key == "dify.app_id" ? tag.Value as string : app;
                outcome = tag.Key == "outcome" ? tag.Value as string : outcome;
            }

            series.Add($"{outcome}{(app is null ? "" : " " + app)}={point.GetSumLong().ToString(CultureInfo.InvariantCulture)}");
        }

        series.Sort(StringComparer.Ordinal);
        output.WriteLine($"Backend meter, dify.metadata.requests (outcome, app): {(series.Count == 0 ? "(nothing recorded)" : string.Join(", ", series))}");
    }

    private static void WriteTraces(TextWriter output, Activity[] all, Uri openAI)
    {
        HashSet<ActivitySpanId> exported = [.. all.Select(s => s.SpanId)];
        Activity[] edgeRequests = [.. all.Where(s => s.Kind == ActivityKind.Server && Equals(s.GetTagItem("url.path"), EdgeService.AskPath) && Equals(s.GetTagItem("http.response.status_code"), 200))];
        int connected = 0;
        foreach (Activity edgeRequest in edgeRequests)
        {
            Activity[] trace = [.. all.Where(s => s.TraceId == edgeRequest.TraceId)];
            bool hasBackend = trace.Any(s => s.Kind == ActivityKind.Server && Equals(s.GetTagItem("url.path"), BackendService.CompletePath));
            bool hasOpenAI = trace.Any(s => s.Kind == ActivityKind.Client && s.GetTagItem("url.full") is string url && url.StartsWith(openAI.ToString(), StringComparison.Ordinal));
            bool noOrphan = trace.All(s => s.ParentSpanId == default || exported.Contains(s.ParentSpanId));
            connected += hasBackend && hasOpenAI && noOrphan ? 1 : 0;
        }

        output.WriteLine($"Traces: {connected.ToString(CultureInfo.InvariantCulture)} of the {edgeRequests.Length.ToString(CultureInfo.InvariantCulture)} answered edge requests are one connected trace each " +
            "(edge server -> edge HTTP client -> backend server -> chat -> OpenAI HTTP client, no span with an unexported parent).");
    }

    private static void WriteTable(TextWriter output, List<string[]> rows)
    {
        int[] widths = [.. Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length))];
        foreach (string[] row in rows)
        {
            output.WriteLine(string.Join("  ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
        }
    }
}
