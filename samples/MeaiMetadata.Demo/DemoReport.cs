namespace MeaiMetadata.Demo;

/// <summary>One printed row: a request that reached the endpoint, and the step it belongs to.</summary>
public sealed record DemoRow(string Number, DemoStep Step, WireRecord Wire, string? Outcome);

/// <summary>Per-app totals.</summary>
public sealed record DemoAppSummary(string App, int Requests, int Tagged, long InputTokens, long OutputTokens);

/// <summary>What the scenario did.</summary>
/// <param name="Rows">One row per request that reached the endpoint.</param>
/// <param name="Apps">Per-app totals.</param>
/// <param name="FailedSteps">Steps whose request failed.</param>
/// <param name="Outcomes">The <c>dify.metadata.requests</c> counter by outcome.</param>
public sealed record DemoReport(IReadOnlyList<DemoRow> Rows, IReadOnlyList<DemoAppSummary> Apps, int FailedSteps, IReadOnlyDictionary<string, long> Outcomes);
