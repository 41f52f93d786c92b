using System.Diagnostics.Metrics;
using MeaiMetadata;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

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
    /// When the options were registered with <c>services.AddDifyMetadata(...)</c>, the layer follows them live through
    /// <see cref="IOptionsMonitor{TOptions}"/> (<paramref name="configure"/> is applied on top of each value). Otherwise the
    /// options are fixed when the pipeline is built, and when they say <see cref="DifyMetadataOptions.Enabled"/> is
    /// <see langword="false"/>, no layer is added at all.
    /// </para>
    /// <para>
    /// The logger and the meter come from the <see cref="ILoggerFactory"/> and <see cref="IMeterFactory"/> in the pipeline's
    /// services, when there are any.
    /// </para>
    /// <para>
    /// Order: place it after <c>UseFunctionInvocation()</c> (each request of a tool loop is tagged once either way). The tag
    /// <c>dify.app_id</c> lands on the span of <c>UseOpenTelemetry()</c> wherever that layer sits: set by this layer when
    /// the OpenTelemetry layer is outside it, set while the request is built when it is inside.
    /// </para>
    /// </remarks>
#pragma warning disable RS0027 // The longer overload takes the options name in second place: no call can be ambiguous.
    public static ChatClientBuilder UseDifyMetadata(this ChatClientBuilder builder, Action<DifyMetadataOptions>? configure = null) =>
        builder.UseDifyMetadata(Options.Options.DefaultName, configure);
#pragma warning restore RS0027

    /// <summary>Adds a layer that tags every request, following the named options registered with <c>AddDifyMetadata(name, ...)</c>.</summary>
    /// <param name="builder">The <see cref="ChatClientBuilder"/>.</param>
    /// <param name="optionsName">The options name (for example one per keyed client).</param>
    /// <param name="configure">An optional callback applied on top of the named options.</param>
    /// <returns>The <paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="optionsName"/> is <see langword="null"/>.</exception>
    public static ChatClientBuilder UseDifyMetadata(this ChatClientBuilder builder, string optionsName, Action<DifyMetadataOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(optionsName);

        return builder.Use((innerClient, services) =>
        {
            ILogger? logger = services.GetService<ILoggerFactory>()?.CreateLogger<DifyMetadataChatClient>();
            IMeterFactory? meterFactory = services.GetService<IMeterFactory>();

            if (services.GetService<DifyMetadataRegistrations>()?.Names.Contains(optionsName) == true)
            {
                IOptionsMonitor<DifyMetadataOptions> monitor = services.GetRequiredService<IOptionsMonitor<DifyMetadataOptions>>();
                return new DifyMetadataChatClient(innerClient, monitor, optionsName, configure, logger, meterFactory);
            }

            var options = new DifyMetadataOptions();
            configure?.Invoke(options);
            if (!options.Enabled)
            {
                return innerClient;
            }

            return new DifyMetadataChatClient(innerClient, options, logger, meterFactory);
        });
    }
}
