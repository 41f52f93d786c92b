namespace MeaiMetadata.Demo;

/// <summary>One printed row: a request that reached the endpoint, and the step it belongs to.</summary>
public sealed record DemoRow(string Number, DemoStep Step, WireRecord Wire, string? Outcome);

/// <summary>Per-app totals.</summary>
/// <param name="App">The app id, or <see cref="DemoRunner.NoSession"/>.</param>
/// <param name="Requests">Requests that reached the endpoint (the endpoint's record).</param>
/// <param name="Tagged">Of them, those that carried the app's id (the endpoint's record).</param>
/// <param name="InputTokens">Input tokens from <c>dify.app.token.usage</c>.</param>
/// <param name="OutputTokens">Output tokens from <c>dify.app.token.usage</c>.</param>
/// <param name="Cost">US dollars from <c>dify.app.cost</c>, every request.</param>
/// <param name="StoredChatCost">US dollars from <c>dify.app.cost</c>, only the steps whose requests the endpoint stored
/// (Chat Completions with store=true): the part the Stored Completions report can see.</param>
public sealed record DemoAppSummary(string App, int Requests, int Tagged, long InputTokens, long OutputTokens, double Cost = 0, double StoredChatCost = 0);

/// <summary>What the scenario did.</summary>
/// <param name="Rows">One row per request that reached the endpoint.</param>
/// <param name="Apps">Per-app totals.</param>
/// <param name="FailedSteps">Steps whose request failed.</param>
/// <param name="Outcomes">The <c>dify.metadata.requests</c> counter by outcome.</param>
public sealed record DemoReport(IReadOnlyList<DemoRow> Rows, IReadOnlyList<DemoAppSummary> Apps, int FailedSteps, IReadOnlyDictionary<string, long> Outcomes);
