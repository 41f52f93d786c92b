namespace MeaiMetadata.FakeOpenAI;

/// <summary>The OpenAI API a recorded request was addressed to.</summary>
public enum OpenAIApi
{
    /// <summary>Neither known endpoint (the fake answered 404).</summary>
    Unknown = 0,

    /// <summary>POST {PathBase}/chat/completions.</summary>
    ChatCompletions = 1,

    /// <summary>POST {PathBase}/responses.</summary>
    Responses = 2,

    /// <summary>GET {PathBase}/chat/completions: the list of stored chat completions.</summary>
    ChatCompletionsList = 3,
}
