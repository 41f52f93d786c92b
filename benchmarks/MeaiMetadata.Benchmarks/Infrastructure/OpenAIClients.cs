using System.ClientModel;
using System.ClientModel.Primitives;
using OpenAI;

namespace MeaiMetadata.Benchmarks.Infrastructure;

/// <summary>The official OpenAI SDK wired to an <see cref="InMemoryOpenAIHandler"/>.</summary>
public static class OpenAIClients
{
    public static OpenAIClient Create(InMemoryOpenAIHandler handler) =>
        new(new ApiKeyCredential("k"), new OpenAIClientOptions
        {
            Endpoint = new Uri("http://localhost/v1/"),
            Transport = new HttpClientPipelineTransport(new HttpClient(handler)),
        });
}
