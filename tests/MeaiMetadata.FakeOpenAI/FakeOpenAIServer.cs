using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MeaiMetadata.FakeOpenAI;

/// <summary>A strict in-process fake of the OpenAI Chat Completions and Responses endpoints on Kestrel (127.0.0.1, random port).</summary>
public sealed class FakeOpenAIServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly FakeOpenAIServerOptions _options;
    private readonly string _pathBase;
    private readonly List<RecordedRequest> _requests = [];
    private readonly Lock _requestsLock = new();
    private readonly List<StoredCompletion> _stored = [];
    private long _sequence;

    private FakeOpenAIServer(WebApplication app, FakeOpenAIServerOptions options)
    {
        _app = app;
        _options = options;
        _pathBase = NormalizePathBase(options.PathBase);
        BaseAddress = new Uri("http://127.0.0.1/");
    }

    /// <summary>Base address including the path base and a trailing slash (e.g. http://127.0.0.1:12345/v1/); pass it as OpenAIClientOptions.Endpoint.</summary>
    public Uri BaseAddress { get; private set; }

    /// <summary>Options the server was started with.</summary>
    public FakeOpenAIServerOptions Options => _options;

    /// <summary>Snapshot of the requests received so far (rejected ones too), in arrival order.</summary>
    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_requestsLock)
            {
                return _requests.ToArray();
            }
        }
    }

    /// <summary>Snapshot of the stored chat completions (successful Chat Completions requests with <c>store: true</c>, and
    /// those added with <see cref="AddStoredCompletion"/>), in arrival order.</summary>
    public IReadOnlyList<StoredCompletion> StoredCompletions
    {
        get
        {
            lock (_requestsLock)
            {
                return _stored.ToArray();
            }
        }
    }

    /// <summary>Stores a chat completion as if a request with <c>store: true</c> had produced it (to seed the list endpoint).</summary>
    public void AddStoredCompletion(StoredCompletion completion)
    {
        ArgumentNullException.ThrowIfNull(completion);
        lock (_requestsLock)
        {
            _stored.Add(completion);
        }
    }

    /// <summary>Starts a server on 127.0.0.1 with a port chosen by the OS (or <see cref="FakeOpenAIServerOptions.Port"/>); it logs nothing.</summary>
    public static async Task<FakeOpenAIServer> StartAsync(FakeOpenAIServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new FakeOpenAIServerOptions();

        // The empty builder registers no logging provider and no configuration source, so the fake stays quiet in a console demo.
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, options.Port));
        builder.Services.AddSingleton<IHostLifetime>(new NoopHostLifetime());
        WebApplication app = builder.Build();

        var server = new FakeOpenAIServer(app, options);
        app.Run(server.HandleAsync);
        await app.StartAsync(cancellationToken);

        string address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        server.BaseAddress = new Uri(new Uri(address.TrimEnd('/') + "/"), server._pathBase.TrimStart('/') + "/");
        return server;
    }

    /// <summary>Forgets the recorded requests.</summary>
    public void Clear()
    {
        lock (_requestsLock)
        {
            _requests.Clear();
            _stored.Clear();
        }
    }

    /// <summary>Stops the host and releases the port.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static string NormalizePathBase(string? pathBase)
    {
        string trimmed = (pathBase ?? "").Trim('/');
        return trimmed.Length == 0 ? "" : "/" + trimmed;
    }

    private OpenAIApi Route(HttpRequest request)
    {
        string path = request.Path.Value ?? "";
        if (HttpMethods.IsGet(request.Method) && path == _pathBase + "/chat/completions")
        {
            return OpenAIApi.ChatCompletionsList;
        }

        if (!HttpMethods.IsPost(request.Method))
        {
            return OpenAIApi.Unknown;
        }

        return path == _pathBase + "/chat/completions" ? OpenAIApi.ChatCompletions
            : path == _pathBase + "/responses" ? OpenAIApi.Responses
            : OpenAIApi.Unknown;
    }

    private async Task HandleAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        CancellationToken cancellationToken = context.RequestAborted;

        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, cancellationToken);
        byte[] body = buffer.ToArray();

        OpenAIApi api = Route(request);
        ParsedRequest parsed = api is OpenAIApi.Unknown or OpenAIApi.ChatCompletionsList ? new ParsedRequest() : RequestParser.Parse(api, body);
        string? authorization = request.Headers.Authorization.Count > 0 ? request.Headers.Authorization.ToString() : null;
        string? apiKeyHeader = request.Headers.TryGetValue("api-key", out var apiKey) ? apiKey.ToString() : null;

        int statusCode = StatusCodes.Status200OK;
        string? error = null;
        string? param = null;
        string? code = null;
        if (api == OpenAIApi.Unknown)
        {
            statusCode = StatusCodes.Status404NotFound;
            error = $"Invalid URL ({request.Method} {request.Path}{request.QueryString})";
        }
        else if (_options.ApiKey is { } expectedKey &&
            authorization != "Bearer " + expectedKey && apiKeyHeader != expectedKey)
        {
            statusCode = StatusCodes.Status401Unauthorized;
            error = authorization is null && apiKeyHeader is null
                ? "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                : "Incorrect API key provided.";
            code = "invalid_api_key";
        }
        else if (parsed.Error is not null)
        {
            statusCode = StatusCodes.Status400BadRequest;
            error = parsed.Error;
            param = parsed.ErrorParam;
        }

        var recorded = new RecordedRequest
        {
            Path = request.Path.Value ?? "",
            Method = request.Method,
            Api = api,
            Stream = parsed.Stream,
            Model = parsed.Model,
            Metadata = parsed.Metadata,
            Store = parsed.Store,
            StatusCode = statusCode,
            Error = error,
            ErrorParam = param,
            Body = Encoding.UTF8.GetString(body),
            LastUserText = parsed.LastUserText,
            ApiKeyHeader = apiKeyHeader,
            AuthorizationHeader = authorization,
            Headers = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
        };
        lock (_requestsLock)
        {
            _requests.Add(recorded);
        }

        if (error is not null)
        {
            await JsonAnswer.WriteErrorAsync(context.Response, statusCode, error, "invalid_request_error", param, code, cancellationToken);
            return;
        }

        if (api == OpenAIApi.ChatCompletionsList)
        {
            await ChatCompletionsList.WriteAsync(context.Response, request.Query, StoredCompletions, cancellationToken);
            return;
        }

        if (_options.BeforeAnswer is { } beforeAnswer)
        {
            await beforeAnswer(recorded, cancellationToken);
        }

        FakeUsage usage = _options.UsageOf?.Invoke(recorded) ??
            new FakeUsage(_options.InputTokens, _options.OutputTokens, _options.CachedInputTokens, _options.ReasoningTokens);
        var answer = new AnswerContext { Request = parsed, Options = _options, Sequence = Interlocked.Increment(ref _sequence), Usage = usage };
        if (api == OpenAIApi.ChatCompletions && parsed.Store == true)
        {
            AddStoredCompletion(new StoredCompletion
            {
                Id = $"chatcmpl-{answer.Sequence}",
                Created = answer.Created,
                Model = answer.Model,
                Metadata = parsed.Metadata ?? new Dictionary<string, string>(),
                PromptTokens = usage.InputTokens,
                CachedTokens = usage.CachedInputTokens,
                CompletionTokens = usage.OutputTokens,
                ReasoningTokens = usage.ReasoningTokens,
                Content = _options.ReplyText,
            });
        }

        await (api == OpenAIApi.ChatCompletions
            ? ChatCompletionsAnswer.WriteAsync(context.Response, answer, cancellationToken)
            : ResponsesAnswer.WriteAsync(context.Response, answer, cancellationToken));
    }
}
