using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MeaiMetadata.AspNetCore;

/// <summary>A route handler's result, executed inside a session for the app of the handler's session; both sessions end
/// when it has executed.</summary>
internal sealed class DifySessionResult : IResult, INestedHttpResult, IStatusCodeHttpResult
{
    private readonly object _value;
    private readonly DifySession _session;
    private readonly IDisposable _handlerScope;

    private DifySessionResult(object value, DifySession session, IDisposable handlerScope)
    {
        _value = value;
        _session = session;
        _handlerScope = handlerScope;
    }

    /// <summary>Gets the result of the handler, or <see cref="EmptyHttpResult"/> when it returned a value to serialize.</summary>
    public IResult Result => _value as IResult ?? EmptyHttpResult.Instance;

    /// <inheritdoc />
    public int? StatusCode => (_value as IStatusCodeHttpResult)?.StatusCode;

    /// <summary>Wraps what a handler returned, or returns <see langword="null"/> when writing it runs no code of the
    /// application: <see langword="null"/> and strings (written as they are by ASP.NET Core).</summary>
    public static DifySessionResult? Wrap(object? value, DifySession session, IDisposable handlerScope) =>
        value is null or string ? null : new DifySessionResult(value, session, handlerScope);

    /// <inheritdoc />
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        try
        {
            using (DifySessionLookup.BeginSession(_session.AppId, _session.PropagatesAsBaggage))
            {
                if (_value is IResult result)
                {
                    await result.ExecuteAsync(httpContext).ConfigureAwait(false);
                }
                else
                {
                    // As ASP.NET Core writes a handler's value (an IAsyncEnumerable<T> too, enumerated while it is
                    // written): JSON of its runtime type with the application's JSON options.
                    JsonSerializerOptions options = (httpContext.RequestServices.GetService<IOptions<JsonOptions>>()?.Value ?? new JsonOptions()).SerializerOptions;
                    JsonTypeInfo typeInfo = options.GetTypeInfo(_value.GetType());
                    await httpContext.Response.WriteAsJsonAsync(_value, typeInfo, contentType: null, httpContext.RequestAborted).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            _handlerScope.Dispose();
        }
    }
}
