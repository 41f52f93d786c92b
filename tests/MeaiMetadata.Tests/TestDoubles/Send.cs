using Microsoft.Extensions.AI;

namespace MeaiMetadata.Tests.TestDoubles;

/// <summary>Sends one request through either path of a client.</summary>
public static class Send
{
    public static async Task<string> RequestAsync(IChatClient client, ChatOptions? options, bool streaming, CancellationToken cancellationToken = default)
    {
        List<ChatMessage> messages = [new(ChatRole.User, "hi")];
        if (!streaming)
        {
            return (await client.GetResponseAsync(messages, options, cancellationToken)).Text;
        }

        var text = new System.Text.StringBuilder();
        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync(messages, options, cancellationToken))
        {
            text.Append(update.Text);
        }

        return text.ToString();
    }
}
