using System.Net;
using System.Text.Json;
using MeaiMetadata.Budgets.Tests.Redis;
using MeaiMetadata.Budgets.Tests.TestDoubles;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace MeaiMetadata.Budgets.Tests;

public sealed class AlertAndHttpTests(GarnetFixture garnet) : IClassFixture<GarnetFixture>
{
    [Fact]
    public async Task AlertAt_OneWarningPerAppPeriodAndThreshold_AcrossInstances_CountedAndCalledBack()
    {
        string app = "alerts-" + Guid.NewGuid().ToString("N")[..8];
        var alerts = new List<DifyBudgetAlert>();
        var instances = new List<(IChatClient Client, ServiceProvider Services, MetricCollector<long> Counter)>();
        for (int i = 0; i < 2; i++)
        {
            ServiceProvider services = new ServiceCollection()
                .AddLogging(b => b.AddFakeLogging()).AddMetrics()
                .AddDifyMetadata(o =>
                {
                    o.Budgets.Default = new DifyBudget { LimitUsd = 0.0001m }; // worth 39 actual calls of 2,550 nano-dollars
                    o.Budgets.AlertAt.Add(0.5);
                    o.Budgets.AlertAt.Add(0.9);
                    o.Budgets.OnAlert = a => { lock (alerts) { alerts.Add(a); } };
                })
                .AddDifyBudgetRedisStore(garnet.Configuration)
                .BuildServiceProvider();
            var counter = new MetricCollector<long>(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), DifyMetadataTelemetry.MeterName, DifyBudgetEnforcer.AlertsCounter);
            instances.Add((new ChatClientBuilder(new CountingChatClient()).UseDifyMetadata().Build(services), services, counter));
        }

        for (int i = 0; i < 36; i++) // alternating instances; 36 x 2,550 = 91,800 crosses 50% and 90%
        {
            await instances[i % 2].Client.GetResponseAsync("hello", new ChatOptions { ModelId = "gpt-4o-mini", MaxOutputTokens = 10 }.WithDifyAppId(app));
        }

        int warnings = instances.Sum(x => x.Services.GetFakeLogCollector().GetSnapshot().Count(r => r.Id.Id == 404 && r.Level == LogLevel.Warning));
        Assert.Equal(2, warnings); // 0.5 and 0.9, once each across both instances
        Assert.Equal([0.5, 0.9], alerts.Select(a => a.Threshold).Order());
        Assert.All(alerts, a => Assert.Equal(app, a.AppId));
        Assert.Equal(2, instances.Sum(x => x.Counter.GetMeasurementSnapshot().Count));
        foreach (var x in instances)
        {
            x.Counter.Dispose();
            await x.Services.DisposeAsync();
        }
    }

    [Fact]
    public async Task UseDifyBudgetProblemDetails_Answers429_WithRetryAfterAndTheAppAndResetTime()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 23, 0, 0, TimeSpan.Zero));
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddDifyMetadata(o => o.Budgets.Default = new DifyBudget { LimitUsd = 0m, Period = DifyBudgetPeriod.Day });
        builder.Services.AddChatClient(new CountingChatClient()).UseDifyMetadata();
        await using WebApplication web = builder.Build();
        web.UseDifyBudgetProblemDetails();
        web.MapGet("/chat", async (IChatClient chat) => (await chat.GetResponseAsync("hello", new ChatOptions { ModelId = "gpt-4o-mini" }.WithDifyAppId("app-7"))).Text);
        await web.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(web.Urls.First()) };
            HttpResponseMessage response = await http.GetAsync(new Uri("/chat", UriKind.Relative));

            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            Assert.Equal(TimeSpan.FromHours(1), response.Headers.RetryAfter?.Delta);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            using JsonDocument body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal(429, body.RootElement.GetProperty("status").GetInt32());
            Assert.Equal("app-7", body.RootElement.GetProperty("appId").GetString());
            Assert.Equal(JsonValueKind.Number, body.RootElement.GetProperty("limitUsd").ValueKind);
            Assert.Equal(0m, body.RootElement.GetProperty("limitUsd").GetDecimal());
            Assert.Equal("2026-03-11T00:00:00.0000000+00:00", body.RootElement.GetProperty("resetsAt").GetString());
            Assert.Contains("app-7", body.RootElement.GetProperty("detail").GetString());
        }
        finally
        {
            await web.StopAsync();
        }
    }

    [Fact]
    public async Task UseDifyBudgetProblemDetails_StoreUnreachable_Answers429_ShortRetryAfter_NoStoreDetails()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddDifyMetadata(o =>
        {
            o.Budgets.Default = new DifyBudget { LimitUsd = 5m, Period = DifyBudgetPeriod.Day };
            o.Budgets.OnStoreFailure = DifyBudgetStoreFailure.Refuse;
        });
        builder.Services.AddSingleton<IDifyBudgetStore>(new UnreachableStore());
        builder.Services.AddChatClient(new CountingChatClient()).UseDifyMetadata();
        await using WebApplication web = builder.Build();
        web.UseDifyBudgetProblemDetails();
        web.MapGet("/chat", async (IChatClient chat) => (await chat.GetResponseAsync("hello", new ChatOptions { ModelId = "gpt-4o-mini", MaxOutputTokens = 10 }.WithDifyAppId("app-8"))).Text);
        await web.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(web.Urls.First()) };
            HttpResponseMessage response = await http.GetAsync(new Uri("/chat", UriKind.Relative));
            string text = await response.Content.ReadAsStringAsync();

            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(5), response.Headers.RetryAfter?.Delta);
            using JsonDocument body = JsonDocument.Parse(text);
            Assert.Equal("app-8", body.RootElement.GetProperty("appId").GetString());
            Assert.DoesNotContain("10.1.2.3:6379", text, StringComparison.Ordinal); // nothing of the store reaches the caller
        }
        finally
        {
            await web.StopAsync();
        }
    }

    private sealed class UnreachableStore : IDifyBudgetStore
    {
        public ValueTask<DifyBudgetReserveResult> ReserveAsync(DifyBudgetKey key, long amount, long limit, CancellationToken cancellationToken) =>
            throw new TimeoutException("It was not possible to connect to the redis server(s) 10.1.2.3:6379.");

        public ValueTask<DifyBudgetSettleResult> SettleAsync(DifyBudgetKey key, long delta, DifyBudgetThreshold[] alertAt, CancellationToken cancellationToken) =>
            throw new TimeoutException("It was not possible to connect to the redis server(s) 10.1.2.3:6379.");
    }
}
