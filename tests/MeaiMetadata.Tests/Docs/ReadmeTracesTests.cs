using Microsoft.Extensions.AI;

namespace MeaiMetadata.Tests.Docs;

/// <summary>The README's Traces section states the builder order the way MEAI builds pipelines (defect 10 of the issue
/// "One decision per request": it had the order backwards).</summary>
public class ReadmeTracesTests
{
    private static string Readme()
    {
        for (DirectoryInfo? folder = new(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            string path = Path.Combine(folder.FullName, "README.md");
            if (File.Exists(path) && File.Exists(Path.Combine(folder.FullName, "MeaiMetadata.sln")))
            {
                return File.ReadAllText(path);
            }
        }

        throw new InvalidOperationException("README.md of the repository not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void Traces_OpenTelemetryOutsideTheLayer_IsCalledBeforeItOnTheBuilder()
    {
        string readme = Readme();
        int traces = readme.IndexOf("### Traces", StringComparison.Ordinal);
        string section = readme[traces..readme.IndexOf("\n### ", traces + 1, StringComparison.Ordinal)];

        Assert.Contains("outside\n`UseDifyMetadata()` (called *before* it on the builder: the first `Use` is the outermost layer)", section, StringComparison.Ordinal);
        Assert.DoesNotContain("(called after it on the builder) that is the OpenTelemetry chat span", section, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheFirstUse_IsTheOutermostLayer_AsTheReadmeSays()
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
