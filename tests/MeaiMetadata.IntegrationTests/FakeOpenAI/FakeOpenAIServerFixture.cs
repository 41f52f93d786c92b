using MeaiMetadata.FakeOpenAI;

namespace MeaiMetadata.IntegrationTests.FakeOpenAI;

/// <summary>One default <see cref="FakeOpenAIServer"/> shared by the tests of a class (xunit runs them one at a time).</summary>
public sealed class FakeOpenAIServerFixture : IAsyncLifetime
{
    private FakeOpenAIServer? _server;

    public FakeOpenAIServer Server => _server ?? throw new InvalidOperationException("The fixture is not initialized.");

    public async Task InitializeAsync() => _server = await FakeOpenAIServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
