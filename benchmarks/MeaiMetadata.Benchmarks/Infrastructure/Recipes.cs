using Microsoft.Extensions.AI;
using OpenAI.Chat;
using OpenAI.Responses;

#pragma warning disable OPENAI001 // The Responses API types are marked experimental by the OpenAI SDK.

namespace MeaiMetadata.Benchmarks.Infrastructure;

/// <summary>
/// The hand-written way to tag requests without this library: a <c>ConfigureOptions</c> layer whose raw-options factory
/// builds the OpenAI options with <c>store: true</c> and the two metadata pairs. It is what the middleware is measured against.
/// </summary>
public static class Recipes
{
    /// <summary>The app id every fixed-id row uses (the recipe's constant and the session's id).</summary>
    public const string AppId = "app";

    /// <summary>Chat Completions: exactly the recipe of issue 3.</summary>
    public static IChatClient ChatCompletions(IChatClient inner) =>
        new ChatClientBuilder(inner)
            .ConfigureOptions(o => o.RawRepresentationFactory = _ =>
            {
                var x = new ChatCompletionOptions { StoredOutputEnabled = true };
                x.Metadata["dify_app_id"] = "app";
                x.Metadata["dify_source"] = "dify";
                return x;
            })
            .Build();

    /// <summary>Responses: the same recipe with <see cref="CreateResponseOptions"/>.</summary>
    public static IChatClient Responses(IChatClient inner) =>
        new ChatClientBuilder(inner)
            .ConfigureOptions(o => o.RawRepresentationFactory = _ =>
            {
                var x = new CreateResponseOptions { StoredOutputEnabled = true };
                x.Metadata["dify_app_id"] = "app";
                x.Metadata["dify_source"] = "dify";
                return x;
            })
            .Build();

    /// <summary>Chat Completions with a per-request app id read from <paramref name="appId"/> (a request for which it returns
    /// <see langword="null"/> is not tagged). The id has to be captured, so each request allocates a closure and a delegate.</summary>
    public static IChatClient ChatCompletionsPerRequestId(IChatClient inner, Func<string?> appId) =>
        new ChatClientBuilder(inner)
            .ConfigureOptions(o =>
            {
                string? id = appId();
                if (id is null)
                {
                    return;
                }

                o.RawRepresentationFactory = _ =>
                {
                    var x = new ChatCompletionOptions { StoredOutputEnabled = true };
                    x.Metadata["dify_app_id"] = id;
                    x.Metadata["dify_source"] = "dify";
                    return x;
                };
            })
            .Build();

    /// <summary>Chat Completions, keeping what the caller's own factory returns: calls it, then adds <c>store</c> and the
    /// two pairs (without OpenAI's 16-pair limit: 15+ caller pairs give an invalid request, which the middleware avoids).</summary>
    public static IChatClient ChatCompletionsWrappingCallerFactory(IChatClient inner) =>
        new ChatClientBuilder(inner)
            .ConfigureOptions(o =>
            {
                Func<IChatClient, object?>? caller = o.RawRepresentationFactory;
                o.RawRepresentationFactory = c =>
                {
                    var x = caller?.Invoke(c) as ChatCompletionOptions ?? new ChatCompletionOptions();
                    x.StoredOutputEnabled ??= true;
                    x.Metadata["dify_app_id"] = "app";
                    x.Metadata["dify_source"] = "dify";
                    return x;
                };
            })
            .Build();
}
