using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace MeaiMetadata.TwoServices;

/// <summary>The OpenTelemetry wiring both services share: ASP.NET Core and HttpClient instrumentation, and for a service
/// that calls a model the Microsoft.Extensions.AI source and meter and the <c>MeaiMetadata</c> meter. No exporter: the
/// process that hosts a service adds its own (OTLP in production; <see cref="ExportSpans"/> here). OpenTelemetry's defaults
/// otherwise, its propagator (trace context and baggage) included: MeaiMetadata governs the <c>dify.app_id</c> in
/// OpenTelemetry's <c>Baggage.Current</c> (the baggage handler's sends, the trust removal) as well as in the header and the
/// request activity.</summary>
public static class ServiceTelemetry
{
    /// <summary>The name of the <c>UseOpenTelemetry()</c> chat layer's activity source and meter (its default).</summary>
    public const string ChatSourceName = "Experimental.Microsoft.Extensions.AI";

    /// <summary>The meter of <c>UseDifyMetadata()</c>.</summary>
    public const string MetadataMeterName = "MeaiMetadata";

    /// <summary>Adds tracing and metrics for the service <paramref name="serviceName"/>.</summary>
    /// <param name="builder">The service's builder.</param>
    /// <param name="serviceName">The OpenTelemetry <c>service.name</c>.</param>
    /// <param name="callsAModel">Whether the service has a chat pipeline, whose source and meters are then added.</param>
    public static void Add(WebApplicationBuilder builder, string serviceName, bool callsAModel)
    {
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName))
            .WithTracing(tracing =>
            {
                tracing.AddAspNetCoreInstrumentation().AddHttpClientInstrumentation();
                if (callsAModel)
                {
                    tracing.AddSource(ChatSourceName);
                }
            })
            .WithMetrics(metrics =>
            {
                metrics.AddAspNetCoreInstrumentation().AddHttpClientInstrumentation();
                if (callsAModel)
                {
                    metrics.AddMeter(MetadataMeterName, ChatSourceName);
                }
            });
    }

    /// <summary>Exports the spans this service made to <paramref name="spans"/> (the OpenTelemetry in-memory exporter).</summary>
    /// <remarks>
    /// OpenTelemetry listens to activity sources by name, process-wide: when two services share one process (this sample's
    /// program, the tests), each service's tracer provider also sees the other's spans. So the exporter gets only the spans
    /// whose local root is a request of this service's own host (its server span and everything started under it in this
    /// process). With one service per process, as in production, no such filter is needed: add the exporter itself
    /// (<c>AddOtlpExporter()</c>).
    /// </remarks>
    /// <param name="builder">The service's builder, after <see cref="Add"/>.</param>
    /// <param name="spans">Where the spans go, as each one ends.</param>
    public static void ExportSpans(WebApplicationBuilder builder, ICollection<Activity> spans) =>
        builder.Services.ConfigureOpenTelemetryTracerProvider((services, tracing) =>
        {
            // The source ASP.NET Core's hosting registers in this service's container and starts its request spans from.
            ActivitySource hostSource = services.GetRequiredService<ActivitySource>();
            tracing.AddProcessor(new SimpleActivityExportProcessor(new OwnSpansExporter(hostSource, new InMemoryExporter<Activity>(spans))));
        });

    private sealed class OwnSpansExporter(ActivitySource hostSource, BaseExporter<Activity> inner) : BaseExporter<Activity>
    {
        public override ExportResult Export(in Batch<Activity> batch)
        {
            var own = new List<Activity>();
            foreach (Activity span in batch)
            {
                Activity root = span;
                while (root.Parent is { } parent)
                {
                    root = parent;
                }

                if (ReferenceEquals(root.Source, hostSource))
                {
                    own.Add(span);
                }
            }

            return own.Count == 0 ? ExportResult.Success : inner.Export(new Batch<Activity>([.. own], own.Count));
        }

        protected override bool OnShutdown(int timeoutMilliseconds) => inner.Shutdown(timeoutMilliseconds);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
