using Microsoft.Extensions.Hosting;

namespace MeaiMetadata.FakeOpenAI;

/// <summary>Host lifetime that does not hook Ctrl+C or SIGTERM, so the fake never steals the console of its host process.</summary>
internal sealed class NoopHostLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
