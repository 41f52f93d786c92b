using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace MeaiMetadata.Benchmarks.Infrastructure;

/// <summary>
/// An in-memory OpenAI: reads each request body fully (into one reused buffer) and answers with a canned, OpenAI-shaped
/// response for <c>/chat/completions</c> or <c>/responses</c> (the minimal answers of facts.md §5).
/// </summary>
public sealed class InMemoryOpenAIHandler : HttpMessageHandler
{
    private static readonly byte[] s_chatCompletion = Encoding.UTF8.GetBytes(
        """{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}""");

    private static readonly byte[] s_response = Encoding.UTF8.GetBytes(
        """{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"gpt-4o-mini","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"ok","annotations":[]}]}],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"store":true,"metadata":{},"usage":{"input_tokens":5,"output_tokens":3,"total_tokens":8,"input_tokens_details":{"cached_tokens":0},"output_tokens_details":{"reasoning_tokens":0}}}""");

    private readonly MemoryStream _body = new();

    /// <summary>Gets the body of the last request, decoded (for checks outside the measured code only).</summary>
    public string LastRequestBody => Encoding.UTF8.GetString(_body.GetBuffer(), 0, (int)_body.Length);

    /// <summary>Gets the path of the last request.</summary>
    public string? LastRequestPath { get; private set; }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        _body.SetLength(0);
        if (request.Content is not null)
        {
            await request.Content.CopyToAsync(_body, cancellationToken);
        }

        return Answer(request);
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        _body.SetLength(0);
        request.Content?.CopyTo(_body, null, cancellationToken);
        return Answer(request);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _body.Dispose();
        }

        base.Dispose(disposing);
    }

    private HttpResponseMessage Answer(HttpRequestMessage request)
    {
        string path = request.RequestUri?.AbsolutePath ?? "";
        LastRequestPath = path;
        byte[] payload =
            path.EndsWith("/chat/completions", StringComparison.Ordinal) ? s_chatCompletion :
            path.EndsWith("/responses", StringComparison.Ordinal) ? s_response :
            throw new InvalidOperationException($"Unexpected request path {path}.");

        var content = new ByteArrayContent(payload);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return new HttpResponseMessage(HttpStatusCode.OK) { Content = content, RequestMessage = request };
    }
}
