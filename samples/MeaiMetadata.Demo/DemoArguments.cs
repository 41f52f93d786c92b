namespace MeaiMetadata.Demo;

/// <summary>The demo's command line.</summary>
public sealed record DemoArguments(bool Help, bool Live, string Model, bool Verbose, bool Headers = false, string? Redis = null)
{
    public const string DefaultModel = "gpt-4o-mini";

    public const string Usage = """
        MeaiMetadata demo: real OpenAI-SDK requests through an IChatClient pipeline with .UseDifyMetadata(),
        a table of exactly what reached the endpoint (metadata, store) for each request, and the spend per app
        two ways: from the meter (dify.app.cost) and from the endpoint's Stored Completions (DifySpendReport).

        Usage: dotnet run --project samples/MeaiMetadata.Demo [-- options]
               (the options go after "--", e.g. dotnet run --project samples/MeaiMetadata.Demo -- --verbose)

        Options:
          --live           Send the scenario to the real OpenAI API instead of the embedded endpoint.
                           Needs OPENAI_API_KEY; OPENAI_BASE_URL overrides the endpoint.
                           Note: tagged requests carry store=true, which persists them (prompts and outputs)
                           as Stored Completions on your OpenAI account.
          --model <name>   Model to ask for (default: gpt-4o-mini).
          --headers        Also send the gateway headers of all four presets (Helicone, Portkey, Cloudflare, LiteLLM)
                           and show the ones that reached the embedded endpoint, request by request.
          --redis <host:port>
                           Run the budget section (two instances sharing one budget per app) on a real Redis
                           instead of the embedded Garnet server.
          --verbose        Show the middleware's Debug log (why each request was or was not tagged) on stderr;
                           each line names the row of the table it belongs to ("=> row 7").
          -h, --help       Show this help.

        Without --live, an OpenAI-compatible endpoint is started on 127.0.0.1 (random port); no API key is needed.
        Last, the budget section (always on an embedded endpoint): two instances share a daily budget per app on an
        embedded Garnet server (127.0.0.1, random port), or on the Redis of --redis; spend climbs to the limit, the next
        request is refused (DifyBudgetExceededException) and an HTTP caller gets 429 with Retry-After.
        Exit codes: 0 done; 1 a request failed, the two spend figures disagree, or the budget section failed
        (--redis not reachable, or the budget not kept); 2 bad arguments or no API key.
        """;

    /// <summary>Parses <paramref name="args"/>; returns <see langword="null"/> and an error for bad input.</summary>
    public static DemoArguments? Parse(IReadOnlyList<string> args, out string? error)
    {
        bool help = false, live = false, verbose = false, headers = false;
        string model = DefaultModel;
        string? redis = null;
        error = null;
        for (int i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "-h" or "--help" or "-?":
                    help = true;
                    break;
                case "--live":
                    live = true;
                    break;
                case "--headers":
                    headers = true;
                    break;
                case "--verbose":
                    verbose = true;
                    break;
                case "--model":
                    if (i + 1 >= args.Count || args[i + 1].StartsWith('-') || args[i + 1].Length == 0)
                    {
                        error = "--model needs a model name, e.g. --model gpt-4o-mini";
                        return null;
                    }

                    model = args[++i];
                    break;
                case "--redis":
                    if (i + 1 >= args.Count || args[i + 1].StartsWith('-') || !args[i + 1].Contains(':', StringComparison.Ordinal))
                    {
                        error = "--redis needs host:port, e.g. --redis 127.0.0.1:6379";
                        return null;
                    }

                    redis = args[++i];
                    break;
                default:
                    error = $"unknown option '{args[i]}'. Run with --help for the options.";
                    return null;
            }
        }

        if (headers && live)
        {
            error = "--headers shows what the embedded endpoint received; it cannot be combined with --live.";
            return null;
        }

        return new DemoArguments(help, live, model, verbose, headers, redis);
    }
}
