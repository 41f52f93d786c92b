using System.Net;
using MeaiMetadata.FakeOpenAI;
using MeaiMetadata.IntegrationTests.Wire;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata.IntegrationTests.Http;

/// <summary>
/// A downstream service on real Kestrel (127.0.0.1): <c>POST /ask</c> calls the strict fake OpenAI through
/// <c>UseDifyMetadata()</c> with no session of its own, so the app id can only come from the incoming W3C Baggage. It records
/// the incoming <c>baggage</c> and <c>traceparent</c> headers.
/// </summary>
public sealed class BackendService : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<(string? Baggage, string? TraceParent)> _seen = [];

    private BackendService(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    public IReadOnlyList<(string? Baggage, string? TraceParent)> Seen
    {
        get
        {
            lock (_seen)
            {
                return [.. _seen];
            }
        }
    }

    /// <summary>Starts the service. ASP.NET Core creates its request activity (and so extracts baggage) when logging or
    /// tracing is on, as in any real host: here a logger that is enabled and writes nothing.</summary>
    public static async Task<BackendService> StartAsync(FakeOpenAIServer openAI)
    {
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddRoutingCore();
        builder.Logging.AddProvider(new SilentLoggerProvider());
        builder.Services.AddChatClient(OpenAIPipeline.ProviderClient(openAI, WireApi.ChatCompletions)).UseDifyMetadata(o => o.AppIdFromBaggage = true);
        WebApplication app = builder.Build();
        BackendService? service = null;
        app.Run(async context =>
        {
            lock (service!._seen)
            {
                service._seen.Add((Header(context, "baggage"), Header(context, "traceparent")));
            }

            ChatResponse answer = await context.RequestServices.GetRequiredService<IChatClient>().GetResponseAsync("from the backend");
            await context.Response.WriteAsync(answer.Text);
        });
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        service = new BackendService(app, new Uri(address.TrimEnd('/') + "/ask"));
        return service;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static string? Header(HttpContext context, string name) =>
        context.Request.Headers.TryGetValue(name, out Microsoft.Extensions.Primitives.StringValues value) ? value.ToString() : null;

    private sealed class SilentLoggerProvider : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new SilentLogger();

        public void Dispose()
        {
        }

        private sealed class SilentLogger : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Critical;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
            }
        }
    }
}
