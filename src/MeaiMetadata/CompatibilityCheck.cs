using System.Reflection;
using Microsoft.Extensions.Logging;

namespace MeaiMetadata;

/// <summary>
/// Warns once per process when the loaded Microsoft.Extensions.AI.OpenAI and OpenAI assemblies are a combination known to
/// break outside this library: Microsoft.Extensions.AI.OpenAI 10.10.1 to 11.x (10.10.1, 10.11.0 and 11.0.0 measured), compiled
/// against OpenAI 2.14, with OpenAI 2.15 or later throws <see cref="MissingMethodException"/> on Responses streaming (measured by
/// .ci/compat-matrix.sh; README, Compatibility). 12.0 and later are outside the package's declared range and not measured.
/// </summary>
internal static partial class CompatibilityCheck
{
    private static int s_checked;

    /// <summary>Checks the loaded assemblies once per process, with the first logger that logs warnings.</summary>
    public static void WarnOnce(ILogger? logger)
    {
        if (logger?.IsEnabled(LogLevel.Warning) == true && Interlocked.Exchange(ref s_checked, 1) == 0)
        {
            string meaiOpenAI = VersionOf(typeof(Microsoft.Extensions.AI.OpenAIClientExtensions).Assembly), openAI = VersionOf(typeof(OpenAI.OpenAIClient).Assembly);
            if (IsKnownBroken(meaiOpenAI, openAI))
            {
                KnownBrokenCombination(logger, meaiOpenAI, openAI);
            }
        }
    }

    /// <summary>Whether Microsoft.Extensions.AI.OpenAI <paramref name="meaiOpenAIVersion"/> with OpenAI <paramref name="openAIVersion"/> is the known break.</summary>
    public static bool IsKnownBroken(string? meaiOpenAIVersion, string? openAIVersion) =>
        Parse(meaiOpenAIVersion) is { } meai && meai >= new Version(10, 10, 1) && meai < new Version(12, 0) &&
        Parse(openAIVersion) is { } openAI && openAI >= new Version(2, 15);

    private static Version? Parse(string? version) => Version.TryParse(version?.Split('-', '+')[0], out Version? parsed) ? parsed : null;

    /// <summary>The package version (informational version without its commit suffix), else the assembly version.</summary>
    private static string VersionOf(Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion is { Length: > 0 } informational
            ? informational.Split('+')[0]
            : assembly.GetName().Version?.ToString() ?? "unknown";

    [LoggerMessage(100, LogLevel.Warning, "Microsoft.Extensions.AI.OpenAI {MeaiOpenAIVersion} with OpenAI {OpenAIVersion} is a known broken combination: " +
        "Responses streaming throws MissingMethodException (with or without MeaiMetadata). Use OpenAI 2.14.x with this Microsoft.Extensions.AI.OpenAI.")]
    private static partial void KnownBrokenCombination(ILogger logger, string meaiOpenAIVersion, string openAIVersion);
}
