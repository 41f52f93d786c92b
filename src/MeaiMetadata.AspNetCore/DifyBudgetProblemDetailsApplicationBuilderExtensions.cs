using System.Globalization;
using MeaiMetadata;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps <see cref="DifyBudgetExceededException"/> to HTTP 429 in an ASP.NET Core pipeline.</summary>
public static class DifyBudgetProblemDetailsApplicationBuilderExtensions
{
    /// <summary>The <c>Retry-After</c> of a refusal because the budget store cannot be reached.</summary>
    private const int StoreRetrySeconds = 5;

    /// <summary>Answers a request whose LLM call a budget refused with 429 Too Many Requests, <c>Retry-After</c> (seconds
    /// until the budget resets) and a ProblemDetails body naming the app and the reset time.</summary>
    /// <param name="app">The application builder; add this early, before the endpoints.</param>
    /// <returns>The <paramref name="app"/>.</returns>
    /// <remarks>A refusal because the budget store could not be reached (<c>OnStoreFailure: Refuse</c>) is answered 429 with
    /// <c>Retry-After: 5</c> (an outage, not a spent budget), naming only the app. A response that has already started (a stream
    /// that was refused part-way) cannot change its status: the exception then goes on up the pipeline.</remarks>
    public static IApplicationBuilder UseDifyBudgetProblemDetails(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Use(static async (context, next) =>
        {
            try
            {
                await next(context).ConfigureAwait(false);
            }
            catch (DifyBudgetExceededException ex) when (!context.Response.HasStarted)
            {
                context.Response.Clear();
                if (ex.InnerException is not null)
                {
                    // The budget store could not be reached (OnStoreFailure: Refuse): a short outage, not a spent budget. Try
                    // again in seconds, not at the reset; nothing of the infrastructure goes to the caller.
                    context.Response.Headers.RetryAfter = StoreRetrySeconds.ToString(CultureInfo.InvariantCulture);
                    await Results.Problem(
                        detail: $"The budget of app '{ex.AppId}' cannot be checked right now; nothing was sent. Try again shortly.",
                        statusCode: StatusCodes.Status429TooManyRequests,
                        title: "Budget unavailable",
                        type: "https://tools.ietf.org/html/rfc6585#section-4",
                        extensions: new Dictionary<string, object?> { ["appId"] = ex.AppId }).ExecuteAsync(context).ConfigureAwait(false);
                    return;
                }

                TimeProvider time = context.RequestServices.GetService<TimeProvider>() ?? TimeProvider.System;
                long seconds = Math.Max(1, (long)Math.Ceiling((ex.ResetsAt - time.GetUtcNow()).TotalSeconds));
                context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                await Results.Problem(
                    detail: ex.Message,
                    statusCode: StatusCodes.Status429TooManyRequests,
                    title: "Budget exceeded",
                    type: "https://tools.ietf.org/html/rfc6585#section-4",
                    extensions: new Dictionary<string, object?>
                    {
                        ["appId"] = ex.AppId,
                        ["limitUsd"] = ex.LimitUsd, // a JSON number, exact (decimal)
                        ["resetsAt"] = ex.ResetsAt.ToString("O", CultureInfo.InvariantCulture),
                    }).ExecuteAsync(context).ConfigureAwait(false);
            }
        });
    }
}
