using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace MeaiMetadata.AspNetCore.Tests.TestDoubles;

/// <summary>An application on real Kestrel (127.0.0.1, port 0 unless told otherwise) with logging at Debug into a
/// <see cref="FakeLogCollector"/> (logging on also makes ASP.NET Core create the request activity, and so extract incoming
/// baggage onto it, as in any real host), and an <see cref="HttpClient"/> for it.</summary>
public sealed class TestApp : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestApp(WebApplication app, Uri address, HttpMessageHandler? handler)
    {
        _app = app;
        Address = address;
        Client = new HttpClient(handler ?? new SocketsHttpHandler()) { BaseAddress = address };
    }

    public Uri Address { get; }

    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    public FakeLogCollector Logs => _app.Services.GetFakeLogCollector();

    public static Task<TestApp> StartAsync(Action<WebApplication> configure, Action<WebApplicationBuilder>? services = null) =>
        StartAsync(configure, services, IPAddress.Loopback, listen: null, handler: null);

    public static async Task<TestApp> StartAsync(Action<WebApplication> configure, Action<WebApplicationBuilder>? services, IPAddress address, Action<ListenOptions>? listen, HttpMessageHandler? handler)
    {
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(address, 0, o => listen?.Invoke(o)));
        builder.Services.AddRoutingCore();
        builder.Services.AddMetrics();
        builder.Logging.AddFakeLogging().SetMinimumLevel(LogLevel.Debug);
        services?.Invoke(builder);
        WebApplication app = builder.Build();
        configure(app);
        await app.StartAsync();
        string bound = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        var uri = new Uri(bound.TrimEnd('/') + "/");
        return new TestApp(app, uri, handler);
    }

    /// <summary>The records of one logger category at one level.</summary>
    public IReadOnlyList<FakeLogRecord> LogsOf(string category, LogLevel level) =>
        [.. Logs.GetSnapshot().Where(r => r.Category == category && r.Level == level)];

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
