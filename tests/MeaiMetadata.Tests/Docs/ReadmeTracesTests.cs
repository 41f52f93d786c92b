using Microsoft.Extensions.AI;

namespace MeaiMetadata.Tests.Docs;

/// <summary>The Traces section of docs/operations.md states the builder order the way MEAI builds pipelines (defect 10 of
/// the issue "One decision per request": the README had the order backwards).</summary>
public class ReadmeTracesTests
{
    private static string Operations()
    {
        for (DirectoryInfo? folder = new(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            string path = Path.Combine(folder.FullName, "docs", "operations.md");
            if (File.Exists(path) && File.Exists(Path.Combine(folder.FullName, "MeaiMetadata.sln")))
            {
                return File.ReadAllText(path);
            }
        }

        throw new InvalidOperationException("docs/operations.md of the repository not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void Traces_OpenTelemetryOutsideTheLayer_IsCalledBeforeItOnTheBuilder()
    {
        string page = Operations();
        int traces = page.IndexOf("## Traces", StringComparison.Ordinal);
        string section = string.Join(' ', page[traces..page.IndexOf("\n## ", traces + 1, StringComparison.Ordinal)]
            .Split([' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries));

        Assert.Contains("outside the layer (called before it on the builder: the first `Use` is the outermost layer) that is the chat span", section, StringComparison.Ordinal);
        Assert.DoesNotContain("(called after it on the builder) that is the", section, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheFirstUse_IsTheOutermostLayer_AsTheDocsSay()
    {
        var order = new List<string>();
        IChatClient client = new ChatClientBuilder(new TestDoubles.OpenAIStandInClient(TestDoubles.StandInApi.ChatCompletions))
            .Use((m, o, next, ct) => { order.Add("first"); return next(m, o, ct); })
            .Use((m, o, next, ct) => { order.Add("second"); return next(m, o, ct); })
            .Build();

        await client.GetResponseAsync("hi");

        Assert.Equal(["first", "second"], order);
    }
}
