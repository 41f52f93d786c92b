using System.Globalization;

namespace MeaiMetadata.TwoServices;

/// <summary>The sample's command line.</summary>
public sealed record TwoServicesArguments(bool Help, int Rounds)
{
    /// <summary>The most rounds one run may send.</summary>
    public const int MaxRounds = 100;

    public const string Usage = """
        MeaiMetadata two-services sample: an edge that authenticates callers by API key (X-Api-Key) and opens the
        request's DifySession for the key's app, a backend it calls over HTTP with the app id as W3C Baggage
        (baggage: dify.app_id=...), and the backend's LLM call through .UseDifyMetadata() to an embedded, strict
        OpenAI-compatible endpoint. Some callers send a spoofed "baggage: dify.app_id=victim"; none is attributed to it.

        Usage: dotnet run --project samples/MeaiMetadata.TwoServices [-- options]

        Options:
          --rounds <n>     Send the scenario n times (1 to 100, default 1).
          -h, --help       Show this help.

        Everything listens on 127.0.0.1 (random ports); no API key or network is needed.
        Exit codes: 0 done; 1 a request was attributed to the wrong app or failed unexpectedly; 2 bad arguments.
        """;

    /// <summary>Parses <paramref name="args"/>; returns <see langword="null"/> and an error for bad input.</summary>
    public static TwoServicesArguments? Parse(IReadOnlyList<string> args, out string? error)
    {
        bool help = false, roundsGiven = false;
        int rounds = 1;
        error = null;
        for (int i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "-h" or "--help" or "-?":
                    help = true;
                    break;
                case "--rounds" when roundsGiven:
                    error = "--rounds is given twice; give it once.";
                    return null;
                case "--rounds":
                    roundsGiven = true;
                    if (i + 1 >= args.Count)
                    {
                        error = "--rounds needs a number of rounds, e.g. --rounds 3";
                        return null;
                    }

                    string value = args[++i];
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out rounds) || rounds < 1 || rounds > MaxRounds)
                    {
                        error = $"--rounds must be a whole number from 1 to {MaxRounds}, not '{value}'.";
                        return null;
                    }

                    break;
                default:
                    error = $"unknown option '{args[i]}'. Run with --help for the options.";
                    return null;
            }
        }

        return new TwoServicesArguments(help, rounds);
    }
}
