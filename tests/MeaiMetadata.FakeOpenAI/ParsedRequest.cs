namespace MeaiMetadata.FakeOpenAI;

/// <summary>What <see cref="RequestParser"/> extracted from a request body, and the first rule it broke.</summary>
internal sealed class ParsedRequest
{
    public bool Stream { get; set; }

    public bool IncludeUsage { get; set; }

    public string? Model { get; set; }

    public IReadOnlyDictionary<string, string>? Metadata { get; set; }

    public bool? Store { get; set; }

    public string? LastUserText { get; set; }

    public string? PreviousResponseId { get; set; }

    /// <summary>Name of the function to call when tool calls are on (first tool, no tool result yet), else null.</summary>
    public string? ToolToCall { get; set; }

    public string? Error { get; private set; }

    public string? ErrorParam { get; private set; }

    /// <summary>Records a rule violation; only the first one is kept (it is the one answered).</summary>
    public void Fail(string message, string? param)
    {
        if (Error is null)
        {
            Error = message;
            ErrorParam = param;
        }
    }
}
