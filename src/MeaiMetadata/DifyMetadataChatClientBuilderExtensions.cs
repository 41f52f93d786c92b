using MeaiMetadata;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.AI;

/// <summary>Provides extensions for adding a <see cref="DifyMetadataChatClient"/> to a chat client pipeline.</summary>
public static class DifyMetadataChatClientBuilderExtensions
{
    /// <summary>Adds a layer that tags every request with the calling app's id as OpenAI request metadata.</summary>
    /// <param name="builder">The <see cref="ChatClientBuilder"/>.</param>
    /// <param name="configure">An optional callback that configures the <see cref="DifyMetadataOptions"/>.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <remarks>
    /// <para>
    /// The logger comes from the <see cref="ILoggerFactory"/> in the pipeline's services, when there is one.
    /// When the options say <see cref="DifyMetadataOptions.Enabled"/> is <see langword="false"/>, no layer is added.
    /// </para>
    /// <para>
    /// Place it inside <c>UseOpenTelemetry()</c> and <c>UseLogging()</c> (call it before them on the builder) so that they
    /// see the tagged options, and after <c>UseFunctionInvocation()</c> or before it as you like: each request of a tool
    /// loop is tagged once either way.
    /// </para>
    /// </remarks>
    public static ChatClientBuilder UseDifyMetadata(this ChatClientBuilder builder, Action<DifyMetadataOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);

        return builder.Use((innerClient, services) =>
        {
            var options = new DifyMetadataOptions();
            configure?.Invoke(options);
            if (!options.Enabled)
            {
                return innerClient;
            }

            ILogger? logger = services.GetService<ILoggerFactory>()?.CreateLogger<DifyMetadataChatClient>();
            return new DifyMetadataChatClient(innerClient, options, logger);
        });
    }
}
