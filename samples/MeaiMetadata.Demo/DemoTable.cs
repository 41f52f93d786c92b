using System.Text;

namespace MeaiMetadata.Demo;

/// <summary>Prints the report as plain-text tables.</summary>
public static class DemoTable
{
    public static string Metadata(WireRecord wire) =>
        wire.Metadata is { Count: > 0 } metadata
            ? string.Join(", ", metadata.OrderBy(p => p.Key == DifyMetadataKeys.AppId ? 0 : p.Key == DifyMetadataKeys.Source ? 1 : 2)
                .ThenBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"))
            : "(none)";

    public static string Store(WireRecord wire) => wire.Store switch { true => "true", false => "false", null => "(unset)" };

    public static void Write(TextWriter output, DemoReport report)
    {
        string[] header = ["#", "request", "session", "API", "stream", "metadata on the wire", "store", "outcome"];
        List<string[]> rows = [.. report.Rows.Select(r => new[]
        {
            r.Number,
            r.Step.Title,
            r.Step.App ?? DemoRunner.NoSession,
            r.Wire.Api,
            r.Wire.Stream ? "yes" : "no",
            Metadata(r.Wire),
            Store(r.Wire),
            (r.Wire.StatusCode == 0 ? "no answer" : $"HTTP {r.Wire.StatusCode}") + (r.Outcome is null ? "" : $", {r.Outcome}"),
        })];
        WriteTable(output, header, rows);

        output.WriteLine();
        output.WriteLine("Per app (requests and tagged: the endpoint's record; tokens: the MeaiMetadata meter, dify.app.token.usage):");
        WriteTable(
            output,
            ["app", "requests", "tagged", "tokens in", "tokens out"],
            [.. report.Apps.Select(a => new[] { a.App, $"{a.Requests}", $"{a.Tagged}", $"{a.InputTokens}", $"{a.OutputTokens}" })]);
        output.WriteLine();
        output.WriteLine("dify.metadata.requests by outcome: " +
            string.Join(", ", report.Outcomes.OrderByDescending(o => o.Value).ThenBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key}={o.Value}")));
    }

    private static void WriteTable(TextWriter output, string[] header, List<string[]> rows)
    {
        int[] widths = [.. header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length)))];
        output.WriteLine(Line(header, widths));
        output.WriteLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (string[] row in rows)
        {
            output.WriteLine(Line(row, widths));
        }
    }

    private static string Line(string[] cells, int[] widths)
    {
        var line = new StringBuilder();
        for (int i = 0; i < cells.Length; i++)
        {
            line.Append(i == cells.Length - 1 ? cells[i] : cells[i].PadRight(widths[i] + 2));
        }

        return line.ToString().TrimEnd();
    }
}
