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
    private static int s_warned;

    /// <summary>Logs the warning if the loaded assemblies are the broken combination and no warning was logged yet.</summary>
    public static void WarnOnce(ILogger? logger)
    {
        if (logger is null || Volatile.Read(ref s_warned) != 0 || !logger.IsEnabled(LogLevel.Warning))
        {
            return;
        }

        (string meaiOpenAI, string openAI) = LoadedVersions.Value;
        if (IsKnownBroken(meaiOpenAI, openAI) && Interlocked.Exchange(ref s_warned, 1) == 0)
        {
            KnownBrokenCombination(logger, meaiOpenAI, openAI);
        }
    }

    /// <summary>Whether Microsoft.Extensions.AI.OpenAI <paramref name="meaiOpenAIVersion"/> with OpenAI <paramref name="openAIVersion"/> is the known break.</summary>
    public static bool IsKnownBroken(string? meaiOpenAIVersion, string? openAIVersion) =>
        Parse(meaiOpenAIVersion) is { } meai && meai >= new Version(10, 10, 1) && meai < new Version(12, 0) &&
        Parse(openAIVersion) is { } openAI && openAI >= new Version(2, 15);

    private static Version? Parse(string? version)
    {
        if (string.IsNullOrEmpty(version))
        {
            return null;
        }

        int end = version.AsSpan().IndexOfAny('-', '+');
        return Version.TryParse(end < 0 ? version : version[..end], out Version? parsed) ? parsed : null;
    }

    private static readonly Lazy<(string MeaiOpenAI, string OpenAI)> LoadedVersions = new(() =>
        (VersionOf(typeof(Microsoft.Extensions.AI.OpenAIClientExtensions).Assembly), VersionOf(typeof(OpenAI.OpenAIClient).Assembly)));

    /// <summary>The package version (informational version without its commit suffix), else the assembly version.</summary>
    private static string VersionOf(Assembly assembly)
    {
        string? informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (!string.IsNullOrEmpty(informational))
        {
            int plus = informational.IndexOf('+', StringComparison.Ordinal);
            return plus < 0 ? informational : informational[..plus];
        }

        return assembly.GetName().Version?.ToString() ?? "unknown";
    }

    [LoggerMessage(100, LogLevel.Warning, "Microsoft.Extensions.AI.OpenAI {MeaiOpenAIVersion} with OpenAI {OpenAIVersion} is a known broken combination: " +
        "Responses streaming throws MissingMethodException (with or without MeaiMetadata). Use OpenAI 2.14.x with this Microsoft.Extensions.AI.OpenAI.")]
    private static partial void KnownBrokenCombination(ILogger logger, string meaiOpenAIVersion, string openAIVersion);
}
